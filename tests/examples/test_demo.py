"""`cognito-asgi demo`, run as a real process: its emulator, its page routes and its modes."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from cognito_asgi import CognitoSettings
from cognito_asgi._cli import main
from cognito_asgi.testing import LocalIssuer
from tests.conftest import CognitoPool
from tests.examples.conftest import PASSWORD, bearer
from tests.examples.demo_process import REPO, DemoProcess, run_demo

STATIC_SITE = REPO / "examples" / "static_site"
TARGET = "AWSCognitoIdentityProviderService."


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """One demo process with its embedded emulator, shared by the tests of this module."""
    # Every test signs up from 127.0.0.1: lift the default limit of 10 sign-ups a minute.
    limit = {"COGNITO_ACCOUNTS_RATE_LIMIT": "200/minute"}
    with run_demo(tmp_path_factory.mktemp("demo"), extra_env=limit) as process:
        yield process


def emulator_client(demo: DemoProcess) -> Any:
    """An admin client of the demo's own emulator."""
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=demo.environ["COGNITO_ENDPOINT_URL"],
    )


def sign_up(demo: DemoProcess, email: str, name: str = "Ada Lovelace") -> dict[str, Any]:
    response = httpx.post(
        demo.url + "/accounts", json={"name": name, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    result: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return result


def add_user(client: Any, pool_id: str, username: str, email: str, *, verified: bool) -> None:
    client.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        MessageAction="SUPPRESS",
        TemporaryPassword=PASSWORD,
        UserAttributes=[
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true" if verified else "false"},
        ],
    )
    client.admin_set_user_password(
        UserPoolId=pool_id, Username=username, Password=PASSWORD, Permanent=True
    )


def test_banner_prints_the_url_and_a_working_environment(demo: DemoProcess) -> None:
    """The demo prints its URL on 127.0.0.1 and the COGNITO_* variables it runs with, and those
    variables configure cognito-asgi for its pool, with records in a SQLite file in .demo/."""
    assert demo.url.startswith("http://127.0.0.1:")
    env = demo.environ
    assert set(env) == {
        "COGNITO_USER_POOL_ID",
        "COGNITO_CLIENT_ID",
        "COGNITO_ENDPOINT_URL",
        "COGNITO_ACCOUNTS_DATABASE_URL",
        "COGNITO_ACCOUNTS_RATE_LIMIT",  # given to the demo by the fixture
    }
    settings = CognitoSettings.from_env(env)
    assert settings.endpoint_url is not None
    assert settings.endpoint_url.startswith("http://127.0.0.1:")
    assert "/.demo/accounts-emulator.sqlite3" in settings.accounts_database_url


def test_sign_in_with_the_email_through_the_emulator(demo: DemoProcess) -> None:
    """After sign-up, USER_PASSWORD_AUTH with the email (in any case) signs in, and the tokens
    carry the real username, our record id, so the API finds the record."""
    record = sign_up(demo, "ada@example.com")
    client = emulator_client(demo)
    for typed in ("ada@example.com", "ADA@Example.com"):
        result = client.initiate_auth(
            ClientId=demo.environ["COGNITO_CLIENT_ID"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": typed, "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        assert claims_of(result["AccessToken"])["username"] == record["id"]
        assert claims_of(result["IdToken"])["cognito:username"] == record["id"]
        me = httpx.get(demo.url + "/accounts/me", headers=bearer(result["AccessToken"]))
        assert me.json() == record
    refreshed = client.initiate_auth(
        ClientId=demo.environ["COGNITO_CLIENT_ID"],
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]},
    )["AuthenticationResult"]
    assert claims_of(refreshed["AccessToken"])["username"] == record["id"]
    hello = httpx.get(demo.url + "/api/hello", headers=bearer(refreshed["AccessToken"]))
    assert hello.json() == {"message": "Hello, Ada Lovelace!"}
    assert PASSWORD not in demo.output
    assert result["AccessToken"] not in demo.output


def test_admin_sign_in_resolves_the_email_too(demo: DemoProcess) -> None:
    """AdminInitiateAuth with the email finds the user as InitiateAuth does."""
    record = sign_up(demo, "grace@example.com", name="Grace Hopper")
    result = emulator_client(demo).admin_initiate_auth(
        UserPoolId=demo.environ["COGNITO_USER_POOL_ID"],
        ClientId=demo.environ["COGNITO_CLIENT_ID"],
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "grace@example.com", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    assert claims_of(result["AccessToken"])["username"] == record["id"]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("unverified", id="unverified-email"),
        pytest.param("shared", id="email-of-two-users"),
        pytest.param("unknown", id="nobody-has-the-email"),
    ],
)
def test_an_email_that_is_not_one_users_verified_alias_does_not_sign_in(
    demo: DemoProcess, case: str
) -> None:
    """Only a verified email held by exactly one user is an alias: an unverified email, one
    shared by two users or an unknown one fails sign-in, while the username still works."""
    client = emulator_client(demo)
    pool_id = demo.environ["COGNITO_USER_POOL_ID"]
    email = f"{case}@example.org"
    if case == "unverified":
        add_user(client, pool_id, f"{case}-1", email, verified=False)
    elif case == "shared":
        add_user(client, pool_id, f"{case}-1", email, verified=True)
        add_user(client, pool_id, f"{case}-2", email, verified=True)
    else:
        add_user(client, pool_id, f"{case}-1", "someone-else@example.org", verified=True)
    with pytest.raises(ClientError) as failed:
        client.initiate_auth(
            ClientId=demo.environ["COGNITO_CLIENT_ID"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
        )
    assert failed.value.response["Error"]["Code"] in (
        "UserNotFoundException",
        "NotAuthorizedException",
    )
    by_username = client.initiate_auth(
        ClientId=demo.environ["COGNITO_CLIENT_ID"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": f"{case}-1", "PASSWORD": PASSWORD},
    )
    assert "AuthenticationResult" in by_username


def test_page_config_tells_the_page_how_to_sign_in(demo: DemoProcess) -> None:
    """/config.json names the pool and client, the same-origin emulator route and the
    USER_PASSWORD_AUTH flow, uncached."""
    response = httpx.get(demo.url + "/config.json")
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "userPoolId": demo.environ["COGNITO_USER_POOL_ID"],
        "clientId": demo.environ["COGNITO_CLIENT_ID"],
        "region": "us-east-1",
        "endpoint": "cognito",
        "authFlow": "USER_PASSWORD_AUTH",
        "emulator": True,
        "revokeOnSignOut": False,
    }


@pytest.mark.parametrize(
    ("path", "media_type", "source"),
    [
        pytest.param("/", "text/html", STATIC_SITE / "index.html", id="page"),
        pytest.param("/app.js", "text/javascript", STATIC_SITE / "app.js", id="script"),
        pytest.param("/style.css", "text/css", STATIC_SITE / "style.css", id="style"),
        pytest.param(
            "/vendor/amazon-cognito-identity.min.js",
            "text/javascript",
            STATIC_SITE
            / "node_modules/amazon-cognito-identity-js/dist/amazon-cognito-identity.min.js",
            id="sdk",
        ),
    ],
)
def test_page_files_are_served_with_a_strict_policy(
    demo: DemoProcess, path: str, media_type: str, source: Path
) -> None:
    """The page's files are served as they are, with a Content-Security-Policy that allows
    only the page's own origin."""
    response = httpx.get(demo.url + path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == source.read_bytes()
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/package.json",
        "/package-lock.json",
        "/node_modules/amazon-cognito-identity-js/package.json",
        "/vendor/../package.json",
        "/index.html/..%2fpackage.json",
    ],
)
def test_nothing_else_of_the_site_folder_is_served(demo: DemoProcess, path: str) -> None:
    """Only the page's own files are public: other files of its folder are not served."""
    response = httpx.get(demo.url + path)
    assert response.status_code in (401, 404)
    assert b"amazon-cognito-identity-js" not in response.content


def test_the_api_refuses_a_request_without_a_token(demo: DemoProcess) -> None:
    """/api/hello and /accounts/me answer 401 with the RFC 6750 challenge without a token."""
    for path in ("/api/hello", "/accounts/me"):
        response = httpx.get(demo.url + path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_cognito_route_forwards_sign_in_to_the_emulator(demo: DemoProcess) -> None:
    """POST /cognito with InitiateAuth reaches the emulator and returns its answer (tokens for
    a good password, Cognito's error type for a bad one), never cached."""
    sign_up(demo, "kay@example.com", name="Kay")

    def initiate(password: str) -> httpx.Response:
        body = {
            "ClientId": demo.environ["COGNITO_CLIENT_ID"],
            "AuthFlow": "USER_PASSWORD_AUTH",
            "AuthParameters": {"USERNAME": "kay@example.com", "PASSWORD": password},
        }
        return httpx.post(
            demo.url + "/cognito",
            content=json.dumps(body),
            headers={
                "content-type": "application/x-amz-json-1.1",
                "x-amz-target": TARGET + "InitiateAuth",
            },
        )

    good = initiate(PASSWORD)
    assert good.status_code == 200
    assert good.headers["cache-control"] == "no-store"
    assert "AccessToken" in good.json()["AuthenticationResult"]
    bad = initiate("Wrong-horse-9")
    assert bad.status_code == 400
    assert bad.headers["x-amzn-errortype"].startswith("NotAuthorizedException")


@pytest.mark.parametrize(
    ("method", "target", "body", "status"),
    [
        pytest.param("POST", "AdminCreateUser", b"{}", 400, id="admin-operation"),
        pytest.param("POST", "ListUsers", b"{}", 400, id="listing-users"),
        pytest.param("POST", "", b"{}", 400, id="no-target"),
        pytest.param("POST", "InitiateAuth", b"x" * (65 * 1024), 413, id="oversized-body"),
        pytest.param("GET", "InitiateAuth", b"", 405, id="not-post"),
    ],
)
def test_cognito_route_forwards_nothing_else(
    demo: DemoProcess, method: str, target: str, body: bytes, status: int
) -> None:
    """Administrative and unknown operations, oversized bodies and other methods are refused
    at /cognito without reaching the emulator."""
    client = emulator_client(demo)
    pool_id = demo.environ["COGNITO_USER_POOL_ID"]
    before = len(client.list_users(UserPoolId=pool_id)["Users"])
    if target == "AdminCreateUser":
        body = json.dumps(
            {"UserPoolId": pool_id, "Username": "intruder", "MessageAction": "SUPPRESS"}
        ).encode()
    headers = {"content-type": "application/x-amz-json-1.1"}
    if target:
        headers["x-amz-target"] = TARGET + target
    response = httpx.request(method, demo.url + "/cognito", content=body, headers=headers)
    assert response.status_code == status
    if status == 400:
        assert response.json()["__type"] == "InvalidParameterException"
    assert len(client.list_users(UserPoolId=pool_id)["Users"]) == before


def test_ctrl_c_stops_cleanly_and_the_next_run_starts_afresh(tmp_path: Path) -> None:
    """Ctrl-C stops the demo with status 0 and no traceback; a new run in the same folder has a
    new emulator and an empty record file, so the same email can sign up again."""
    for _ in range(2):
        with run_demo(tmp_path) as demo:
            sign_up(demo, "repeat@example.com")
            status = demo.stop()
        assert status == 0, demo.output
        assert "cognito-asgi demo: stopped" in demo.output
        assert "Traceback" not in demo.output
        assert (tmp_path / ".demo" / "accounts-emulator.sqlite3").is_file()


def test_a_configured_pool_is_used_instead_of_the_embedded_emulator(
    cognito: CognitoPool, tmp_path: Path
) -> None:
    """With COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID set (here an emulator at
    COGNITO_ENDPOINT_URL), the demo starts no emulator of its own and creates users in that
    pool, keeping records in .demo/accounts.sqlite3."""
    extra = {
        **cognito.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    with run_demo(tmp_path, extra_env=extra) as demo:
        assert f"Cognito:  emulator at {cognito.endpoint}" in demo.output
        assert demo.environ["COGNITO_USER_POOL_ID"] == cognito.user_pool_id
        config = httpx.get(demo.url + "/config.json").json()
        assert (config["clientId"], config["emulator"]) == (cognito.client_id, True)
        record = sign_up(demo, "ext@example.com")
        user = cognito.client.admin_get_user(UserPoolId=cognito.user_pool_id, Username=record["id"])
        assert user["UserStatus"] == "CONFIRMED"
    assert (tmp_path / ".demo" / "accounts.sqlite3").is_file()


def test_against_aws_the_page_uses_srp_and_cognitos_own_endpoint(
    issuer: LocalIssuer, tmp_path: Path
) -> None:
    """With a pool configured and no COGNITO_ENDPOINT_URL the demo runs against AWS: the page
    is told to use SRP at Cognito's regional endpoint, which the policy allows, there is no
    /cognito route, and tokens of the pool open the API (keys preloaded, no network)."""
    extra = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_JSON": issuer.jwks_json(),
    }
    with run_demo(tmp_path, extra_env=extra) as demo:
        assert "Cognito:  AWS, region us-east-1" in demo.output
        assert "COGNITO_JWKS_JSON" not in demo.output  # key material is not printed
        config = httpx.get(demo.url + "/config.json").json()
        assert config["authFlow"] == "USER_SRP_AUTH"
        assert config["endpoint"] is None
        assert config["revokeOnSignOut"] is True
        policy = httpx.get(demo.url + "/").headers["content-security-policy"]
        assert "connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com;" in policy
        forwarded = httpx.post(
            demo.url + "/cognito", headers={"x-amz-target": TARGET + "InitiateAuth"}
        )
        assert forwarded.status_code == 401
        hello = httpx.get(demo.url + "/api/hello", headers=bearer(issuer.access_token("alice")))
        assert hello.json() == {"message": "Hello, alice!"}


def test_hosted_ui_settings_mount_the_sign_in_routes(issuer: LocalIssuer, tmp_path: Path) -> None:
    """With COGNITO_DOMAIN, COGNITO_REDIRECT_URI and COGNITO_SESSION_SECRET set, the demo mounts
    the Hosted UI at /auth, tells the page in /config.json, allows the sign-out redirect in
    form-action, and never prints the session secret."""
    secret = "a-session-secret-that-must-stay-out-of-the-output"
    extra = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_JSON": issuer.jwks_json(),
        "COGNITO_DOMAIN": "https://demo.auth.us-east-1.amazoncognito.com",
        "COGNITO_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "COGNITO_SESSION_SECRET": secret,
    }
    with run_demo(tmp_path, extra_env=extra) as demo:
        assert "Hosted UI: https://demo.auth.us-east-1.amazoncognito.com" in demo.output
        assert secret not in demo.output
        config = httpx.get(demo.url + "/config.json").json()
        assert config["hostedUi"] == {"login": "/auth/login", "logout": "/auth/logout"}
        page = httpx.get(demo.url + "/")
        assert (
            "form-action 'self' https://demo.auth.us-east-1.amazoncognito.com;"
            in (page.headers["content-security-policy"])
        )
        assert page.headers["referrer-policy"] == "same-origin"
        login = httpx.get(demo.url + "/auth/login")
        assert login.status_code == 302
        assert login.headers["location"].startswith(
            "https://demo.auth.us-east-1.amazoncognito.com/oauth2/authorize?"
        )


def test_the_banner_hides_the_database_password(issuer: LocalIssuer, tmp_path: Path) -> None:
    """A database URL with a password is printed with the password masked."""
    extra = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_JSON": issuer.jwks_json(),
        "COGNITO_ACCOUNTS_DATABASE_URL": "postgresql+asyncpg://app:hunter2pass@127.0.0.1:9/app",
    }
    with run_demo(tmp_path, extra_env=extra) as demo:
        assert demo.environ["COGNITO_ACCOUNTS_DATABASE_URL"] == (
            "postgresql+asyncpg://app:***@127.0.0.1:9/app"
        )
        assert "hunter2pass" not in demo.output


@pytest.mark.parametrize(
    ("environ", "arguments", "message"),
    [
        pytest.param(
            {"COGNITO_USER_POOL_ID": "us-east-1_Abc123"},
            [],
            "COGNITO_CLIENT_ID: is required",
            id="pool-without-client",
        ),
        pytest.param(
            {"COGNITO_CLIENT_SECRET": "s3cr3t-value"},
            [],
            "COGNITO_CLIENT_SECRET",
            id="client-with-secret",
        ),
        pytest.param(
            {"COGNITO_DOMAIN": "https://demo.auth.us-east-1.amazoncognito.com"},
            [],
            "COGNITO_REDIRECT_URI: is required",
            id="hosted-ui-without-redirect-uri",
        ),
        pytest.param(
            {
                "COGNITO_DOMAIN": "https://demo.auth.us-east-1.amazoncognito.com",
                "COGNITO_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
                "COGNITO_SESSION_SECRET": "s3cr3t-value",
            },
            [],
            "COGNITO_SESSION_SECRET: must be at least 32 characters",
            id="hosted-ui-short-session-secret",
        ),
        pytest.param(
            {
                "COGNITO_DOMAIN": "https://demo.auth.us-east-1.amazoncognito.com",
                "COGNITO_REDIRECT_URI": "http://127.0.0.1:8000/sso/callback",
                "COGNITO_SESSION_SECRET": "s3cr3t-value" * 3,
            },
            [],
            "COGNITO_REDIRECT_URI: the demo serves the Hosted UI routes at /auth",
            id="hosted-ui-not-at-auth",
        ),
        pytest.param(
            {
                "COGNITO_USER_POOL_ID": "",
                "COGNITO_DOMAIN": "https://demo.auth.us-east-1.amazoncognito.com",
                "COGNITO_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
                "COGNITO_SESSION_SECRET": "s3cr3t-value" * 3,
            },
            [],
            "COGNITO_DOMAIN: the embedded emulator has no Hosted UI",
            id="hosted-ui-with-the-embedded-emulator",
        ),
        pytest.param({}, ["--static-dir", "{tmp}"], "--static-dir", id="no-static-site"),
        pytest.param({}, ["--port", "70000"], "--port", id="bad-port"),
        pytest.param({}, ["--port", "{busy}"], "cannot listen on 127.0.0.1", id="port-in-use"),
    ],
)
def test_start_up_refusals_name_the_problem(
    issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    environ: dict[str, str],
    arguments: list[str],
    message: str,
) -> None:
    """A configuration the demo cannot run with stops it before it serves, with a non-zero
    status and a message naming the variable or option, never a secret or a traceback."""
    monkeypatch.chdir(tmp_path)
    base = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_JSON": issuer.jwks_json(),
    }
    if "COGNITO_USER_POOL_ID" in environ:
        base = {}
    for name, value in {**base, **environ}.items():
        monkeypatch.setenv(name, value)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        argv = [a.replace("{tmp}", str(tmp_path)).replace("{busy}", port) for a in arguments]
        if "--static-dir" not in argv:
            argv += ["--static-dir", str(STATIC_SITE)]
        status = main(["demo", *argv])
    captured = capsys.readouterr()
    assert status != 0
    assert message in captured.err
    assert "s3cr3t-value" not in captured.err + captured.out
    assert "Traceback" not in captured.err
