"""Fixtures of the accounts tests: real PostgreSQL and Redis servers on 127.0.0.1, a database
URL per backend, and factories for the accounts app pointed at the emulated pool."""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, NoReturn

import boto3
import httpx
import pytest
from botocore.config import Config

from cognito_asgi import CognitoSettings
from cognito_asgi.accounts import AccountsApp, SQLUserStore
from tests.conftest import IN_CI, CognitoPool, require_program


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_async_in_thread(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion on its own loop in another thread (from sync code that
    may be inside a test's event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make()).result()


def _missing(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _postgres_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server's `postgres` database: COGNITO_TEST_POSTGRES_URL, or a
    throwaway cluster on 127.0.0.1 with trust authentication, stopped at the end."""
    given = os.environ.get("COGNITO_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _postgres_program("initdb"), _postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        require_program("initdb", "apt-get install postgresql")
        raise AssertionError("unreachable")
    prefix: list[str] = []
    as_root = os.geteuid() == 0
    # As root, under /tmp: the postgres user must be able to reach the directory.
    workdir = Path(tempfile.mkdtemp(prefix="cognito-asgi-pg-", dir="/tmp" if as_root else None))
    if as_root:
        # initdb refuses to run as root: run the cluster as the postgres system user.
        runuser = require_program("runuser", "apt-get install util-linux")
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            _missing("no 'postgres' system user to run PostgreSQL as; apt-get install postgresql")
        os.chown(workdir, account.pw_uid, account.pw_gid)
        prefix = [runuser, "-u", "postgres", "--"]
    data = workdir / "data"
    init = [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    subprocess.run([*prefix, *init, "--locale=C", "--no-sync"], check=True, capture_output=True)
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={workdir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    start = [pg_ctl, "-D", str(data), "-l", str(workdir / "log"), "-w", "-t", "60"]
    started = subprocess.run(
        [*prefix, *start, "-o", options, "start"], capture_output=True, text=True
    )
    if started.returncode != 0:
        log = (workdir / "log").read_text(errors="replace") if (workdir / "log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{log}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


async def _admin_sql(server_url: str, *statements: str) -> None:
    import asyncpg

    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'accounts.sqlite3'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    name = f"accounts_{uuid.uuid4().hex[:12]}"
    run_async_in_thread(lambda: _admin_sql(server, f'CREATE DATABASE "{name}"'))
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        run_async_in_thread(lambda: _admin_sql(server, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'accounts.sqlite3'}"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A redis-server on 127.0.0.1 (no persistence), stopped at the end of the session."""
    program = require_program("redis-server", "apt-get install redis-server")
    port = free_port()
    options = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [program, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The Redis server, emptied for this test."""
    host, port = redis_server.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(64).startswith(b"+OK")
    return redis_server


def settings_for(cognito: CognitoPool, **overrides: Any) -> CognitoSettings:
    return CognitoSettings.from_env(cognito.environ).replace(**overrides)


# One session: its clients share the loaded service model but each has its own event hooks.
_BOTO_SESSION = boto3.session.Session()


def cognito_client(endpoint: str, *, attempts: int = 3) -> Any:
    """A boto3 cognito-idp client of the emulator, with its own event hooks."""
    return _BOTO_SESSION.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": attempts}),
    )


AppFactory = Callable[..., AccountsApp]


@pytest.fixture
async def make_app(
    cognito: CognitoPool, sqlite_url: str
) -> AsyncIterator[Callable[..., AccountsApp]]:
    """Builds AccountsApps on the emulated pool (a SQLite store unless one is given), closed
    after the test. Keyword arguments that name a CognitoSettings field change the settings;
    the others go to AccountsApp."""
    apps: list[AccountsApp] = []

    def make(**kwargs: Any) -> AccountsApp:
        setting_names = set(CognitoSettings.__dataclass_fields__)
        overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in setting_names}
        settings = settings_for(cognito, **overrides)
        if "store" not in kwargs:
            kwargs["store"] = SQLUserStore(sqlite_url)
        kwargs.setdefault("cognito_client", cognito_client(cognito.endpoint))
        kwargs.setdefault("rate_limit", "1000/minute")
        app = AccountsApp(settings, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.aclose()
        await app.store.aclose()


def client_of(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
