"""The revocation check against the Cognito emulator (moto on 127.0.0.1, through boto3).

moto's GetUser accepts only the access tokens it issued and still holds: GlobalSignOut and
AdminUserGlobalSignOut drop a user's tokens, and a disabled or deleted user's token is refused,
as with Cognito.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, ConfigurationError
from cognito_asgi.hosted_ui import (
    RevocationCheck,
    RevocationCheckingVerifier,
    RevocationUnavailableError,
    RevokedTokenError,
)
from tests.conftest import CognitoPool
from tests.hosted_ui.conftest import FakeClock

PASSWORD = "Correct-Horse-9-battery"


def signed_in(cognito: CognitoPool, username: str = "alice") -> str:
    cognito.create_user(username, PASSWORD)
    token: str = cognito.sign_in(username, PASSWORD)["AccessToken"]
    return token


def checking_verifier(
    cognito: CognitoPool, clock: FakeClock, **kwargs: Any
) -> RevocationCheckingVerifier:
    settings = CognitoSettings.from_env(cognito.environ)
    check = RevocationCheck(settings, interval=60, clock=clock, **kwargs)
    return RevocationCheckingVerifier(settings, revocation=check)


SIGN_OUTS: dict[str, Callable[[CognitoPool, str], Any]] = {
    "admin-global-sign-out": lambda pool, token: pool.client.admin_user_global_sign_out(
        UserPoolId=pool.user_pool_id, Username="alice"
    ),
    "global-sign-out": lambda pool, token: pool.client.global_sign_out(AccessToken=token),
    "user-disabled": lambda pool, token: pool.client.admin_disable_user(
        UserPoolId=pool.user_pool_id, Username="alice"
    ),
    "user-deleted": lambda pool, token: pool.client.admin_delete_user(
        UserPoolId=pool.user_pool_id, Username="alice"
    ),
}


@pytest.mark.parametrize("sign_out", list(SIGN_OUTS.values()), ids=list(SIGN_OUTS))
async def test_a_revoked_token_is_refused_within_one_interval(
    cognito: CognitoPool, sign_out: Callable[[CognitoPool, str], Any]
) -> None:
    """A token Cognito no longer accepts is refused at the first check after the interval;
    within the interval the cached answer stands, so Cognito is asked once per interval."""
    clock = FakeClock()
    token = signed_in(cognito)
    verifier = checking_verifier(cognito, clock)
    for _ in range(5):
        await verifier.verify(token)
    assert verifier.revocation.calls == 1

    sign_out(cognito, token)
    clock.advance(30)
    await verifier.verify(token)
    assert verifier.revocation.calls == 1
    clock.advance(31)
    with pytest.raises(RevokedTokenError):
        await verifier.verify(token)
    assert verifier.revocation.calls == 2
    with pytest.raises(RevokedTokenError):
        await verifier.verify(token)
    assert verifier.revocation.calls == 2


async def test_concurrent_checks_of_one_token_share_one_call(cognito: CognitoPool) -> None:
    """Many simultaneous requests with one unchecked token cause a single GetUser."""
    token = signed_in(cognito)
    verifier = checking_verifier(cognito, FakeClock())
    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(verifier.verify, token)
    assert verifier.revocation.calls == 1


async def test_the_cache_is_bounded(cognito: CognitoPool) -> None:
    """Beyond max_entries the least recently checked token is forgotten and asked about again."""
    tokens = [signed_in(cognito, name) for name in ("alice", "bob", "carol")]
    verifier = checking_verifier(cognito, FakeClock(), max_entries=2)
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[2])
    assert verifier.revocation.calls == 3
    await verifier.verify(tokens[0])
    assert verifier.revocation.calls == 4


async def test_an_unreachable_cognito_fails_closed(cognito: CognitoPool) -> None:
    """When GetUser cannot be reached, the token is refused (503), not waved through."""
    token = signed_in(cognito)
    client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=cognito.endpoint)

    def unreachable(**kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url=cognito.endpoint)

    client.meta.events.register("before-send.cognito-idp.GetUser", unreachable)
    verifier = checking_verifier(cognito, FakeClock(), cognito_client=client)
    with pytest.raises(RevocationUnavailableError):
        await verifier.verify(token)

    app = CognitoAuthMiddleware(_app(), verifier=verifier)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        response = await http.get("/me", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.json()["error"] == "revocation_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_the_middleware_refuses_a_revoked_token_with_401(cognito: CognitoPool) -> None:
    """Behind CognitoAuthMiddleware a globally signed-out user's token gets 401 `revoked`, even
    when the middleware has been answering it from the verified-token cache."""
    clock = FakeClock()
    token = signed_in(cognito)
    app = CognitoAuthMiddleware(_app(), verifier=checking_verifier(cognito, clock))
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        for _ in range(3):  # the token is in the verifier's cache from here on
            assert (await http.get("/me", headers=headers)).status_code == 200
        cognito.client.global_sign_out(AccessToken=token)
        clock.advance(61)
        response = await http.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "revoked"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_the_check_needs_access_tokens(cognito: CognitoPool) -> None:
    """GetUser takes only access tokens, so settings accepting id tokens are refused."""
    settings = CognitoSettings.from_env({**cognito.environ, "COGNITO_TOKEN_USE": "any"})
    with pytest.raises(ConfigurationError) as caught:
        RevocationCheck(settings)
    assert caught.value.variable == "COGNITO_TOKEN_USE"


async def test_the_token_stays_out_of_botocore_debug_logs(
    cognito: CognitoPool, caplog: pytest.LogCaptureFixture
) -> None:
    """With botocore logging at DEBUG, the access token sent to GetUser is not logged."""
    token = signed_in(cognito)
    verifier = checking_verifier(cognito, FakeClock())
    caplog.set_level(logging.DEBUG)
    await verifier.verify(token)
    assert any(r.name.startswith("botocore") for r in caplog.records)
    assert not any(token in r.getMessage() for r in caplog.records)


def _app() -> Starlette:
    async def me(request: Request) -> Response:
        return JSONResponse({"username": request.user.username})

    return Starlette(routes=[Route("/me", me)])
