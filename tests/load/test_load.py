"""Bounded load test: the middleware under uvicorn, 64 concurrent connections, a mix of tokens.

The server runs in a subprocess on 127.0.0.1 with its keys preloaded; an asyncio load generator
sends valid tokens of many users, invalid tokens and no token at all, for COGNITO_LOAD_SECONDS
(default 10) split in two halves. Every answer is checked, and between the halves the server's
memory and caches must stay flat.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from cognito_asgi import CognitoAuthMiddleware
from cognito_asgi.testing import LocalIssuer

pytestmark = pytest.mark.load

CONNECTIONS = 64
USERS = 400
TOKEN_CACHE_SIZE = 256  # fewer than USERS, so the cache evicts all along
MAX_REQUESTS = 500_000  # a bound on count as well as time
RSS_GROWTH_LIMIT_KB = 8 * 1024
# Read at import: the suite's fixtures clear COGNITO_* variables before each test.
LOAD_SECONDS = float(os.environ.get("COGNITO_LOAD_SECONDS", "10"))
ROOT = Path(__file__).resolve().parents[2]


def load_app() -> CognitoAuthMiddleware:
    """The served application (configured from COGNITO_* variables, keys preloaded)."""

    async def me(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.user.display_name)

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def stats(request: Request) -> JSONResponse:
        verifier = middleware.verifier
        return JSONResponse(
            {
                "token_cache": len(verifier._cache),
                "token_cache_size": verifier.settings.token_cache_size,
                "turned_away": len(verifier._turned_away),
                "known_headers": len(verifier._known_headers),
                "key_fetches": verifier.jwks.fetches + verifier.jwks.fetch_failures,
                "accepted": verifier.stats.accepted,
                "refused": dict(verifier.stats.refused),
                "batches": verifier.stats.verification_batches,
                "batched": verifier.stats.batched_requests,
            }
        )

    routes = [Route("/me", me), Route("/health", health), Route("/stats", stats)]
    middleware = CognitoAuthMiddleware(Starlette(routes=routes), public_paths=["/health", "/stats"])
    return middleware


SERVE = """
import socket, sys
import uvicorn
from tests.load.test_load import load_app
sock = socket.socket(fileno=int(sys.argv[1]))
config = uvicorn.Config(load_app(), log_level="warning", access_log=False)
uvicorn.Server(config).run(sockets=[sock])
"""


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])


@pytest.fixture
def server(issuer: LocalIssuer) -> Iterator[Server]:
    """uvicorn serving load_app() in a subprocess, on a socket bound here to 127.0.0.1."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads the server's memory from /proc (Linux)")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    env = {
        **os.environ,
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_JSON": issuer.jwks_json(),
        "COGNITO_TOKEN_CACHE_SIZE": str(TOKEN_CACHE_SIZE),
    }
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(sock.fileno())],
            cwd=ROOT,
            env=env,
            pass_fds=[sock.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        sock.close()
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(process, url)
            yield Server(process, url)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            errors.seek(0)
            output = errors.read().decode(errors="replace")
        assert "Traceback" not in output, output


def wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up")


@dataclass(frozen=True)
class Probe:
    """One kind of request and the answer it must get."""

    token: str | None
    status: int
    expect: str  # the username for 200, the error code for 401


def probes(issuer: LocalIssuer) -> tuple[list[Probe], list[Probe], list[Probe]]:
    attacker = LocalIssuer(kid=issuer.kid)  # same kid, other key
    valid = [Probe(issuer.access_token(f"user{n:03d}"), 200, f"user{n:03d}") for n in range(USERS)]
    now = int(time.time())
    invalid = [
        *(Probe(issuer.access_token(f"late{n}", exp=now - 60), 401, "expired") for n in range(20)),
        *(Probe(attacker.access_token(f"forged{n}"), 401, "bad_signature") for n in range(20)),
        *(Probe(issuer.access_token(client_id="other"), 401, "bad_claim") for _ in range(5)),
        *(Probe(issuer.id_token(f"id{n}"), 401, "bad_claim") for n in range(5)),
        Probe("not-a-token", 401, "malformed"),
        Probe("a.b.c", 401, "malformed"),
        Probe(issuer.access_token(header={"kid": "gone"}), 401, "unknown_kid"),
    ]
    missing = [Probe(None, 401, "missing_token")]
    return valid, invalid, missing


@dataclass
class Tally:
    sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)


async def generate_load(
    url: str, seconds: float, mix: list[tuple[float, list[Probe]]], tally: Tally, seed: int
) -> None:
    """CONNECTIONS workers, each with its own keep-alive connection, sending one request after
    another until time or count is up."""
    loop = asyncio.get_running_loop()
    weights = [weight for weight, _ in mix]
    # One client per connection: a single pool of 64 connections spends its time on pool
    # bookkeeping (httpcore scans every connection per request) rather than on requests.
    tls = ssl.create_default_context()  # unused on http://, but built once instead of 64 times
    clients = [
        httpx.AsyncClient(
            base_url=url, limits=httpx.Limits(max_connections=1), timeout=30, verify=tls
        )
        for _ in range(CONNECTIONS)
    ]
    deadline = loop.time() + seconds

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(seed * 1000 + n)
        while loop.time() < deadline and tally.sent < MAX_REQUESTS:
            (group,) = rng.choices([probes for _, probes in mix], weights)
            probe = rng.choice(group)
            headers = {"Authorization": f"Bearer {probe.token}"} if probe.token else {}
            tally.sent += 1
            response = await client.get("/me", headers=headers)
            tally.by_status[response.status_code] += 1
            got = response.text if response.status_code == 200 else response.json()["error"]
            wrong = (response.status_code, got) != (probe.status, probe.expect)
            if wrong and len(tally.wrong) < 10:
                tally.wrong.append(f"{probe.expect}: {response.status_code} {got}")

    try:
        await asyncio.gather(*(worker(n, client) for n, client in enumerate(clients)))
    finally:
        for client in clients:
            await client.aclose()


async def server_stats(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url) as client:
        stats: dict[str, Any] = (await client.get("/stats")).json()
        return stats


async def test_mixed_load_is_answered_correctly_with_flat_memory(
    server: Server, issuer: LocalIssuer
) -> None:
    """64 connections of valid, invalid and missing tokens over many users: no 5xx, every answer
    right, caches within their bounds and the server's memory flat from one half to the next."""
    seconds = LOAD_SECONDS
    valid, invalid, missing = probes(issuer)
    mix = [(0.7, valid), (0.2, invalid), (0.1, missing)]
    halves: list[tuple[Tally, int, dict[str, Any]]] = []
    for half in range(2):
        tally = Tally()
        await generate_load(server.url, seconds / 2, mix, tally, seed=half)
        halves.append((tally, server.rss_kb(), await server_stats(server.url)))

    for tally, _, stats in halves:
        assert tally.wrong == []
        assert not any(status >= 500 for status in tally.by_status), tally.by_status
        assert set(tally.by_status) == {200, 401}
        assert tally.sent > CONNECTIONS
        assert stats["token_cache"] <= stats["token_cache_size"] == TOKEN_CACHE_SIZE
        assert stats["turned_away"] <= TOKEN_CACHE_SIZE
        assert stats["known_headers"] <= 64
        assert stats["key_fetches"] == 0
    (first, rss_first, _), (second, rss_second, stats) = halves
    assert stats["accepted"] == first.by_status[200] + second.by_status[200]
    # Concurrent requests with new tokens were verified together, not one by one.
    assert stats["batched"] > stats["batches"] > 0
    assert rss_second - rss_first <= RSS_GROWTH_LIMIT_KB, (rss_first, rss_second)
