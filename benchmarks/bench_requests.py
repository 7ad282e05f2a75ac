"""Time in-process ASGI requests: a bare Starlette app against the same app behind
CognitoAuthMiddleware, measured in the same run.

A minimal driver calls the ASGI application directly inside one asyncio event loop: no
sockets and no HTTP parsing, so the difference between the rows is the middleware's own
work. Every request is `GET /` (or `GET /public/`) with `Authorization: Bearer <token>`,
answered 200 with a plain-text body. Rows:

    bare Starlette app                 the header is ignored
    + middleware, every token new      distinct tokens, none found in the verified-token cache
    + middleware, one token reused     the verified-token cache answers
    + middleware, public path          no token at all: the middleware only passes through

How rounds are interleaved and warmed up: benchmarks/_timing.py. Usage:

    .venv/bin/python benchmarks/bench_requests.py [--quick] [--rounds N]
"""

from __future__ import annotations

import asyncio
import itertools
import platform
from collections import Counter
from time import perf_counter

import starlette
from _timing import Batch, Row, measure, parse_run_options, print_table, verifier_with_a_full_cache
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

from cognito_asgi import CognitoAuthMiddleware, TokenVerifier
from cognito_asgi.testing import LocalIssuer

statuses: Counter[int] = Counter()


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    if message["type"] == "http.response.start":
        statuses[message["status"]] += 1


def scope_for(path: str, token: str | None) -> Scope:
    headers = [(b"host", b"bench.example"), (b"user-agent", b"bench")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def request_batch(runner: asyncio.Runner, app: ASGIApp, scopes: list[Scope]) -> Batch:
    """Requests one after another, each with a fresh copy of its scope (apps write to it)."""

    async def loop(batch: list[Scope]) -> float:
        start = perf_counter()
        for scope in batch:
            await app(dict(scope), receive, send)
        return perf_counter() - start

    source = itertools.cycle(scopes)  # each batch continues where the last one stopped

    def run(n: int) -> float:
        return runner.run(loop(list(itertools.islice(source, n))))

    return run


async def home(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def main() -> None:
    rounds, distinct = parse_run_options(__doc__)

    issuer = LocalIssuer()
    token = issuer.access_token()
    fresh_tokens = [issuer.access_token(f"user{i}") for i in range(distinct)]
    app = Starlette(routes=[Route("/", home), Route("/public/", home)])

    def protected(verifier: TokenVerifier) -> ASGIApp:
        return CognitoAuthMiddleware(app, verifier=verifier, public_paths=["/public"])

    # More distinct tokens than a full cache holds, taken in turn: every look-up misses.
    missing = verifier_with_a_full_cache(issuer, distinct // 4)
    reused = TokenVerifier(issuer.settings())
    fresh_scopes = [scope_for("/", t) for t in fresh_tokens]
    with asyncio.Runner() as runner:
        baseline = Row("bare Starlette app", request_batch(runner, app, [scope_for("/", token)]))
        rows = [
            baseline,
            Row(
                "+ CognitoAuthMiddleware, every token new (no cache hits)",
                request_batch(runner, protected(missing), fresh_scopes),
            ),
            Row(
                "+ CognitoAuthMiddleware, one token reused (cache hits)",
                request_batch(runner, protected(reused), [scope_for("/", token)]),
            ),
            Row(
                "+ CognitoAuthMiddleware, public path, no token",
                request_batch(runner, protected(reused), [scope_for("/public/", None)]),
            ),
        ]
        measure(rows, rounds)

    assert set(statuses) == {200}, f"unexpected responses: {dict(statuses)}"
    assert missing.stats.cache_hits == 0, "the every-token-new row hit the cache"
    print(
        f"Python {platform.python_version()}, Starlette {starlette.__version__}; "
        f"{len(token)}-character access tokens, {rounds} interleaved rounds"
    )
    print_table(rows, baseline, "One in-process request, against the bare app", "request")


if __name__ == "__main__":
    main()
