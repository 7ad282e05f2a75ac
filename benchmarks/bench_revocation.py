"""What the revocation check costs per verification, against the check off, in one run.

Starts the Cognito emulator (moto) on 127.0.0.1, signs a user in, and times `verify()` of one
access token three ways:

    off        TokenVerifier alone (its verified-token cache on, as by default)
    on         RevocationCheckingVerifier, interval 60 s: one GetUser, then a cache look-up
    uncached   RevocationCheckingVerifier asking Cognito on every call (the worst case)

Each phase is bounded by a count and a time limit. Usage:

    .venv/bin/python benchmarks/bench_revocation.py [--iterations 20000] [--uncached 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time

import boto3
from moto.server import ThreadedMotoServer

from cognito_asgi import CognitoSettings, TokenVerifier
from cognito_asgi.hosted_ui import RevocationCheck, RevocationCheckingVerifier

PASSWORD = "Correct-Horse-9-battery"


def start_pool() -> tuple[ThreadedMotoServer, dict[str, str], str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=endpoint)
    pool = client.create_user_pool(PoolName="bench")["UserPool"]["Id"]
    app_client = client.create_user_pool_client(
        UserPoolId=pool, ClientName="web", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    client.admin_create_user(
        UserPoolId=pool, Username="alice", TemporaryPassword=PASSWORD, MessageAction="SUPPRESS"
    )
    client.admin_set_user_password(
        UserPoolId=pool, Username="alice", Password=PASSWORD, Permanent=True
    )
    token = client.initiate_auth(
        ClientId=app_client,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    environ = {
        "COGNITO_USER_POOL_ID": pool,
        "COGNITO_CLIENT_ID": app_client,
        "COGNITO_ENDPOINT_URL": endpoint,
    }
    return server, environ, token


async def measure(verifier: TokenVerifier, token: str, count: int, limit: float) -> float:
    """Verifications per second over at most `count` calls and `limit` seconds."""
    await verifier.verify(token)  # warm: keys fetched, first GetUser made
    done = 0
    start = time.perf_counter()
    deadline = start + limit
    while done < count and time.perf_counter() < deadline:
        await verifier.verify(token)
        done += 1
    return done / (time.perf_counter() - start)


async def run(iterations: int, uncached: int, limit: float) -> None:
    server, environ, token = start_pool()
    try:
        settings = CognitoSettings.from_env(environ)
        off = await measure(TokenVerifier(settings), token, iterations, limit)
        cached = RevocationCheckingVerifier(
            settings, revocation=RevocationCheck(settings, interval=60)
        )
        on = await measure(cached, token, iterations, limit)
        always = RevocationCheckingVerifier(
            settings, revocation=RevocationCheck(settings, interval=1e-9)
        )
        worst = await measure(always, token, uncached, limit)
    finally:
        server.stop()
    print(f"{'variant':<10} {'verify/s':>12} {'vs off':>8}  Cognito calls")
    print(f"{'off':<10} {off:>12,.0f} {1.0:>8.2f}  0")
    print(f"{'on':<10} {on:>12,.0f} {on / off:>8.2f}  {cached.revocation.calls}")
    print(f"{'uncached':<10} {worst:>12,.0f} {worst / off:>8.4f}  {always.revocation.calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--uncached", type=int, default=200, help="iterations asking Cognito")
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per phase")
    args = parser.parse_args()
    asyncio.run(run(args.iterations, args.uncached, args.seconds))


if __name__ == "__main__":
    main()
