"""The key cache: validation of key sets, fetch faults, cooldown, sharing, max age and staleness."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest

from cognito_asgi import JWKSCache, KeySetUnavailableError, UnknownKeyError, parse_jwks
from cognito_asgi.testing import JWKSServer, LocalIssuer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_entry(issuer: LocalIssuer, **changes: object) -> dict[str, object]:
    entry: dict[str, object] = dict(issuer.jwks()["keys"][0])
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def small_rsa_entry() -> dict[str, object]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    # A key too small to trust, to check that it is refused.
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()  # noqa: S505
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    return {"kty": "RSA", "kid": "small", "n": b64(n), "e": "AQAB"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parses_a_pool_key_set(issuer: LocalIssuer) -> None:
    """RSA signing keys are kept by kid; keys for other uses and algorithms are skipped."""
    document = issuer.jwks()
    document["keys"].append({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"})
    document["keys"].append(rsa_entry(LocalIssuer(kid="enc"), use="enc"))
    document["keys"].append(rsa_entry(LocalIssuer(kid="rs512"), alg="RS512"))
    keys = parse_jwks(json.dumps(document).encode())
    assert set(keys) == {issuer.kid}


BAD_SETS: dict[str, Callable[[LocalIssuer], object]] = {
    "not-json": lambda i: "{keys",
    "not-an-object": lambda i: [i.jwks()],
    "keys-not-a-list": lambda i: {"keys": {}},
    "empty": lambda i: {"keys": []},
    "only-ec": lambda i: {"keys": [{"kty": "EC", "kid": "e"}]},
    "key-not-object": lambda i: {"keys": ["x"]},
    "rsa-without-kid": lambda i: {"keys": [rsa_entry(i, kid=None)]},
    "rsa-empty-kid": lambda i: {"keys": [rsa_entry(i, kid="")]},
    "rsa-without-n": lambda i: {"keys": [rsa_entry(i, n=None)]},
    "rsa-n-not-base64url": lambda i: {"keys": [rsa_entry(i, n="++==")]},
    "rsa-1024-bit": lambda i: {"keys": [small_rsa_entry()]},
    "rsa-leading-zero": lambda i: {"keys": [rsa_entry(i, n="AA" + str(rsa_entry(i)["n"]))]},
    "rsa-even-exponent": lambda i: {"keys": [rsa_entry(i, e=b64(b"\x01\x00\x00"))]},
    "duplicate-kid": lambda i: {"keys": [rsa_entry(i), rsa_entry(i)]},
    "too-many-keys": lambda i: {"keys": [rsa_entry(i)] * 101},
}


@pytest.mark.parametrize("make", list(BAD_SETS.values()), ids=list(BAD_SETS))
def test_refuses_bad_key_sets(issuer: LocalIssuer, make: Callable[[LocalIssuer], object]) -> None:
    """A malformed key set, or one with no usable RSA signing key, is refused as a whole."""
    value = make(issuer)
    body = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(ValueError, match=r"."):
        parse_jwks(body.encode())


def test_duplicate_member_names_are_refused(issuer: LocalIssuer) -> None:
    """A key set with a repeated JSON member name is refused (strict JSON)."""
    text = issuer.jwks_json()
    with pytest.raises(ValueError, match="not strict JSON"):
        parse_jwks(text.replace('"kty": "RSA"', '"kty": "RSA", "kty": "RSA"').encode())


async def test_fetches_once_and_serves_from_memory(issuer: LocalIssuer) -> None:
    """Keys come from the endpoint once, then from memory."""
    with JWKSServer.running(issuer) as server:
        cache = JWKSCache(server.url)
        for _ in range(20):
            await cache.get_key(issuer.kid)
        assert server.requests == 1
        assert cache.fetches == 1


async def test_unknown_kid_flood_costs_one_fetch_per_cooldown(issuer: LocalIssuer) -> None:
    """Random kids trigger at most one refetch per cooldown; known kids keep working."""
    clock = Clock()
    with JWKSServer.running(issuer) as server:
        cache = JWKSCache(server.url, cooldown=10, clock=clock)
        await cache.get_key(issuer.kid)
        clock.now += 11
        for n in range(500):
            with pytest.raises(UnknownKeyError):
                await cache.get_key(f"random-{n}")
            await cache.get_key(issuer.kid)
        assert server.requests == 2
        clock.now += 11
        with pytest.raises(UnknownKeyError):
            await cache.get_key("random-again")
        assert server.requests == 3


async def test_concurrent_misses_share_one_fetch(issuer: LocalIssuer) -> None:
    """A thousand concurrent requests on a cold cache cause exactly one fetch."""
    with JWKSServer.running(issuer) as server:
        server.delay = 0.2
        cache = JWKSCache(server.url)

        async def one() -> None:
            await cache.get_key(issuer.kid)

        async with anyio.create_task_group() as group:
            for _ in range(1000):
                group.start_soon(one)
        assert server.requests == 1


async def test_rotation_new_key_accepted_removed_key_refused(issuer: LocalIssuer) -> None:
    """A key added to the set is found by refetch; a removed key is refused after refresh."""
    clock = Clock()
    with JWKSServer.running(issuer) as server:
        cache = JWKSCache(server.url, cooldown=5, max_age=100, clock=clock)
        old = issuer.kid
        await cache.get_key(old)
        generation = cache.generation
        new = issuer.add_key().kid
        clock.now += 6
        assert await cache.get_key(str(new))
        assert cache.generation == generation + 1
        issuer.remove_key(old)
        clock.now += 101
        with pytest.raises(UnknownKeyError):
            await cache.get_key(old)


async def test_stale_keys_survive_an_outage_then_fail_closed(issuer: LocalIssuer) -> None:
    """Past max age a failed refresh keeps the old keys for max_stale seconds, then 503."""
    clock = Clock()
    with JWKSServer.running(issuer) as server:
        cache = JWKSCache(server.url, cooldown=5, max_age=60, max_stale=120, clock=clock)
        await cache.get_key(issuer.kid)
        server.status = 500
        clock.now += 61
        assert await cache.get_key(issuer.kid)
        assert cache.fetch_failures == 1
        requests = server.requests
        for _ in range(50):
            await cache.get_key(issuer.kid)
        assert server.requests == requests  # backing off, not hammering
        clock.now += 121
        with pytest.raises(KeySetUnavailableError) as caught:
            await cache.get_key(issuer.kid)
        assert "HTTP 500" in caught.value.message
        assert caught.value.retry_after >= 1
        server.status = 200
        clock.now += 600
        assert await cache.get_key(issuer.kid)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/pool/.well-known/jwks.json"


FAULTS: dict[str, tuple[dict[str, object], str]] = {
    "server-error": ({"status": 500}, "HTTP 500"),
    "not-found": ({"status": 404}, "HTTP 404"),
    "redirect": ({"status": 302}, "HTTP 302"),
    "garbage": ({"body": b"\x00\xffgarbage"}, "not strict JSON"),
    "html": ({"body": b"<html></html>", "content_type": "text/html"}, "content type"),
    "empty-set": ({"body": b'{"keys": []}'}, "no RSA signing key"),
    "huge": ({"body": b" " * (10 * 1024 * 1024)}, "larger than"),
    "slow": ({"delay": 2.0}, "timed out"),
}


@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=list(FAULTS))
async def test_endpoint_faults_mean_unavailable(
    issuer: LocalIssuer, fault: tuple[dict[str, object], str]
) -> None:
    """Every fault of the key endpoint ends as KeySetUnavailableError with a reason, quickly."""
    changes, reason = fault
    with JWKSServer.running(issuer) as server:
        for name, value in changes.items():
            setattr(server, name, value)
        cache = JWKSCache(server.url, timeout=0.5)
        with anyio.fail_after(5):
            with pytest.raises(KeySetUnavailableError) as caught:
                await cache.get_key(issuer.kid)
        assert reason in caught.value.message


async def test_endpoint_down() -> None:
    """A refused connection is KeySetUnavailableError, and start-up reports keys unusable."""
    cache = JWKSCache(closed_port_url(), timeout=1)
    assert await cache.refresh() is False
    with pytest.raises(KeySetUnavailableError):
        await cache.get_key("any")


async def test_chunked_body_over_the_cap_is_cut_off(issuer: LocalIssuer) -> None:
    """A body without Content-Length is read only up to the size cap."""

    def handler(request: httpx.Request) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(1000):
                yield b" " * 1024

        return httpx.Response(200, headers={"content-type": "application/json"}, content=chunks())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        cache = JWKSCache("https://keys.example/jwks.json", http_client=client, max_bytes=4096)
        with pytest.raises(KeySetUnavailableError, match="larger than 4096"):
            await cache.get_key("kid")


async def test_preloaded_keys_work_offline(issuer: LocalIssuer) -> None:
    """A preloaded key set needs no URL and is never refetched."""
    cache = JWKSCache(None, preloaded=issuer.jwks_json())
    assert await cache.get_key(issuer.kid)
    with pytest.raises(UnknownKeyError):
        await cache.get_key("other")
    assert cache.fetches == 0


STATUS_MATRIX: dict[str, tuple[dict[str, object], int]] = {
    "healthy": ({}, 200),
    "down": ({"stopped": True}, 503),
    "slow": ({"delay": 2.0}, 503),
    "garbage": ({"body": b"garbage"}, 503),
    "huge": ({"body": b"[" * (1024 * 1024)}, 503),
    "wrong-content-type": ({"content_type": "text/plain"}, 503),
    "wrong-status": ({"status": 403}, 503),
    "key-removed": ({"body": LocalIssuer(kid="someone-else").jwks_json().encode()}, 401),
}


@pytest.mark.parametrize("fault", list(STATUS_MATRIX.values()), ids=list(STATUS_MATRIX))
async def test_key_endpoint_faults_through_the_middleware(
    issuer: LocalIssuer, fault: tuple[dict[str, object], int]
) -> None:
    """Each fault of the key endpoint gives the request its status: 503 when no keys, never 500."""
    from starlette.responses import PlainTextResponse

    from cognito_asgi import CognitoAuthMiddleware

    changes, status = fault
    with JWKSServer.running(issuer) as server:
        settings = issuer.settings(jwks_json=None, jwks_url=server.url, jwks_timeout_seconds=0.5)
        for name, value in changes.items():
            if name == "stopped":
                server.stop()
            else:
                setattr(server, name, value)
        app = CognitoAuthMiddleware(PlainTextResponse("ok"), settings=settings)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            response = await client.get(
                "/", headers={"Authorization": f"Bearer {issuer.access_token()}"}
            )
        assert response.status_code == status
        if status == 503:
            assert response.headers["retry-after"].isdigit()
