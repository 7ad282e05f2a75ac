"""Nothing lost: a sign-up process killed between any two steps leaves a pending record, and
`reconcile` (the function and `cognito-asgi accounts reconcile`) finishes or undoes it by asking
Cognito, idempotently."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio.to_thread
import pytest

from cognito_asgi._cli import main
from cognito_asgi.accounts import ReconcileReport, SQLUserStore, UserRecord, reconcile
from tests.accounts.conftest import cognito_client, free_port, run_async_in_thread, settings_for
from tests.conftest import CognitoPool

SCRIPT = Path(__file__).with_name("die_mid_sign_up.py")
KILLED = 17
PASSWORD = "Correct-Horse-7-Battery"
LATER = datetime.now(UTC) + timedelta(days=365)


def die_mid_sign_up(
    cognito: CognitoPool, database_url: str, flow: str, event: str, email: str
) -> None:
    """Run a sign-up in a child process that is killed when `event` fires."""
    env = {
        **os.environ,
        **cognito.environ,
        "COGNITO_ACCOUNTS_DATABASE_URL": database_url,
        "COGNITO_ACCOUNTS_PASSWORD_FLOW": flow,
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), event, email],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == KILLED, result.stdout + result.stderr


def cognito_status(cognito: CognitoPool, username: str) -> str | None:
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    statuses = {user["Username"]: user["UserStatus"] for user in users}
    assert set(statuses) <= {username}
    return statuses.get(username)


KILLS = [
    # (flow, event at which the process dies, Cognito status left, what reconcile does)
    pytest.param(
        "challenge",
        "before-call.cognito-idp.AdminCreateUser",
        None,
        "removed",
        id="before-create",
    ),
    pytest.param(
        "challenge",
        "after-call.cognito-idp.AdminCreateUser",
        "FORCE_CHANGE_PASSWORD",
        "undone",
        id="after-create",
    ),
    pytest.param(
        "challenge",
        "after-call.cognito-idp.AdminInitiateAuth",
        "FORCE_CHANGE_PASSWORD",
        "undone",
        id="after-initiate",
    ),
    pytest.param(
        "challenge",
        "after-call.cognito-idp.AdminRespondToAuthChallenge",
        "CONFIRMED",
        "activated",
        id="after-respond",
    ),
    pytest.param(
        "set_password",
        "after-call.cognito-idp.AdminCreateUser",
        "FORCE_CHANGE_PASSWORD",
        "undone",
        id="set-password-after-create",
    ),
    pytest.param(
        "set_password",
        "after-call.cognito-idp.AdminSetUserPassword",
        "CONFIRMED",
        "activated",
        id="after-set-password",
    ),
]


@pytest.mark.parametrize(("flow", "event", "left", "outcome"), KILLS)
async def test_reconcile_resolves_a_sign_up_killed_between_steps(
    cognito: CognitoPool,
    sqlite_url: str,
    flow: str,
    event: str,
    left: str | None,
    outcome: str,
) -> None:
    """After the kill the record is pending and Cognito is as the step left it; reconcile then
    activates a CONFIRMED user, deletes a half-made one with its record, or removes a record
    whose user was never created; a second run finds nothing to do."""
    email = "killed@example.com"
    await anyio.to_thread.run_sync(lambda: die_mid_sign_up(cognito, sqlite_url, flow, event, email))
    store = SQLUserStore(sqlite_url)
    try:
        [pending] = await store.list_pending(LATER)
        assert (pending.email, pending.state) == (email, "pending")
        assert cognito_status(cognito, pending.id) == left

        settings = settings_for(cognito)
        client = cognito_client(cognito.endpoint)
        report = await reconcile(store, settings, cognito_client=client, older_than=0)
        assert getattr(report, outcome) == [pending.id]
        assert report.checked == 1

        record = await store.get(pending.id)
        if outcome == "activated":
            assert record is not None
            assert record.state == "active"
            assert cognito_status(cognito, pending.id) == "CONFIRMED"
            assert "AccessToken" in cognito.sign_in(pending.id, PASSWORD)
        else:
            assert record is None
            assert cognito_status(cognito, pending.id) is None

        again = await reconcile(store, settings, cognito_client=client, older_than=0)
        assert again == ReconcileReport()
    finally:
        await store.aclose()


async def test_reconcile_leaves_young_pending_records_alone(
    cognito: CognitoPool, sqlite_url: str
) -> None:
    """Records younger than older_than may belong to a sign-up still in progress: untouched."""
    store = SQLUserStore(sqlite_url)
    record = UserRecord(
        "young-id", "Y", "young@example.com", datetime.now(UTC) - timedelta(seconds=30), "pending"
    )
    await store.insert_pending(record)
    try:
        report = await reconcile(
            store,
            settings_for(cognito),
            cognito_client=cognito_client(cognito.endpoint),
            older_than=60,
        )
        assert report.checked == 0
        assert await store.get("young-id") == record
        old = await reconcile(
            store,
            settings_for(cognito),
            cognito_client=cognito_client(cognito.endpoint),
            older_than=60,
            clock=lambda: datetime.now(UTC) + timedelta(minutes=5),
        )
        assert old.removed == ["young-id"]
    finally:
        await store.aclose()


async def test_reconcile_keeps_records_it_cannot_resolve(
    cognito: CognitoPool, sqlite_url: str
) -> None:
    """With Cognito unreachable, reconcile reports the record as failed and keeps it pending."""
    store = SQLUserStore(sqlite_url)
    record = UserRecord(
        "stuck-id", "S", "stuck@example.com", datetime.now(UTC) - timedelta(hours=1), "pending"
    )
    await store.insert_pending(record)
    try:
        dead = cognito_client(f"http://127.0.0.1:{free_port()}", attempts=1)
        report = await reconcile(store, settings_for(cognito), cognito_client=dead, older_than=0)
        assert report.failed == ["stuck-id"]
        assert report.summary().endswith("1 failed")
        assert await store.get("stuck-id") == record
    finally:
        await store.aclose()


def test_the_reconcile_command_resolves_killed_sign_ups(
    cognito: CognitoPool,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cognito-asgi accounts reconcile --older-than 0` on each backend: one sign-up killed
    before its password was permanent is undone, one killed after is activated; the command
    prints what it did and a summary, exits 0, and a second run does nothing."""
    die_mid_sign_up(
        cognito,
        database_url,
        "challenge",
        "after-call.cognito-idp.AdminCreateUser",
        "half@example.com",
    )
    die_mid_sign_up(
        cognito,
        database_url,
        "set_password",
        "after-call.cognito-idp.AdminSetUserPassword",
        "done@example.com",
    )

    async def pending() -> dict[str, str]:
        store = SQLUserStore(database_url)
        try:
            return {r.email: r.id for r in await store.list_pending(LATER)}
        finally:
            await store.aclose()

    ids = run_async_in_thread(pending)
    assert set(ids) == {"half@example.com", "done@example.com"}
    for name, value in cognito.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COGNITO_ACCOUNTS_DATABASE_URL", database_url)

    assert main(["accounts", "reconcile", "--older-than", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"undone {ids['half@example.com']}" in out
    assert f"activated {ids['done@example.com']}" in out
    assert out[-1] == "2 pending record(s): 1 activated, 1 undone, 0 removed, 0 failed"

    async def records() -> dict[str, str]:
        store = SQLUserStore(database_url)
        try:
            found = [await store.get(user_id) for user_id in ids.values()]
            return {r.email: r.state for r in found if r is not None}
        finally:
            await store.aclose()

    assert run_async_in_thread(records) == {"done@example.com": "active"}
    users = cognito.client.list_users(UserPoolId=cognito.user_pool_id)["Users"]
    assert [(u["Username"], u["UserStatus"]) for u in users] == [
        (ids["done@example.com"], "CONFIRMED")
    ]

    assert main(["accounts", "reconcile", "--older-than", "0"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "0 pending record(s): 0 activated, 0 undone, 0 removed, 0 failed"
    ]


def test_the_reconcile_command_refuses_a_bad_threshold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--older-than must be a number of seconds ≥ 0; argparse says so and exits 2."""
    with pytest.raises(SystemExit) as exited:
        main(["accounts", "reconcile", "--older-than", "-5"])
    assert exited.value.code == 2
    assert "--older-than" in capsys.readouterr().err
