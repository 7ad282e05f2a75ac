"""The key endpoint misbehaving, keys rotating, and floods, through the middleware over real HTTP.

The key set is served by a `JWKSServer` on 127.0.0.1 that each test controls; requests go through
`CognitoAuthMiddleware` in front of a Starlette app. The key cache runs on an injected clock, so
cooldowns, backoff, max age and staleness are stepped through without waiting.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from cognito_asgi import CognitoAuthMiddleware, JWKSCache, TokenVerifier
from cognito_asgi.testing import JWKSServer, LocalIssuer
from tests.conftest import cached_tokens, call_asgi

COOLDOWN = 10.0
MAX_AGE = 60.0
MAX_STALE = 120.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Stack:
    """The middleware over a Starlette app, with the key cache and verifier it uses."""

    app: CognitoAuthMiddleware
    cache: JWKSCache
    verifier: TokenVerifier
    clock: Clock
    client: httpx.AsyncClient

    async def get(self, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return await self.client.get("/me", headers=headers)

    async def call(self, token: str) -> tuple[int, bytes]:
        """The same request as `get`, as a bare ASGI call (cheaper, for floods)."""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/me",
            "raw_path": b"/me",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
        }
        status, _, body = await call_asgi(self.app, scope)
        return status, body

    async def startup(self) -> None:
        """Run the ASGI lifespan start-up, as a server does before the first request."""
        sent: list[Message] = []
        answered = asyncio.Event()
        messages = iter([{"type": "lifespan.startup"}])

        async def receive() -> Message:
            try:
                return next(messages)
            except StopIteration:
                await asyncio.Event().wait()  # the server would wait for shutdown here
                raise

        async def send(message: Message) -> None:
            sent.append(message)
            answered.set()

        task = asyncio.create_task(self.app({"type": "lifespan", "state": {}}, receive, send))
        await asyncio.wait_for(answered.wait(), 10)
        task.cancel()
        assert sent[0]["type"] == "lifespan.startup.complete"


async def me(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.user.display_name)


@asynccontextmanager
async def stack(url: str, issuer: LocalIssuer, **cache_options: Any) -> AsyncIterator[Stack]:
    clock = Clock()
    options: dict[str, Any] = {
        "cooldown": COOLDOWN,
        "max_age": MAX_AGE,
        "max_stale": MAX_STALE,
        "timeout": 0.5,
    }
    options.update(cache_options)
    cache = JWKSCache(url, clock=clock, **options)
    verifier = TokenVerifier(issuer.settings(jwks_json=None, jwks_url=url), jwks=cache)
    app = CognitoAuthMiddleware(Starlette(routes=[Route("/me", me)]), verifier=verifier)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield Stack(app, cache, verifier, clock, client)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def server_on(issuer: LocalIssuer, port: int) -> Iterator[JWKSServer]:
    with JWKSServer.running(issuer, port=port) as server:
        yield server


def url_for(issuer: LocalIssuer, port: int) -> str:
    return f"http://127.0.0.1:{port}/{issuer.user_pool_id}/.well-known/jwks.json"


def assert_unavailable(response: httpx.Response, retry_after: int | None = None) -> None:
    assert response.status_code == 503
    assert response.json()["error"] == "jwks_unavailable"
    assert response.headers["retry-after"].isdigit()
    if retry_after is not None:
        assert int(response.headers["retry-after"]) == retry_after


async def test_endpoint_down_at_startup_recovers_after_the_backoff(issuer: LocalIssuer) -> None:
    """Keys unreachable at start-up: 503 with Retry-After, then served once the endpoint is up and
    the backoff has passed, without a restart."""
    port = free_port()
    async with stack(url_for(issuer, port), issuer) as s:
        await s.startup()
        assert s.cache.fetch_failures == 1
        assert_unavailable(await s.get(issuer.access_token()), retry_after=int(COOLDOWN))
        with server_on(issuer, port) as server:
            # Up now, but within the backoff nobody asks it: the endpoint is not hammered.
            assert_unavailable(await s.get(issuer.access_token()))
            assert server.requests == 0
            s.clock.now += COOLDOWN
            response = await s.get(issuer.access_token("ann"))
            assert response.status_code == 200
            assert response.text == "ann"
            assert server.requests == 1


async def test_failing_endpoint_is_retried_with_exponential_backoff(issuer: LocalIssuer) -> None:
    """A key endpoint answering 503 is asked again after 10, 20, 40 s, not on every request."""
    with JWKSServer.running(issuer) as server:
        server.status = 503
        async with stack(server.url, issuer, max_age=3600.0) as s:
            await s.startup()
            attempts = [server.requests]
            for backoff in (10, 20, 40):
                for _ in range(5):
                    assert_unavailable(await s.get(issuer.access_token()))
                attempts.append(server.requests)
                s.clock.now += backoff
                response = await s.get(issuer.access_token())
                assert_unavailable(response, retry_after=backoff * 2)
            attempts.append(server.requests)
            assert attempts == [1, 1, 2, 3, 4]
            server.status = 200
            s.clock.now += 80
            assert (await s.get(issuer.access_token())).status_code == 200
            assert server.requests == 5


# How each fault is switched on: a JWKSServer attribute, or "stopped" for a closed port.
LATER_FAULTS: dict[str, dict[str, Any]] = {
    "connection-refused": {"stopped": True},
    "slow-beyond-timeout": {"delay": 2.0},
    "garbage": {"body": b"\x00\xff<<not json>>"},
    "ten-megabytes": {"body": b"{" + b" " * (10 * 1024 * 1024) + b"}"},
    "html-error-page": {"body": b"<html>502</html>", "content_type": "text/html"},
    "empty-key-set": {"body": b'{"keys": []}'},
    "status-500": {"status": 500},
    "status-403": {"status": 403},
    "status-404": {"status": 404},
    "status-429": {"status": 429},
    "status-302": {"status": 302},
}


@pytest.mark.parametrize("fault", list(LATER_FAULTS.values()), ids=list(LATER_FAULTS))
async def test_fault_later_keeps_stale_keys_within_their_limit(
    issuer: LocalIssuer, fault: dict[str, Any]
) -> None:
    """A fault after keys are held: stale keys serve for max_stale more seconds with one try per
    backoff, then 503, for cached tokens too; when the endpoint heals, service comes back."""
    port = free_port()
    server = JWKSServer(issuer, port=port)
    server.start()
    try:
        async with stack(url_for(issuer, port), issuer) as s:
            kept = issuer.access_token("kept")  # verified before the fault, then cached
            for _ in range(2):
                assert (await s.get(kept)).text == "kept"
            assert kept in cached_tokens(s.verifier)
            if fault.get("stopped"):
                server.stop()
            else:
                for name, value in fault.items():
                    setattr(server, name, value)
            s.clock.now += MAX_AGE + 1
            # Fresh tokens each time, so that every request needs the keys (no cache hit).
            for n in range(5):
                response = await s.get(issuer.access_token(f"user{n}"))
                assert response.status_code == 200
                assert response.text == f"user{n}"
            assert s.cache.fetch_failures == 1
            assert server.requests == (1 if fault.get("stopped") else 2)
            assert (await s.get(kept)).text == "kept"
            s.clock.now += MAX_STALE
            assert_unavailable(await s.get(issuer.access_token()))
            assert_unavailable(await s.get(kept))  # the cached token fails closed as well
            if fault.get("stopped"):
                server = JWKSServer(issuer, port=port)
                server.start()
            else:
                server.body, server.status, server.delay = None, 200, 0.0
                server.content_type = "application/json"
            s.clock.now += 600
            response = await s.get(issuer.access_token("back"))
            assert response.status_code == 200
            assert response.text == "back"
    finally:
        server.stop()


async def test_new_key_is_accepted_without_restart_and_removed_key_refused(
    issuer: LocalIssuer,
) -> None:
    """Rotation: a new key's tokens pass once the cooldown allows a refetch; once a refresh drops
    the old key, its tokens are refused, including those already in the verified-token cache."""
    with JWKSServer.running(issuer) as server:
        async with stack(server.url, issuer, max_age=3600.0) as s:
            old_token = issuer.access_token("old")
            assert (await s.get(old_token)).status_code == 200
            old_kid = issuer.kid
            issuer.add_key()
            new_token = issuer.access_token("new")
            response = await s.get(new_token)  # within the cooldown of the first fetch
            assert response.status_code == 401
            assert response.json()["error"] == "unknown_kid"
            assert server.requests == 1
            s.clock.now += COOLDOWN
            assert (await s.get(new_token)).text == "new"
            assert (await s.get(old_token)).text == "old"  # both keys are in the set now
            assert server.requests == 2
            assert old_token in cached_tokens(s.verifier)

            issuer.remove_key(old_kid)
            s.clock.now += 3600.0
            # The next request that needs the keys finds them due and refreshes the set.
            assert (await s.get(issuer.access_token("newer"))).text == "newer"
            assert server.requests == 3
            response = await s.get(old_token)
            assert response.status_code == 401
            assert response.json()["error"] == "unknown_kid"
            assert old_token not in cached_tokens(s.verifier)
            assert (await s.get(new_token)).text == "new"


def random_kid_token(claims: str, rng: random.Random) -> str:
    """What an attacker sends for free: a made-up kid and a made-up signature."""
    header = json.dumps({"alg": "RS256", "kid": rng.randbytes(8).hex()}).encode()
    signature = base64.urlsafe_b64encode(rng.randbytes(256)).rstrip(b"=").decode()
    return f"{base64.urlsafe_b64encode(header).rstrip(b'=').decode()}.{claims}.{signature}"


async def test_random_kid_flood_costs_one_fetch_per_cooldown(issuer: LocalIssuer) -> None:
    """10,000 tokens with random kids, interleaved with valid ones: at most one key fetch per
    cooldown, every flood token refused, every valid token accepted."""
    rng = random.Random(5)
    users = [f"user{n}" for n in range(50)]
    valid = {user: issuer.access_token(user) for user in users}
    claims = issuer.access_token().split(".")[1]
    flood = [random_kid_token(claims, rng) for _ in range(10_000)]
    step = 0.01  # the clock advances this much per flood request: 100 s in all
    with JWKSServer.running(issuer) as server:
        async with stack(server.url, issuer) as s:
            start = s.clock.now
            statuses: list[tuple[str, int, str]] = []

            async def one(token: str, expected: str) -> None:
                status, body = await s.call(token)
                statuses.append((expected, status, body.decode()))

            for batch in range(0, len(flood), 100):
                jobs = [one(token, "") for token in flood[batch : batch + 100]]
                jobs += [one(valid[user], user) for user in rng.sample(users, 10)]
                rng.shuffle(jobs)
                await asyncio.gather(*jobs)
                s.clock.now += 100 * step
            elapsed = s.clock.now - start
            assert server.requests <= 1 + math.ceil(elapsed / COOLDOWN)
            assert server.requests >= 2  # the cooldown lets a real new key be found
    refused = [(status, text) for expected, status, text in statuses if not expected]
    accepted = [(expected, status, text) for expected, status, text in statuses if expected]
    assert len(refused) == 10_000
    assert all(status == 401 and "unknown_kid" in text for status, text in refused)
    assert len(accepted) == 1_000
    assert all(status == 200 and text == expected for expected, status, text in accepted)


async def test_thousand_concurrent_requests_on_a_cold_cache_fetch_once(
    issuer: LocalIssuer,
) -> None:
    """1,000 concurrent requests arriving before any key is held share exactly one fetch."""
    users = [f"user{n}" for n in range(100)]
    tokens = [issuer.access_token(user) for user in users]
    with JWKSServer.running(issuer) as server:
        server.delay = 0.2  # all requests arrive while the one fetch is in flight
        async with stack(server.url, issuer) as s:
            responses = await asyncio.gather(*(s.get(tokens[n % 100]) for n in range(1000)))
            assert server.requests == 1
    assert [r.status_code for r in responses] == [200] * 1000
    assert [r.text for r in responses] == [users[n % 100] for n in range(1000)]


def test_random_kid_tokens_reach_the_key_lookup(issuer: LocalIssuer) -> None:
    """The flood's tokens pass the parser, so each one does ask the key cache for its kid."""
    token = random_kid_token(issuer.access_token().split(".")[1], random.Random(1))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=" * 4))
    assert header["alg"] == "RS256"
    assert len(header["kid"]) == 16
