"""End to end: real tokens from the Cognito emulator (moto on 127.0.0.1, driven through boto3).

The middleware is configured only through `COGNITO_*` variables pointing at the emulator, and
fetches the pool's key set from it over HTTP, as it would from AWS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_asgi import CognitoAuthMiddleware, CognitoUser
from cognito_asgi._cli import main as cli
from tests.conftest import CognitoPool, create_pool

PASSWORD = "Correct-Horse-9-battery"


@dataclass(frozen=True)
class SignedUp:
    username: str
    sub: str
    email: str


@pytest.fixture
def alice(cognito: CognitoPool) -> SignedUp:
    """A user created by an administrator, with a permanent password, in the group `admins`."""
    cognito.create_user("alice", PASSWORD, email="alice@example.org")
    cognito.client.create_group(GroupName="admins", UserPoolId=cognito.user_pool_id)
    cognito.client.admin_add_user_to_group(
        UserPoolId=cognito.user_pool_id, Username="alice", GroupName="admins"
    )
    user = cognito.client.admin_get_user(UserPoolId=cognito.user_pool_id, Username="alice")
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return SignedUp("alice", sub, "alice@example.org")


@pytest.fixture
def environ(cognito: CognitoPool, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points the library at the emulated pool through its environment variables only."""
    for name, value in cognito.environ.items():
        monkeypatch.setenv(name, value)
    return cognito.environ


def admin_user_password(cognito: CognitoPool, user: SignedUp, client_id: str) -> Any:
    response = cognito.client.admin_initiate_auth(
        UserPoolId=cognito.user_pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.username, "PASSWORD": PASSWORD},
    )
    return response["AuthenticationResult"]


def user_password(cognito: CognitoPool, user: SignedUp, client_id: str) -> Any:
    return cognito.sign_in(user.username, PASSWORD, client_id=client_id)


def refresh(cognito: CognitoPool, user: SignedUp, client_id: str) -> Any:
    first = user_password(cognito, user, client_id)
    response = cognito.client.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )
    result = response["AuthenticationResult"]
    assert result["AccessToken"] != first["AccessToken"]
    return result


Flow = Callable[[CognitoPool, SignedUp, str], Any]


async def sign_in(
    cognito: CognitoPool, user: SignedUp, flow: Flow = user_password, **kw: Any
) -> Any:
    """Runs a boto3 sign-in flow in a worker thread; returns the AuthenticationResult."""
    client_id = kw.get("client_id", cognito.client_id)
    return await anyio.to_thread.run_sync(flow, cognito, user, client_id)


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    assert isinstance(user, CognitoUser)
    return JSONResponse(
        {
            "username": user.username,
            "sub": user.sub,
            "groups": list(user.groups),
            "scopes": list(user.scopes),
            "token_use": user.token_use,
            "client_id": user.client_id,
            "email": user.email,
        }
    )


async def call(token: str) -> httpx.Response:
    """GET /me on a Starlette app behind `CognitoAuthMiddleware(app)`, with no settings given."""
    app = CognitoAuthMiddleware(Starlette(routes=[Route("/me", whoami)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/me", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    "flow",
    [
        pytest.param(admin_user_password, id="AdminInitiateAuth-ADMIN_USER_PASSWORD_AUTH"),
        pytest.param(user_password, id="InitiateAuth-USER_PASSWORD_AUTH"),
        pytest.param(refresh, id="InitiateAuth-REFRESH_TOKEN_AUTH"),
    ],
)
async def test_access_tokens_of_every_flow_are_accepted(
    cognito: CognitoPool, alice: SignedUp, environ: dict[str, str], flow: Flow
) -> None:
    """An access token from each sign-in flow is accepted, with username, sub and groups set."""
    tokens = await sign_in(cognito, alice, flow)
    response = await call(tokens["AccessToken"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "username": "alice",
        "sub": alice.sub,
        "groups": ["admins"],
        "scopes": ["aws.cognito.signin.user.admin"],
        "token_use": "access",
        "client_id": cognito.client_id,
        "email": None,
    }


def assert_refused(response: httpx.Response, *, code: str, claim_text: str) -> None:
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_token"'), challenge
    body = response.json()
    assert body["error"] == code
    assert claim_text in body["error_description"]


async def test_access_token_of_another_client_is_refused(
    cognito: CognitoPool,
    alice: SignedUp,
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A genuine access token issued to the pool's other app client gets 401 invalid_token."""
    tokens = await sign_in(cognito, alice, client_id=cognito.other_client_id)
    caplog.clear()  # from here on, only the library's own records
    caplog.set_level(logging.DEBUG)
    response = await call(tokens["AccessToken"])
    assert_refused(response, code="bad_claim", claim_text="another app client")
    assert tokens["AccessToken"] not in response.text
    assert tokens["AccessToken"] not in caplog.text


async def test_id_token_is_refused_where_access_tokens_are_required(
    cognito: CognitoPool, alice: SignedUp, environ: dict[str, str]
) -> None:
    """With the default COGNITO_TOKEN_USE=access, the same sign-in's id token gets 401."""
    tokens = await sign_in(cognito, alice)
    assert (await call(tokens["AccessToken"])).status_code == 200
    assert_refused(await call(tokens["IdToken"]), code="bad_claim", claim_text="id tokens")


async def test_token_of_another_pool_is_refused(
    cognito: CognitoPool, alice: SignedUp, environ: dict[str, str]
) -> None:
    """The emulator signs every pool with one key; a token of another pool fails on `iss`."""
    other = await anyio.to_thread.run_sync(create_pool, cognito.endpoint, "other-pool")
    await anyio.to_thread.run_sync(other.create_user, "alice", PASSWORD)
    tokens = await sign_in(other, alice)
    assert_refused(await call(tokens["AccessToken"]), code="bad_claim", claim_text="user pool")


def make_email_readable(cognito: CognitoPool) -> None:
    # moto writes into id tokens only the attributes in the client's ReadAttributes, while AWS
    # writes every readable attribute when the client lists none; list email explicitly.
    # UpdateUserPoolClient resets omitted settings on AWS, so the auth flows are passed again.
    current = cognito.client.describe_user_pool_client(
        UserPoolId=cognito.user_pool_id, ClientId=cognito.client_id
    )["UserPoolClient"]
    cognito.client.update_user_pool_client(
        UserPoolId=cognito.user_pool_id,
        ClientId=cognito.client_id,
        ExplicitAuthFlows=current["ExplicitAuthFlows"],
        ReadAttributes=["email", "email_verified"],
    )


async def test_id_tokens_are_accepted_with_token_use_id(
    cognito: CognitoPool, alice: SignedUp, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With COGNITO_TOKEN_USE=id the id token is accepted with the email; access tokens are not."""
    monkeypatch.setenv("COGNITO_TOKEN_USE", "id")
    await anyio.to_thread.run_sync(make_email_readable, cognito)
    tokens = await sign_in(cognito, alice)
    response = await call(tokens["IdToken"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "username": "alice",
        "sub": alice.sub,
        "groups": ["admins"],
        "scopes": [],
        "token_use": "id",
        "client_id": cognito.client_id,
        "email": "alice@example.org",
    }
    assert_refused(await call(tokens["AccessToken"]), code="bad_claim", claim_text="access tokens")


async def test_several_client_ids_accept_tokens_of_each(
    cognito: CognitoPool, alice: SignedUp, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """COGNITO_CLIENT_ID listing both app clients accepts the access tokens of both."""
    monkeypatch.setenv("COGNITO_CLIENT_ID", f"{cognito.client_id}, {cognito.other_client_id}")
    for client_id in (cognito.client_id, cognito.other_client_id):
        tokens = await sign_in(cognito, alice, client_id=client_id)
        response = await call(tokens["AccessToken"])
        assert response.status_code == 200, response.text
        assert response.json()["client_id"] == client_id


# --- the command-line tool against the emulator -----------------------------------------------


def test_cli_verify_prints_the_claims(
    cognito: CognitoPool,
    alice: SignedUp,
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cognito-asgi verify TOKEN` prints the verified claims as JSON and exits 0."""
    token = user_password(cognito, alice, cognito.client_id)["AccessToken"]
    assert cli(["verify", token]) == 0
    claims = json.loads(capsys.readouterr().out)
    assert claims["username"] == "alice"
    assert claims["sub"] == alice.sub
    assert claims["client_id"] == cognito.client_id
    assert claims["cognito:groups"] == ["admins"]


def test_cli_verify_prints_the_reason_of_refusal(
    cognito: CognitoPool,
    alice: SignedUp,
    environ: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cognito-asgi verify` of another client's token prints `refused: <code>` and exits 1."""
    token = user_password(cognito, alice, cognito.other_client_id)["AccessToken"]
    assert cli(["verify", token]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("refused: bad_claim: ")
    assert "claim='client_id'" in captured.err
    assert token not in captured.err
