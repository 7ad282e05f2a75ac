"""Bounded load tests of sign-up: 50 concurrent `POST /accounts` to an AccountsApp served by
uvicorn on 127.0.0.1, against moto's Cognito server, on SQLite and on PostgreSQL.

Some emails clash (the same address in another case), so the store's unique email decides
between concurrent sign-ups. Afterwards the database and Cognito must agree exactly. A second
run stops the emulator mid-way (inside the answer to one sign-up's AdminCreateUser, so at least
that sign-up is cut between two steps), restarts it on the same port (moto keeps its users in
the process, so the restarted server sees them) and runs `reconcile`: no orphan on either side.
The last test pins, deterministically, the race the stopped run can hit.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette

from cognito_asgi import CognitoSettings
from cognito_asgi.accounts import AccountsApp, EmailTakenError, SQLUserStore, UserRecord, reconcile
from tests.accounts import conftest as accounts_fixtures
from tests.accounts.conftest import cognito_client, settings_for
from tests.conftest import CognitoPool, create_pool

# The accounts tests' databases (a SQLite file; a fresh database on a PostgreSQL server).
database_url = accounts_fixtures.database_url
postgres_server = accounts_fixtures.postgres_server

PASSWORD = "Correct-Horse-7-Battery"
SIGN_UPS = 50
DISTINCT_EMAILS = 35
# The run with the emulator stopped: this many requests go out at once; the emulator stops
# when the STOP_AFTER-th Cognito user has been created, and only then are the others sent.
FIRST_WAVE = 30
STOP_AFTER = 12
# Bounds, not measurements: a run that takes longer has hung.
RUN_BOUND_SECONDS = 60
START_BOUND_SECONDS = 20


@dataclass(frozen=True)
class Attempt:
    name: str
    email: str

    @property
    def key(self) -> str:
        return self.email.lower()


def attempts() -> list[Attempt]:
    """35 distinct emails plus 15 repeats of some of them in another case, shuffled."""
    emails = [f"user{n:02d}@example.com" for n in range(DISTINCT_EMAILS)]
    cases: list[Callable[[str], str]] = [str.upper, str.title, str.swapcase]
    repeats = [cases[n % 3](emails[(n * 7) % DISTINCT_EMAILS]) for n in range(15)]
    everything = emails + repeats
    random.Random(5).shuffle(everything)
    assert len(everything) == SIGN_UPS
    return [Attempt(f"Load {n}", email) for n, email in enumerate(everything)]


class Emulator:
    """moto's Cognito server on 127.0.0.1, which the test may stop and start again on the same
    port. moto keeps its state in the process, not in the server thread: a restarted server
    serves the users created before the stop."""

    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, self.port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{self.port}"
        self.running = True

    def stop(self) -> None:
        # serve_forever() returns and werkzeug closes the listening socket: new connections
        # are refused from now on.
        self.server.stop()
        self.running = False

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.running = True


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emulator = Emulator()
    try:
        yield emulator
    finally:
        if emulator.running:
            emulator.stop()


@pytest.fixture
def pool(emulator: Emulator) -> Iterator[CognitoPool]:
    """A user pool in the test's own emulator, deleted afterwards (moto's state is shared by
    every emulator in the process)."""
    pool = create_pool(emulator.endpoint, name="load-pool")
    yield pool
    if not emulator.running:
        emulator.start()
    pool.client.delete_user_pool(UserPoolId=pool.user_pool_id)


@pytest.fixture
def settings(pool: CognitoPool, database_url: str) -> CognitoSettings:
    # Every sign-up comes from 127.0.0.1: lift the default limit of 10 a minute.
    return settings_for(pool, accounts_database_url=database_url, accounts_rate_limit="500/minute")


class AppServer:
    """uvicorn serving `POST /accounts` (an AccountsApp with its own store, and its own Cognito
    client unless one is given) in a thread with its own event loop."""

    def __init__(self, settings: CognitoSettings, cognito: Any = None) -> None:
        self.settings = settings
        self.cognito = cognito
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server: uvicorn.Server | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def serve() -> None:
            accounts = AccountsApp(self.settings, cognito_client=self.cognito)
            app = Starlette(routes=[accounts.mount("/accounts")])
            config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
            self.server = uvicorn.Server(config)
            try:
                await self.server.serve(sockets=[self.sock])
            finally:
                await accounts.aclose()

        try:
            asyncio.run(serve())
        except BaseException as exc:
            self.failure = exc

    def __enter__(self) -> AppServer:
        self.thread.start()
        deadline = time.monotonic() + START_BOUND_SECONDS
        while self.server is None or not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"uvicorn did not start: {self.failure!r}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(START_BOUND_SECONDS)
        self.sock.close()
        assert not self.thread.is_alive(), "uvicorn did not stop"
        assert self.failure is None, repr(self.failure)


class StopAtCreate:
    """botocore `after-call` hooks that stop the emulator inside the answer to the `count`-th
    successful AdminCreateUser: that user exists, and the next step of its sign-up meets a
    stopped Cognito.

    The stop waits until some sign-up has had its password made permanent
    (AdminRespondToAuthChallenge), so that the run has accounts made before it as well; without
    the wait, the first `count` creations can all come before any sign-up's next step."""

    def __init__(self, emulator: Emulator, count: int) -> None:
        self.emulator = emulator
        self.count = count
        self.created = 0
        self.username: str | None = None
        self.confirmed = threading.Event()
        self.stopped = threading.Event()
        self.lock = threading.Lock()

    def register(self, client: Any) -> None:
        client.meta.events.register("after-call.cognito-idp.AdminCreateUser", self.after_create)
        client.meta.events.register(
            "after-call.cognito-idp.AdminRespondToAuthChallenge", self.after_confirm
        )

    def after_confirm(self, http_response: Any, **_: Any) -> None:
        if http_response.status_code < 300:
            self.confirmed.set()

    def after_create(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        with self.lock:
            self.created += 1
            if self.created != self.count:
                return
            self.username = parsed["User"]["Username"]
        # The other sign-ups go on meanwhile, each in a worker thread of its own. Past the bound
        # the emulator stops all the same, and the test finds no account made.
        self.confirmed.wait(RUN_BOUND_SECONDS)
        self.emulator.stop()
        self.stopped.set()


async def sign_up_all(
    url: str, tried: list[Attempt], second_wave: Callable[[], Awaitable[object]] | None = None
) -> list[httpx.Response]:
    """Send every attempt concurrently; with `second_wave`, the attempts from FIRST_WAVE on wait
    until it returns."""
    responses: dict[int, httpx.Response] = {}
    released = anyio.Event()
    limits = httpx.Limits(max_connections=SIGN_UPS, max_keepalive_connections=SIGN_UPS)

    async def release() -> None:
        if second_wave is not None:
            await second_wave()
        released.set()

    async with httpx.AsyncClient(base_url=url, timeout=RUN_BOUND_SECONDS, limits=limits) as client:

        async def one(n: int, attempt: Attempt) -> None:
            if n >= FIRST_WAVE:
                await released.wait()
            body = {"name": attempt.name, "email": attempt.email, "password": PASSWORD}
            responses[n] = await client.post("/accounts", json=body)

        with anyio.fail_after(RUN_BOUND_SECONDS):
            async with anyio.create_task_group() as group:
                group.start_soon(release)
                for n, attempt in enumerate(tried):
                    group.start_soon(one, n, attempt)
    return [responses[n] for n in range(len(tried))]


async def records_in(database_url: str) -> dict[str, tuple[str, str]]:
    """Every record in the store's table: id -> (email, state)."""
    store = SQLUserStore(database_url)
    try:
        async with store.engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT id, email, state FROM cognito_asgi_users"))
            return {row.id: (row.email, row.state) for row in rows}
    finally:
        await store.aclose()


def cognito_users(pool: CognitoPool) -> dict[str, tuple[str, str]]:
    """Every user of the pool, a page of 10 at a time: username -> (email, status)."""
    users: dict[str, tuple[str, str]] = {}
    paginator = pool.client.get_paginator("list_users")
    for page in paginator.paginate(UserPoolId=pool.user_pool_id, PaginationConfig={"PageSize": 10}):
        for user in page["Users"]:
            attributes = {a["Name"]: a["Value"] for a in user["Attributes"]}
            assert user["Username"] not in users
            users[user["Username"]] = (attributes["email"], user["UserStatus"])
    return users


def accounts_made(tried: list[Attempt], responses: list[httpx.Response]) -> dict[str, str]:
    """The accounts the 201 answers announced: id -> the email as it was sent."""
    pairs = zip(tried, responses, strict=True)
    return {r.json()["id"]: a.email for a, r in pairs if r.status_code == 201}


def assert_in_agreement(records: dict[str, tuple[str, str]], users: dict[str, Any]) -> None:
    """Same ids, same emails; every record active and every Cognito user CONFIRMED."""
    assert {state for _, state in records.values()} <= {"active"}, records
    assert {status for _, status in users.values()} <= {"CONFIRMED"}, users
    assert {i: email for i, (email, _) in records.items()} == {
        i: email for i, (email, _) in users.items()
    }
    assert len({email.lower() for email, _ in records.values()}) == len(records)


@pytest.mark.load
async def test_concurrent_sign_ups_leave_cognito_and_the_store_in_agreement(
    settings: CognitoSettings, pool: CognitoPool, database_url: str
) -> None:
    """50 concurrent sign-ups, 15 of them repeating an email in another case: only 201 and 409
    email_taken, exactly one 201 per email, and the store's records (all active) and Cognito's
    users (all CONFIRMED) are the same accounts with the same emails."""
    tried = attempts()
    with AppServer(settings) as server:
        responses = await sign_up_all(server.url, tried)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code >= 500]
    assert {r.json()["error"] for r in responses if r.status_code == 409} <= {"email_taken"}
    winners = Counter(a.key for a, r in zip(tried, responses, strict=True) if r.status_code == 201)
    assert winners == Counter({a.key: 1 for a in tried})
    created = accounts_made(tried, responses)
    assert len(created) == DISTINCT_EMAILS

    records = await records_in(database_url)
    users = await anyio.to_thread.run_sync(cognito_users, pool)
    assert_in_agreement(records, users)
    assert {i: email for i, (email, _) in records.items()} == created


@pytest.mark.load
async def test_sign_ups_with_the_emulator_stopped_mid_run_are_reconciled(
    emulator: Emulator, pool: CognitoPool, settings: CognitoSettings, database_url: str
) -> None:
    """Cognito stopped while 50 sign-ups run: each gets 201, 409 or 503 (never 500), the one cut
    right after AdminCreateUser stays pending; once Cognito is back on the same port,
    `reconcile` undoes it and leaves no orphan: every Cognito user CONFIRMED with an active
    record of the same email, every record active with such a user, every 201's account kept."""
    tried = attempts()
    assert len({a.key for a in tried[:FIRST_WAVE]}) > STOP_AFTER
    client = cognito_client(emulator.endpoint)
    stopper = StopAtCreate(emulator, STOP_AFTER)
    stopper.register(client)

    async def stopped() -> None:
        await anyio.to_thread.run_sync(stopper.stopped.wait, RUN_BOUND_SECONDS)
        assert stopper.stopped.is_set(), "the emulator was never stopped"

    try:
        with AppServer(settings, client) as server:
            responses = await sign_up_all(server.url, tried, second_wave=stopped)
    finally:
        client.close()

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409, 503}, [r.text for r in responses if r.status_code >= 500]
    # Both sides of the stop were exercised: accounts were made, and refused for want of Cognito.
    assert statuses[201] >= 1
    assert statuses[503] >= 1
    assert {r.json()["error"] for r in responses if r.status_code == 409} <= {"email_taken"}
    unavailable = [r for r in responses if r.status_code == 503]
    assert {r.json()["error"] for r in unavailable} == {"cognito_unavailable"}
    assert all(r.headers["retry-after"].isdigit() for r in unavailable)
    created = accounts_made(tried, responses)
    assert len({email.lower() for email in created.values()}) == len(created)

    assert stopper.username is not None
    assert stopper.username not in created
    cut = await records_in(database_url)
    assert cut[stopper.username][1] == "pending"

    # The restarted emulator still knows the users created before the stop, the cut one too.
    emulator.start()
    kept = await anyio.to_thread.run_sync(cognito_users, pool)
    assert created.keys() <= kept.keys()
    assert kept[stopper.username][1] == "FORCE_CHANGE_PASSWORD"

    store = SQLUserStore(database_url)
    try:
        report = await reconcile(store, settings, older_than=0)
    finally:
        await store.aclose()
    assert report.failed == [], report
    assert stopper.username in report.undone

    records = await records_in(database_url)
    users = await anyio.to_thread.run_sync(cognito_users, pool)
    assert_in_agreement(records, users)
    assert created.items() <= {i: email for i, (email, _) in records.items()}.items()


async def test_a_clash_with_a_sign_up_undone_meanwhile_is_email_taken(database_url: str) -> None:
    """An insert refused by the unique email, whose holder is deleted (its sign-up undone) before
    the store looks it up, is still EmailTakenError (409), not an IntegrityError (500)."""
    store = SQLUserStore(database_url)
    now = datetime.now(UTC)
    try:
        await store.insert_pending(UserRecord("holder", "Holder", "same@example.com", now))
        refused = False

        def note_refusal(context: Any) -> None:
            nonlocal refused
            refused = True

        def undo_holder(conn: sa.Connection, *_: Any) -> None:
            nonlocal refused
            # The first statement after the refused insert: the holder's undo lands just before.
            if refused:
                refused = False
                conn.exec_driver_sql("DELETE FROM cognito_asgi_users WHERE id = 'holder'")

        sa.event.listen(store.engine.sync_engine, "handle_error", note_refusal)
        sa.event.listen(store.engine.sync_engine, "before_cursor_execute", undo_holder)
        with pytest.raises(EmailTakenError):
            await store.insert_pending(UserRecord("late", "Late", "SAME@example.com", now))
        assert await store.get("holder") is None
        assert await store.get("late") is None
    finally:
        await store.aclose()
