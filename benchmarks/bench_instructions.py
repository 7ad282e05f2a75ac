"""Instructions and simulated L1 cache misses per HTTP request, counted by callgrind.

Wall-clock figures on a shared machine move by several per cent from one run to the next, more
than most changes to the middleware's own code are worth. Instruction counts do not: each app of
`bench_http.py` is served by uvicorn (one worker, 127.0.0.1) under valgrind's callgrind, with a
fixed hash seed and address layout, and callgrind counts only while a client sends a fixed number
of requests, one at a time on one connection, after a warm-up. The same code counts the same
within a few hundred instructions; the figures are per request, and each is compared with bare
Starlette's, counted the same way in the same run.

Apps: bare Starlette; behind CognitoAuthMiddleware with 200 users reusing their tokens (cache
hits) and with a new token on every request (the cache, of 50 here, full of other tokens); behind
bench_http's minimal caching middleware with the 200 users.

Needs valgrind (`apt-get install valgrind`); without it the script says so and exits with
status 2. Run from the repository root, about a minute:

    .venv/bin/python benchmarks/bench_instructions.py
    .venv/bin/python benchmarks/bench_instructions.py --requests 500 --only reuse

Callgrind simulates the host's cache sizes with its own, simpler model, and runs everything 50
times slower, so it measures work, not time: misses weigh more than their count says, and
libraries that choose their code by processor feature (OpenSSL's SHA-256, for one) may take
another path under valgrind than on the processor.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_http import mint, uvicorn_flavour

from cognito_asgi.testing import LocalIssuer

#: Events of callgrind's cache simulation, as callgrind_annotate names them.
EVENTS = ("Ir", "I1mr", "D1mr", "D1mw")
NEW_TOKEN_CACHE_SIZE = 50


@dataclass(frozen=True)
class App:
    name: str
    kind: str  # what `bench_http.py --serve` builds
    tokens: str  # "reuse" or "new"


APPS = [
    App("starlette", "starlette", "reuse"),
    App("starlette + cognito-asgi, 200 users reuse", "starlette-cognito", "reuse"),
    App("starlette + cognito-asgi, a new token each request", "starlette-cognito", "new"),
    App("starlette + a minimal caching middleware, 200 users reuse", "starlette-minimal", "reuse"),
]


class Client:
    """Sends GET / with each token in turn, one request at a time on one connection."""

    def __init__(self, port: int, tokens: list[str]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=180)
        self.headers = [{"Authorization": f"Bearer {token}"} for token in tokens]
        self.sent = 0

    def send(self, count: int) -> None:
        for _ in range(count):
            headers = self.headers[self.sent % len(self.headers)]
            self.sent += 1
            self.connection.request("GET", "/", headers=headers)
            response = self.connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET / answered {response.status}")


def count(app: App, tokens: list[str], args: argparse.Namespace, work: Path) -> dict[str, float]:
    """The events per request of `app`, counted over `args.requests` requests."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    output = work / f"callgrind.{app.kind}.{app.tokens}.out"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if app.tokens == "new":
        env["COGNITO_TOKEN_CACHE_SIZE"] = str(NEW_TOKEN_CACHE_SIZE)
    serve = [sys.executable, str(Path(__file__).with_name("bench_http.py"))]
    command = [
        *(["setarch", "-R"] if shutil.which("setarch") else []),  # the same addresses every run
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--cache-sim=yes",
        f"--callgrind-out-file={output}",
        *serve,
        *("--serve", app.kind, "--fd", str(sock.fileno())),
    ]
    server = subprocess.Popen(  # noqa: S603
        command,
        env=env,
        pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sock.close()
    try:
        client = Client(port, tokens)
        client.send(args.warmup)
        callgrind_control("--instr=on", server.pid)
        client.send(args.requests)
        callgrind_control("--instr=off", server.pid)
        client.connection.close()
    finally:
        # uvicorn shuts down and raises the signal again as it ends; callgrind then writes its
        # file.
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=120)
    if not output.exists():
        raise RuntimeError(f"the {app.kind} server under callgrind failed:\n{errors[-2000:]}")
    return {event: total / args.requests for event, total in totals(output).items()}


def callgrind_control(option: str, pid: int) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)  # noqa: S603, S607


def totals(output: Path) -> dict[str, int]:
    """The program totals of a callgrind output file, by event."""
    text = output.read_text()
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    sums = re.search(r"^totals: (.+)$", text, re.MULTILINE)
    if events is None or sums is None:
        raise RuntimeError(f"no totals in {output}")
    found = dict(
        zip(events.group(1).split(), (int(n) for n in sums.group(1).split()), strict=False)
    )
    return {event: found.get(event, 0) for event in EVENTS}


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    bare = results.get("starlette")
    print()
    print(
        f"callgrind, {args.requests} requests one at a time after {args.warmup}, uvicorn 1 worker "
        f"({uvicorn_flavour()}), Python {sys.version.split()[0]}; per request"
    )
    print()
    print("| app | instructions | x bare | more than bare | L1 misses | more than bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, events in results.items():
        misses = events["I1mr"] + events["D1mr"] + events["D1mw"]
        if bare is None:
            ratio = more = more_misses = "-"
        else:
            bare_misses = bare["I1mr"] + bare["D1mr"] + bare["D1mw"]
            ratio = f"{events['Ir'] / bare['Ir']:.3f}"
            more = f"{events['Ir'] - bare['Ir']:,.0f}"
            more_misses = f"{misses - bare_misses:,.0f}"
        print(
            f"| {name} | {events['Ir']:,.0f} | {ratio} | {more} | {misses:,.0f} | {more_misses} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests counted (2000)")
    parser.add_argument("--warmup", type=int, default=2000, help="requests before (2000)")
    parser.add_argument(
        "--only", action="append", help="count the apps containing this text, and bare Starlette"
    )
    args = parser.parse_args(argv)
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(
            "valgrind is not installed; install it with: apt-get install valgrind", file=sys.stderr
        )
        return 2
    # Bare Starlette is always counted: every other count is compared with it.
    apps = [a for a in APPS if a is APPS[0] or not args.only or any(o in a.name for o in args.only)]
    issuer = LocalIssuer()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        jwks = work / "jwks.json"
        jwks.write_text(issuer.jwks_json())
        os.environ.update(
            COGNITO_USER_POOL_ID=issuer.user_pool_id,
            COGNITO_CLIENT_ID=issuer.client_id,
            COGNITO_JWKS_FILE=str(jwks),
            PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])),
        )
        print("minting tokens ...", flush=True)
        reuse = mint(issuer, 200, "user")
        # Every request of the warm-up and of the count a token never seen before.
        new = mint(issuer, args.warmup + args.requests, "one-off")
        for app in apps:
            print(f"counting {app.name} ...", flush=True)
            started = time.monotonic()
            results[app.name] = count(app, reuse if app.tokens == "reuse" else new, args, work)
            print(f"  {time.monotonic() - started:.0f} s", flush=True)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
