"""GET and DELETE /accounts/me: the caller's own record, behind CognitoAuthMiddleware."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings
from cognito_asgi.accounts import AccountsApp, SQLUserStore, UserRecord, record_loader
from cognito_asgi.testing import LocalIssuer
from tests.accounts.conftest import AppFactory, client_of, cognito_client
from tests.accounts.faults import fail_before
from tests.conftest import CognitoPool

PASSWORD = "Correct-Horse-7-Battery"


def protect(accounts: AccountsApp, cognito: CognitoPool, *, loader: bool = True) -> Any:
    return CognitoAuthMiddleware(
        Starlette(routes=[accounts.mount("/accounts")]),
        settings=CognitoSettings.from_env(cognito.environ),
        public_paths=["/accounts"],
        user_loader=record_loader(accounts.store) if loader else None,
    )


async def sign_up_and_in(app: Any, cognito: CognitoPool, email: str) -> tuple[dict[str, Any], str]:
    async with client_of(app) as client:
        created = await client.post(
            "/accounts", json={"name": "Me", "email": email, "password": PASSWORD}
        )
    assert created.status_code == 201, created.text
    record: dict[str, Any] = created.json()
    return record, cognito.sign_in(record["id"], PASSWORD)["AccessToken"]


@pytest.mark.parametrize("loader", [True, False], ids=["with-loader", "without-loader"])
async def test_get_me_returns_the_callers_record(
    cognito: CognitoPool, make_app: AppFactory, loader: bool
) -> None:
    """GET /accounts/me with the caller's token answers the record (from the loader, or read
    from the store when the middleware has none)."""
    app = protect(make_app(), cognito, loader=loader)
    record, token = await sign_up_and_in(app, cognito, "me@example.com")
    async with client_of(app) as client:
        response = await client.get("/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == record
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_me_without_a_token_is_refused(
    cognito: CognitoPool, make_app: AppFactory, method: str
) -> None:
    """/accounts is public for sign-up, so /me checks the user itself: 401 with the
    middleware's RFC 6750 refusal when the request is anonymous or its token is bad."""
    app = protect(make_app(), cognito)
    async with client_of(app) as client:
        anonymous = await client.request(method, "/accounts/me")
        bad = await client.request(
            method, "/accounts/me", headers={"Authorization": "Bearer not.a.token"}
        )
    for response in (anonymous, bad):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
        assert response.json()["error"] == "missing_token"


async def test_me_for_a_user_without_a_record_is_404(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """A valid user of the pool that AccountsApp did not create has no record: 404, and
    DELETE /me leaves that Cognito user alone."""
    cognito.create_user("outsider", PASSWORD)
    token = cognito.sign_in("outsider", PASSWORD)["AccessToken"]
    app = protect(make_app(), cognito)
    async with client_of(app) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/accounts/me", headers=bearer)).status_code == 404
        assert (await client.delete("/accounts/me", headers=bearer)).status_code == 404
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    assert [u["Username"] for u in users] == ["outsider"]


async def test_delete_me_removes_the_cognito_user_and_the_record(
    cognito: CognitoPool, database_url: str, make_app: AppFactory
) -> None:
    """DELETE /accounts/me answers 204, the Cognito user is gone (it can no longer sign in),
    the record is gone, and another user's account is untouched."""
    store = SQLUserStore(database_url)
    app = protect(make_app(store=store), cognito)
    record, token = await sign_up_and_in(app, cognito, "leaving@example.com")
    other, _ = await sign_up_and_in(app, cognito, "staying@example.com")
    async with client_of(app) as client:
        response = await client.delete("/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204
    assert response.content == b""
    assert await store.get(record["id"]) is None
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    assert [u["Username"] for u in users] == [other["id"]]
    assert await store.get(other["id"]) is not None
    with pytest.raises(cognito.client.exceptions.UserNotFoundException):
        cognito.sign_in(record["id"], PASSWORD)


async def test_delete_me_keeps_the_record_when_cognito_fails(
    cognito: CognitoPool, make_app: AppFactory
) -> None:
    """If Cognito refuses the deletion (throttled), the answer is 503 with Retry-After and both
    the user and the record stay, so a retry can finish the job."""
    client = cognito_client(cognito.endpoint)
    accounts = make_app(cognito_client=client)
    app = protect(accounts, cognito)
    record, token = await sign_up_and_in(app, cognito, "stays@example.com")
    fail_before(client, "AdminDeleteUser", error=("TooManyRequestsException", "slow down"))
    async with client_of(app) as http:
        response = await http.delete("/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert await accounts.store.get(record["id"]) is not None
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    assert [u["Username"] for u in users] == [record["id"]]


async def test_record_loader_attaches_the_record(cognito: CognitoPool, sqlite_url: str) -> None:
    """record_loader(store) as the middleware's user_loader puts the UserRecord of the token's
    username on request.user.record (None for a user without one)."""
    store = SQLUserStore(sqlite_url)
    record = UserRecord("rec-1", "Rec", "rec@example.com", _now(), "active")
    await store.insert_pending(record)
    await store.activate("rec-1")
    cognito.create_user("rec-1", PASSWORD)
    cognito.create_user("norecord", PASSWORD)
    seen: list[Any] = []

    async def endpoint(request: Request) -> JSONResponse:
        seen.append(request.user.record)
        return JSONResponse({})

    app = CognitoAuthMiddleware(
        Starlette(routes=[Route("/x", endpoint)]),
        settings=CognitoSettings.from_env(cognito.environ),
        user_loader=record_loader(store),
    )
    async with client_of(app) as client:
        for username in ("rec-1", "norecord"):
            token = cognito.sign_in(username, PASSWORD)["AccessToken"]
            response = await client.get("/x", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
    assert seen == [record, None]
    await store.aclose()


async def test_record_loader_with_locally_minted_tokens(
    issuer: LocalIssuer, sqlite_url: str
) -> None:
    """The loader keys on `username`, the record id, whatever issued the token."""
    store = SQLUserStore(sqlite_url)
    record = UserRecord("local-1", "L", "l@example.com", _now(), "pending")
    await store.insert_pending(record)
    seen: list[Any] = []

    async def endpoint(request: Request) -> JSONResponse:
        seen.append(request.user.record)
        return JSONResponse({})

    app = CognitoAuthMiddleware(
        Starlette(routes=[Route("/x", endpoint)]),
        settings=issuer.settings(),
        user_loader=record_loader(store),
    )
    token = issuer.access_token(username="local-1")
    async with client_of(app) as client:
        assert (await client.get("/x", headers={"Authorization": f"Bearer {token}"})).is_success
    assert seen == [record]
    await store.aclose()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
