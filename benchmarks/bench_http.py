"""HTTP throughput of CognitoAuthMiddleware against bare apps and fastapi-cloudauth, side by side.

Each app is served by uvicorn (one worker, 127.0.0.1) in its own process and loaded by Debian's
`wrk` for a bounded time; a Lua script rotates the Authorization header through a file of tokens
minted here by a LocalIssuer (keys preloaded, no network). Variants:

* bare Starlette, and Starlette behind CognitoAuthMiddleware with many distinct tokens (no
  request is a cache hit, see `Bench.fill`) and with 200 users each reusing their token;
* Starlette behind the verify middleware one writes by hand with joserfc (`jwt.decode` and a
  `JWTClaimsRegistry` with the same Cognito checks, on every request), with the distinct tokens:
  the reference for what verifying every token costs on the machine at hand;
* Starlette behind a minimal caching middleware (a dict from the Authorization header to its
  user), with the 200 users: the reference for what any middleware adds on a cache hit;
* bare FastAPI, FastAPI with fastapi-cloudauth's Cognito verifier (`pip install
  fastapi-cloudauth==0.4.3`; skipped when missing), FastAPI behind CognitoAuthMiddleware, and
  FastAPI behind the minimal caching middleware.

Every app answers the same request (GET / with a bearer token) with a short plain-text body.
All servers, two per variant taking turns (see `Bench`), are started and warmed up first; then
rounds of wrk runs interleave the variants, in an order that turns each round, and each
variant's best round counts (on a shared machine the others are the disturbed ones, or ran in
a slower process).
Prints req/s, the ratio to the matching bare app, the server's CPU time per request (the
lowest of the rounds; Linux only), the targets, and how many new tokens the middleware's
verification batches held on average. Run from the repository root:

    .venv/bin/python benchmarks/bench_http.py            # about 3 minutes
    .venv/bin/python benchmarks/bench_http.py --rounds 5 --duration 5 --only starlette

Needs `wrk` (apt-get install wrk); without it the script says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_verify import registry_for
from joserfc import jwt as joserfc_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.authentication import AuthCredentials, SimpleUser
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from cognito_asgi import CognitoAuthMiddleware, CognitoError, CognitoSettings, TokenVerifier
from cognito_asgi.testing import LocalIssuer

REUSE_USERS = 200
LUA = """
local tokens = {}
local index = 0
function init(args)
  for line in io.lines(args[1]) do
    tokens[#tokens + 1] = "Bearer " .. line
  end
  index = tonumber(args[2]) or 0
end
function request()
  index = index % #tokens + 1
  return wrk.format("GET", "/", {["Authorization"] = tokens[index]})
end
"""


@dataclass(frozen=True)
class Variant:
    name: str
    app: str  # what --serve builds
    tokens: str  # "distinct" or "reuse"
    bare: str  # the variant it is compared with


VARIANTS = [
    Variant("starlette", "starlette", "reuse", "starlette"),
    Variant(
        "starlette + cognito-asgi, no cache hits", "starlette-cognito", "distinct", "starlette"
    ),
    Variant("starlette + cognito-asgi, 200 users reuse", "starlette-cognito", "reuse", "starlette"),
    Variant(
        "starlette + hand-written joserfc middleware, no cache hits",
        "starlette-joserfc",
        "distinct",
        "starlette",
    ),
    Variant(
        "starlette + a minimal caching middleware, 200 users reuse",
        "starlette-minimal",
        "reuse",
        "starlette",
    ),
    Variant("fastapi", "fastapi", "reuse", "fastapi"),
    Variant("fastapi + fastapi-cloudauth", "fastapi-cloudauth", "reuse", "fastapi"),
    Variant("fastapi + cognito-asgi, no cache hits", "fastapi-cognito", "distinct", "fastapi"),
    Variant("fastapi + cognito-asgi, 200 users reuse", "fastapi-cognito", "reuse", "fastapi"),
    Variant(
        "fastapi + a minimal caching middleware, 200 users reuse",
        "fastapi-minimal",
        "reuse",
        "fastapi",
    ),
]


# --- the served apps ------------------------------------------------------------------------


def hand_written(app: ASGIApp) -> ASGIApp:
    """A verify middleware as one writes it by hand with joserfc: every request's token is
    decoded and its claims checked (the policy of bench_verify's joserfc row), nothing cached."""
    settings = CognitoSettings.from_env()
    assert settings.jwks_json is not None, "the benchmark preloads the key set"
    key_set = KeySet.import_key_set(json.loads(settings.jwks_json))
    registry = registry_for(settings)
    refusal = PlainTextResponse("unauthorized", status_code=401)

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in ("/health", "/stats"):
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            try:
                if scheme.lower() != "bearer":
                    raise ValueError("not a bearer token")
                claims = joserfc_jwt.decode(token, key_set, algorithms=["RS256"]).claims
                registry.validate(claims)
            except (JoseError, ValueError):
                await refusal(scope, receive, send)
                return
            scope["user"] = SimpleUser(claims["username"])
        await app(scope, receive, send)

    return middleware


def minimal_caching(app: ASGIApp) -> ASGIApp:
    """The least a middleware that caches its users does for a reused token: find the
    Authorization header, look its user up in a dict, set `user` and `auth` (one credentials
    object for every request, as cognito-asgi shares them) in the scope, call the app. A new
    header is verified by a TokenVerifier once; nothing is ever evicted. The reference for what
    the reuse rows can reach on the machine at hand."""
    verifier = TokenVerifier(CognitoSettings.from_env())
    users: dict[bytes, SimpleUser] = {}
    credentials = AuthCredentials(["authenticated"])

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in ("/health", "/stats"):
            header = b""
            for name, value in scope["headers"]:
                if name == b"authorization":
                    header = value
            user = users.get(header)
            if user is None:
                try:
                    verified = await verifier.authenticate(header.decode("latin-1")[7:])
                except CognitoError:
                    await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
                    return
                user = users[header] = SimpleUser(verified.username)
            scope["user"] = user
            scope["auth"] = credentials
        await app(scope, receive, send)

    return middleware


def build_app(kind: str) -> Any:
    """The ASGI app for one variant, configured from COGNITO_* variables."""
    protected: list[CognitoAuthMiddleware] = []

    async def stats(request: Request) -> JSONResponse:
        if not protected:
            return JSONResponse({})
        counts = protected[0].verifier.stats
        return JSONResponse(
            {
                "hits": counts.cache_hits,
                "misses": counts.cache_misses,
                "batches": counts.verification_batches,
                "batched": counts.batched_requests,
            }
        )

    def protect(app: Any) -> CognitoAuthMiddleware:
        protected.append(CognitoAuthMiddleware(app, public_paths=["/health", "/stats"]))
        return protected[0]

    if kind.startswith("starlette"):
        from starlette.applications import Starlette
        from starlette.routing import Route

        async def bare(request: Request) -> PlainTextResponse:
            return PlainTextResponse("hello")

        async def who(request: Request) -> PlainTextResponse:
            return PlainTextResponse(request.user.display_name)

        routes = [
            Route("/", bare if kind == "starlette" else who),
            Route("/health", bare),
            Route("/stats", stats),
        ]
        app = Starlette(routes=routes)
        if kind == "starlette-joserfc":
            return hand_written(app)
        if kind == "starlette-minimal":
            return minimal_caching(app)
        return protect(app) if kind == "starlette-cognito" else app

    from fastapi import Depends, FastAPI

    api = FastAPI()
    api.add_api_route("/health", lambda: PlainTextResponse("ok"))
    api.add_api_route("/stats", stats)
    if kind == "fastapi":
        # The same endpoint signature as the protected app's, so that only the middleware differs.

        async def hello(request: Request) -> PlainTextResponse:
            return PlainTextResponse("hello")

        api.add_api_route("/", hello)
        return api
    if kind in ("fastapi-cognito", "fastapi-minimal"):

        async def me(request: Request) -> PlainTextResponse:
            return PlainTextResponse(request.user.display_name)

        api.add_api_route("/", me)
        return protect(api) if kind == "fastapi-cognito" else minimal_caching(api)
    auth = cloudauth_verifier()

    async def claims(claims: Any = Depends(auth)) -> PlainTextResponse:  # noqa: B008
        return PlainTextResponse(claims["username"])

    api.add_api_route("/", claims)
    return api


def cloudauth_verifier() -> Any:
    """fastapi-cloudauth's Cognito access-token verifier, as `Cognito(...)` builds it, with the
    key set given directly (its `fixed_keys`) instead of fetched from AWS."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it imports a pydantic v1 name
        cognito = importlib.import_module("fastapi_cloudauth.cognito")
        base = importlib.import_module("fastapi_cloudauth.base")
    pool, client_id = os.environ["COGNITO_USER_POOL_ID"], os.environ["COGNITO_CLIENT_ID"]
    region = pool.partition("_")[0]
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool}"
    document = json.loads(Path(os.environ["COGNITO_JWKS_FILE"]).read_text())
    keys = cognito.JWKS(url="", fixed_keys=cognito.JWKS.null()._construct(document))
    extra = cognito.CognitoExtraVerifier(client_id=client_id, issuer=issuer, token_use={"access"})
    return base.ScopedAuth(
        keys,
        audience=client_id,
        issuer=issuer,
        scope_key="cognito:groups",
        auto_error=True,
        extra=extra,
    )


def serve(kind: str, fd: int) -> None:
    import uvicorn

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(build_app(kind), log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


# --- the harness ----------------------------------------------------------------------------


@dataclass
class Result:
    variant: Variant
    rps: float
    requests: int
    bad: int  # non-2xx answers and socket errors
    cpu_us: float | None  # the server's CPU time per request, the lowest of the rounds
    hits: int | None
    misses: int | None
    batch_size: float | None  # requests per verification batch, on average


class Server:
    """One variant's uvicorn process, on a socket bound here to 127.0.0.1."""

    def __init__(self, kind: str, env: dict[str, str]) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        command = [sys.executable, __file__, "--serve", kind, "--fd", str(sock.fileno())]
        self.process = subprocess.Popen(command, env=env, pass_fds=[sock.fileno()])  # noqa: S603
        sock.close()
        pin(self.process.pid, last=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1):  # noqa: S310
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the {kind} server did not start") from None
                time.sleep(0.1)

    def cpu_seconds(self) -> float | None:
        """The server process's CPU time so far (user and system), where /proc tells it."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as answer:  # noqa: S310
            stats: dict[str, int] = json.load(answer)
            return stats

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def pin(pid: int, *, last: bool) -> None:
    """Server on the last CPU, wrk on the first, so they do not fight over one core."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) >= 2:
        os.sched_setaffinity(pid, {cpus[-1] if last else cpus[0]})


def run_wrk(
    url: str, script: Path, tokens: Path, offset: int, args: argparse.Namespace, seconds: int
) -> tuple[float, int, int]:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, seconds)}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url + "/",
        "--",
        str(tokens),
        str(offset),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    pin(process.pid, last=False)
    output, _ = process.communicate(timeout=seconds + 60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{output}")
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", output))
    requests = int(_find(r"(\d+) requests in", output))
    bad = int(_find(r"Non-2xx or 3xx responses:\s+(\d+)", output, "0"))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        bad += sum(int(n) for n in errors.groups())
    return rps, requests, bad


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is None:
            raise RuntimeError(f"unexpected wrk output:\n{text}")
        return default
    return match.group(1)


@functools.cache
def line_count(path: Path) -> int:
    with path.open() as lines:
        return sum(1 for _ in lines)


def mint(issuer: LocalIssuer, count: int, prefix: str) -> list[str]:
    return [issuer.access_token(f"{prefix}{n:05d}", expires_in=4 * 3600) for n in range(count)]


class Bench:
    """One variant, served by a few processes that take turns over the rounds.

    Identical servers differ by several per cent for as long as they run (measured: eight of
    the same app, 38.1 to 41.6 µs of CPU a request at best, and now and then one much slower),
    so one process per variant would let a slow one weigh on its variant for the whole run.
    With `--processes` (2) of them each variant gets more than one chance at a good process;
    each runs from the start, so every measured round sees a server in its steady state.
    """

    def __init__(self, variant: Variant, env: dict[str, str], files: dict[str, Path]) -> None:
        self.variant = variant
        self.env = env
        self.files = files
        self.tokens = files[variant.tokens]
        # Where each process is in each token file: a process must see the distinct tokens in
        # an unbroken rotation, or it would take some of them into its cache (see fill()).
        self.offsets: dict[tuple[Server, Path], int] = {}
        self.runs: list[tuple[float, int, int]] = []
        self.cpu_per_request: list[float] = []
        self.hits: int | None = None
        self.misses: int | None = None
        self.batches = self.batched = 0
        self.servers: list[Server] = []

    def start(self, args: argparse.Namespace, cache_size: int) -> None:
        """Start the processes; fill each one's cache where the variant needs it, and warm it
        up."""
        for _ in range(args.processes):
            server = Server(self.variant.app, self.env)
            self.servers.append(server)
            self.fill(server, args, cache_size)
            self.run(server, args, args.warmup, record=False)

    def measure(self, args: argparse.Namespace) -> None:
        """One round, on the process whose turn it is."""
        self.run(self.servers[len(self.runs) % len(self.servers)], args, args.duration)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        self.servers = []

    def fill(self, server: Server, args: argparse.Namespace, cache_size: int) -> None:
        """Fill the server's verified-token cache with tokens not used again, before the
        distinct ones: a full cache takes a token in only on its second verification among
        its last `cache_size` refusals, which cycling through more than `cache_size` distinct
        tokens never gives. So no request of the rounds is a cache hit, and each costs what a
        new token costs a server whose cache is full, the steady state of such a load.
        """
        if self.variant.tokens != "distinct" or not server.stats():
            return  # nothing cached, or nothing to count with
        rotation = self.tokens
        self.tokens = self.files["fill"]
        while server.stats()["misses"] < cache_size:
            self.run(server, args, 1, record=False)
        self.tokens = rotation

    def run(
        self, server: Server, args: argparse.Namespace, seconds: int, *, record: bool = True
    ) -> None:
        place = server, self.tokens
        before = server.stats()
        cpu_before = server.cpu_seconds()
        rps, requests, bad = run_wrk(
            server.url, self.files["lua"], self.tokens, self.offsets.get(place, 0), args, seconds
        )
        cpu_after = server.cpu_seconds()
        after = server.stats()
        # Continue the rotation a little past where this run stopped (wrk counts only the
        # answered requests).
        self.offsets[place] = (self.offsets.get(place, 0) + requests + 1_000) % line_count(
            self.tokens
        )
        if not record:
            return
        self.runs.append((rps, requests, bad))
        if cpu_before is not None and cpu_after is not None and requests:
            self.cpu_per_request.append((cpu_after - cpu_before) / requests)
        if after:
            self.hits = (self.hits or 0) + after["hits"] - before["hits"]
            self.misses = (self.misses or 0) + after["misses"] - before["misses"]
            self.batches += after["batches"] - before["batches"]
            self.batched += after["batched"] - before["batched"]

    def result(self) -> Result:
        # The best round: on a shared machine the others are the ones something else slowed.
        rps = max(rps for rps, _, _ in self.runs)
        requests = sum(n for _, n, _ in self.runs)
        bad = sum(b for _, _, b in self.runs)
        cpu = min(self.cpu_per_request) * 1e6 if self.cpu_per_request else None
        batch_size = self.batched / self.batches if self.batches else None
        return Result(self.variant, rps, requests, bad, cpu, self.hits, self.misses, batch_size)


def report(results: list[Result], args: argparse.Namespace, skipped: list[str]) -> None:
    by_name = {r.variant.name: r for r in results}
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, best of {args.rounds} "
        f"rounds; uvicorn 1 worker "
        f"({uvicorn_flavour()}), Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    if uvicorn_flavour() != "uvloop+httptools":
        print(
            "(without uvloop and httptools every app is slower and the middleware's share of "
            "each request smaller; `pip install uvloop httptools` for figures comparable to a "
            "production uvicorn)"
        )
    print()
    print("| app | req/s | x bare | server CPU µs/request | cache hits | non-2xx/errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        bare = by_name.get(r.variant.bare)
        ratio = f"{r.rps / bare.rps:.2f}" if bare else "-"
        cpu = "-" if r.cpu_us is None else f"{r.cpu_us:.1f}"
        hits = "-" if r.hits is None else f"{100 * r.hits / max(1, r.hits + (r.misses or 0)):.0f} %"
        print(f"| {r.variant.name} | {r.rps:,.0f} | {ratio} | {cpu} | {hits} | {r.bad} |")
    for name in skipped:
        print(f"| {name} | skipped | | | | |")
    print()
    peer = "fastapi + fastapi-cloudauth"
    # The peer target compares the two on the same requests, 200 users reusing their tokens,
    # each library as it ships: fastapi-cloudauth verifies every token, cognito-asgi caches.
    targets: list[tuple[str, str, str, float, str]] = [
        ("no cache hits", "starlette + cognito-asgi, no cache hits", "starlette", 0.45, "≥"),
        ("realistic reuse", "starlette + cognito-asgi, 200 users reuse", "starlette", 0.93, "≥"),
        ("vs fastapi-cloudauth", "fastapi + cognito-asgi, 200 users reuse", peer, 2.5, ">"),
    ]
    print("Targets:")
    for label, ours, other, target, sign in targets:
        if ours in by_name and other in by_name:
            measured = by_name[ours].rps / by_name[other].rps
            met = measured >= target if sign == "≥" else measured > target
            status = "met" if met else "MISSED"
            print(f"  {label}: {measured:.3f}x ({sign} {target}x wanted) {status}")
    references = [  # (label, ours, the reference row, what it is)
        (
            "FastAPI, no cache hits",
            "fastapi + cognito-asgi, no cache hits",
            peer,
            "fastapi-cloudauth, both verifying every token",
        ),
        (
            "no cache hits",
            "starlette + cognito-asgi, no cache hits",
            "starlette + hand-written joserfc middleware, no cache hits",
            "the hand-written joserfc middleware",
        ),
        (
            "realistic reuse",
            "starlette + cognito-asgi, 200 users reuse",
            "starlette + a minimal caching middleware, 200 users reuse",
            "a minimal caching middleware",
        ),
        (
            "FastAPI, reuse",
            "fastapi + cognito-asgi, 200 users reuse",
            "fastapi + a minimal caching middleware, 200 users reuse",
            "a minimal caching middleware",
        ),
    ]
    for label, ours, reference, what in references:
        if ours in by_name and reference in by_name:
            share = by_name[ours].rps / by_name[reference].rps
            print(f"  ({label}, against {what}: {share:.2f}x)")
    for r in results:
        if r.batch_size is not None:
            print(f"  ({r.variant.name}: {r.batch_size:.1f} new tokens per verification batch)")
    if any(r.bad for r in results):
        print("WARNING: some answers were not 2xx; the figures above are not comparable.")


def uvicorn_flavour() -> str:
    found = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m) is not None]
    return "+".join(found) if found else "asyncio loop, h11"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=2, help="seconds per run (2)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up (1)")
    parser.add_argument(
        "--processes", type=int, default=2, help="server processes per variant, taking turns (2)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds; the best counts (6)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", action="append", help="run the variants containing this text")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.fd)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed; install it with: apt-get install wrk", file=sys.stderr)
        return 2
    variants = [v for v in VARIANTS if not args.only or any(o in v.name for o in args.only)]
    skipped = []
    if importlib.util.find_spec("fastapi_cloudauth") is None:
        skipped = [v.name for v in variants if v.app == "fastapi-cloudauth"]
        variants = [v for v in variants if v.app != "fastapi-cloudauth"]
        print("fastapi-cloudauth is not installed (pip install fastapi-cloudauth==0.4.3)")

    issuer = LocalIssuer()
    cache_size = 10_000  # the default COGNITO_TOKEN_CACHE_SIZE
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = {"lua": work / "rotate.lua", "jwks": work / "jwks.json"}
        files["lua"].write_text(LUA)
        files["jwks"].write_text(issuer.jwks_json())
        print("minting tokens ...", flush=True)
        token_sets: dict[str, Callable[[], list[str]]] = {
            "reuse": lambda: mint(issuer, REUSE_USERS, "user"),
            "distinct": lambda: mint(issuer, cache_size + 2_000, "one-off"),
            "fill": lambda: mint(issuer, cache_size, "earlier"),
        }
        needed = {v.tokens for v in variants}
        if "distinct" in needed:
            needed.add("fill")  # see Bench.fill
        for name, make in token_sets.items():
            if name in needed:
                files[name] = work / f"{name}.txt"
                files[name].write_text("\n".join(make()) + "\n")
        env = {
            **os.environ,
            "COGNITO_USER_POOL_ID": issuer.user_pool_id,
            "COGNITO_CLIENT_ID": issuer.client_id,
            "COGNITO_JWKS_FILE": str(files["jwks"]),
            "COGNITO_TOKEN_CACHE_SIZE": str(cache_size),
        }
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        benches = [Bench(variant, env, files) for variant in variants]
        try:
            for bench in benches:
                print(f"starting and warming up {bench.variant.name} ...", flush=True)
                bench.start(args, cache_size)
            # Rounds interleave the variants, so a disturbance of the machine spreads over all
            # of them instead of falling on one; their order turns by one place each round, so
            # that one recurring with the period of a round does not either.
            for round_ in range(args.rounds):
                print(f"round {round_ + 1} of {args.rounds} ...", flush=True)
                turn = round_ % len(benches)
                for bench in benches[turn:] + benches[:turn]:
                    bench.measure(args)
        finally:
            for bench in benches:
                bench.stop()
    report([bench.result() for bench in benches], args, skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
