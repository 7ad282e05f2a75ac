"""Sign-ups are rate-limited per client address, in memory or shared through Redis."""

from __future__ import annotations

import httpx
import pytest

from tests.accounts.conftest import AppFactory, free_port


def client_at(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def post_invalid(client: httpx.AsyncClient) -> int:
    # Invalid input: counted by the limit, but costs no Cognito call.
    return (await client.post("/", json={})).status_code


async def test_memory_limit_refuses_with_retry_after(make_app: AppFactory) -> None:
    """With 3/minute in memory, the fourth POST from one address gets 429 with Retry-After
    (at most the window), while another address is still served."""
    accounts = make_app(rate_limit="3/minute")
    async with client_at(accounts, "203.0.113.7") as client:
        assert [await post_invalid(client) for _ in range(3)] == [422, 422, 422]
        refused = await client.post("/", json={})
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    async with client_at(accounts, "203.0.113.8") as other:
        assert await post_invalid(other) == 422


async def test_only_sign_ups_are_limited(make_app: AppFactory) -> None:
    """GET /me is not counted: a caller past the sign-up limit can still read its record."""
    accounts = make_app(rate_limit="1/minute")
    async with client_at(accounts, "203.0.113.9") as client:
        assert await post_invalid(client) == 422
        assert await post_invalid(client) == 429
        assert (await client.get("/me")).status_code == 401


async def test_a_custom_client_key(make_app: AppFactory) -> None:
    """client_key decides what is limited, e.g. a header set by a trusted proxy."""

    def forwarded(scope: dict[str, object]) -> str:
        headers = dict(scope["headers"])  # type: ignore[call-overload]
        return str(headers.get(b"x-real-ip", b"?").decode())

    accounts = make_app(rate_limit="1/minute", client_key=forwarded)
    async with client_at(accounts, "10.0.0.1") as client:
        first = await client.post("/", json={}, headers={"x-real-ip": "198.51.100.1"})
        second = await client.post("/", json={}, headers={"x-real-ip": "198.51.100.2"})
        third = await client.post("/", json={}, headers={"x-real-ip": "198.51.100.1"})
    assert [first.status_code, second.status_code, third.status_code] == [422, 422, 429]


@pytest.mark.redis
async def test_redis_limit_is_shared_between_servers(make_app: AppFactory, redis_url: str) -> None:
    """Two apps (two API servers) with redis:// storage share one limit per address."""
    first = make_app(rate_limit="2/minute", accounts_rate_limit_storage=redis_url)
    second = make_app(rate_limit="2/minute", accounts_rate_limit_storage=redis_url)
    async with client_at(first, "192.0.2.1") as a, client_at(second, "192.0.2.1") as b:
        assert await post_invalid(a) == 422
        assert await post_invalid(b) == 422
        refused = await a.post("/", json={})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await b.post("/", json={})).status_code == 429
    async with client_at(second, "192.0.2.2") as c:
        assert await post_invalid(c) == 422


@pytest.mark.redis
async def test_an_unreachable_redis_fails_closed(make_app: AppFactory) -> None:
    """If the Redis of the limit cannot be reached, sign-ups get 503 with Retry-After rather
    than an unlimited path to Cognito."""
    accounts = make_app(
        rate_limit="5/minute", accounts_rate_limit_storage=f"redis://127.0.0.1:{free_port()}/0"
    )
    async with client_at(accounts, "192.0.2.3") as client:
        response = await client.post("/", json={})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
