"""Sign-up through AccountsApp against the emulated pool: both password flows, both backends,
the response, the Cognito user, mounting, and a new user signing in to a protected route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, TokenVerifier
from cognito_asgi.accounts import AccountsApp, SQLUserStore, UserRecord, record_loader
from tests.accounts.conftest import AppFactory, client_of, cognito_client
from tests.conftest import CognitoPool

PASSWORD = "Correct-Horse-7-Battery"
FLOWS = ["challenge", "set_password"]


def cognito_user(cognito: CognitoPool, username: str) -> dict[str, Any]:
    user: dict[str, Any] = cognito.client.admin_get_user(
        UserPoolId=cognito.user_pool_id, Username=username
    )
    return user


def attributes(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user["UserAttributes"]}


@pytest.mark.parametrize("flow", FLOWS)
async def test_sign_up_creates_the_record_and_a_confirmed_cognito_user(
    cognito: CognitoPool, database_url: str, make_app: AppFactory, flow: str
) -> None:
    """POST /accounts answers 201 with Location and the record, the record is active in the
    database, and Cognito holds a CONFIRMED user named by the record id with the email verified."""
    store = SQLUserStore(database_url)
    accounts = make_app(store=store, accounts_password_flow=flow)
    app = Starlette(routes=[accounts.mount("/accounts")])
    before = datetime.now(UTC)
    async with client_of(app) as client:
        response = await client.post(
            "/accounts",
            json={"name": "Ada Lovelace", "email": "Ada@Example.com", "password": PASSWORD},
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "email", "created_at"}
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "Ada@Example.com"
    assert response.headers["location"] == "/accounts/me"
    assert response.headers["cache-control"] == "no-store"
    assert PASSWORD not in response.text
    created_at = datetime.fromisoformat(body["created_at"])
    assert created_at.tzinfo is not None
    assert before - timedelta(seconds=1) <= created_at <= datetime.now(UTC)

    record = await store.get(body["id"])
    assert record == UserRecord(
        id=body["id"],
        name="Ada Lovelace",
        email="Ada@Example.com",
        created_at=created_at,
        state="active",
    )
    user = cognito_user(cognito, body["id"])
    assert user["UserStatus"] == "CONFIRMED"
    assert (
        attributes(user).items()
        >= {
            "email": "Ada@Example.com",
            "email_verified": "true",
            "name": "Ada Lovelace",
        }.items()
    )


@pytest.mark.parametrize(
    ("mount", "path"),
    [
        pytest.param("helper", "/accounts", id="mount-helper-bare-path"),
        pytest.param("helper", "/accounts/", id="mount-helper-trailing-slash"),
        pytest.param("plain", "/accounts/", id="plain-mount-trailing-slash"),
        pytest.param("root", "/", id="app-at-root"),
        pytest.param("root", "", id="app-at-root-empty-path"),
    ],
)
async def test_sign_up_is_answered_directly_wherever_the_app_is_routed(
    make_app: AppFactory, mount: str, path: str
) -> None:
    """The sign-up answers 201 itself (never a redirect) at the bare mount path through
    `AccountsApp.mount`, with a trailing slash through a plain Mount, and at the app's root."""
    accounts = make_app()
    app: Any
    if mount == "helper":
        app = Starlette(routes=[accounts.mount("/accounts")])
    elif mount == "plain":
        app = Starlette(routes=[Mount("/accounts", app=accounts)])
    else:
        app = accounts
    body = {"name": "Grace", "email": f"grace{len(path)}@example.com", "password": PASSWORD}
    async with client_of(app) as client:
        response = await client.post(path or "/", json=body)
    assert response.status_code == 201, response.text
    expected_location = "/me" if mount == "root" else "/accounts/me"
    assert response.headers["location"] == expected_location


async def test_a_plain_starlette_mount_redirects_the_bare_path(make_app: AppFactory) -> None:
    """Starlette's own Mount answers `POST /accounts` with a redirect before the app runs;
    this is why `AccountsApp.mount` exists (the README says to use it)."""
    app = Starlette(routes=[Mount("/accounts", app=make_app())])
    async with client_of(app) as client:
        response = await client.post("/accounts", json={})
    assert response.status_code == 307


async def test_form_encoded_sign_up(cognito: CognitoPool, make_app: AppFactory) -> None:
    """A plain HTML form (application/x-www-form-urlencoded, UTF-8) signs up like JSON does."""
    app = Starlette(routes=[make_app().mount("/accounts")])
    async with client_of(app) as client:
        response = await client.post(
            "/accounts",
            data={"name": "Zoë Ünal", "email": "zoe@example.com", "password": PASSWORD},
        )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Zoë Ünal"
    assert attributes(cognito_user(cognito, response.json()["id"]))["name"] == "Zoë Ünal"


async def test_tokens_are_returned_in_the_challenge_flow_when_configured(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """With accounts_return_tokens the challenge flow's tokens come back, and they verify
    as the new user's; the set_password flow has none to return."""
    settings = CognitoSettings.from_env(cognito.environ)
    challenge = make_app(accounts_return_tokens=True)
    set_password = make_app(accounts_return_tokens=True, accounts_password_flow="set_password")
    async with client_of(challenge) as client:
        response = await client.post(
            "/", json={"name": "T", "email": "t1@example.com", "password": PASSWORD}
        )
    assert response.status_code == 201, response.text
    tokens = response.json()["tokens"]
    assert set(tokens) >= {"access_token", "id_token", "refresh_token", "expires_in"}
    claims = await TokenVerifier(settings).verify(tokens["access_token"])
    assert claims["username"] == response.json()["id"]

    async with client_of(set_password) as client:
        response = await client.post(
            "/", json={"name": "T", "email": "t2@example.com", "password": PASSWORD}
        )
    assert response.status_code == 201
    assert "tokens" not in response.json()


async def test_tokens_are_not_returned_by_default(make_app: AppFactory) -> None:
    """Without accounts_return_tokens the response carries the record only."""
    async with client_of(make_app()) as client:
        response = await client.post(
            "/", json={"name": "T", "email": "t3@example.com", "password": PASSWORD}
        )
    assert response.status_code == 201
    assert set(response.json()) == {"id", "name", "email", "created_at"}


@pytest.mark.parametrize("flow", FLOWS)
async def test_new_user_signs_in_and_the_middleware_loads_the_record(
    cognito: CognitoPool, database_url: str, make_app: AppFactory, flow: str
) -> None:
    """End to end: sign up through POST /accounts, sign in with USER_PASSWORD_AUTH using the
    returned id, and call a protected route behind CognitoAuthMiddleware with the access token:
    `request.user.username` is the record id and the record is attached."""
    store = SQLUserStore(database_url)
    settings = CognitoSettings.from_env({**cognito.environ, "COGNITO_ACCOUNTS_PASSWORD_FLOW": flow})
    accounts = make_app(store=store, accounts_password_flow=flow)

    async def whoami(request: Request) -> JSONResponse:
        record = request.user.record
        assert isinstance(record, UserRecord)
        return JSONResponse({"username": request.user.username, "record": record.to_json()})

    app = CognitoAuthMiddleware(
        Starlette(routes=[Route("/whoami", whoami), accounts.mount("/accounts")]),
        settings=settings,
        public_paths=["/accounts"],
        user_loader=record_loader(store),
    )
    async with client_of(app) as client:
        created = await client.post(
            "/accounts",
            json={"name": "Lin", "email": f"lin-{flow}@example.com", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        record = created.json()
        tokens = cognito.sign_in(record["id"], PASSWORD)
        response = await client.get(
            "/whoami", headers={"Authorization": f"Bearer {tokens['AccessToken']}"}
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"username": record["id"], "record": record}
        anonymous = await client.get("/whoami")
        assert anonymous.status_code == 401


async def test_secret_hash_is_sent_for_a_client_with_a_secret(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """With a client secret, every auth call carries SECRET_HASH = base64(HMAC-SHA256(secret,
    username + client id)), and the user then signs in through a client the emulator checks."""
    client = cognito.client.create_user_pool_client(
        UserPoolId=cognito.user_pool_id,
        ClientName="server",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_PASSWORD_AUTH"],
    )["UserPoolClient"]
    secret = client["ClientSecret"]
    boto = cognito_client(cognito.endpoint)
    accounts = make_app(client_ids=(client["ClientId"],), client_secret=secret, cognito_client=boto)
    sent: list[dict[str, str]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        responses = params.get("AuthParameters") or params.get("ChallengeResponses") or {}
        sent.append(
            {"USERNAME": responses["USERNAME"], "SECRET_HASH": responses.get("SECRET_HASH", "")}
        )

    boto.meta.events.register("before-parameter-build.cognito-idp.AdminInitiateAuth", capture)
    boto.meta.events.register(
        "before-parameter-build.cognito-idp.AdminRespondToAuthChallenge", capture
    )
    async with client_of(accounts) as http:
        response = await http.post(
            "/", json={"name": "S", "email": "s@example.com", "password": PASSWORD}
        )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    digest = hmac.new(secret.encode(), (user_id + client["ClientId"]).encode(), hashlib.sha256)
    expected = base64.b64encode(digest.digest()).decode()
    assert sent == [{"USERNAME": user_id, "SECRET_HASH": expected}] * 2
    signed_in = cognito.client.initiate_auth(
        ClientId=client["ClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user_id, "PASSWORD": PASSWORD, "SECRET_HASH": expected},
    )
    assert "AccessToken" in signed_in["AuthenticationResult"]


async def test_settings_default_from_the_environment(
    cognito: CognitoPool, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """AccountsApp() without arguments reads COGNITO_* (and its SQLite file) from the
    environment, builds its own boto3 client, and closes both in aclose()."""
    for name, value in cognito.environ.items():
        monkeypatch.setenv(name, value)
    database = tmp_path / "env.sqlite3"
    monkeypatch.setenv("COGNITO_ACCOUNTS_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    accounts = AccountsApp()
    try:
        async with client_of(accounts) as client:
            response = await client.post(
                "/", json={"name": "E", "email": "e@example.com", "password": PASSWORD}
            )
        assert response.status_code == 201, response.text
        assert database.exists()
        assert cognito_user(cognito, response.json()["id"])["UserStatus"] == "CONFIRMED"
        await accounts.aclose()
        # Closed, it opens again on the next request.
        async with client_of(accounts) as client:
            again = await client.post(
                "/", json={"name": "F", "email": "f@example.com", "password": PASSWORD}
            )
        assert again.status_code == 201, again.text
    finally:
        await accounts.aclose()
    assert json.loads(response.text)["email"] == "e@example.com"
