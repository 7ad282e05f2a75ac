"""SQLUserStore on SQLite and PostgreSQL: the schema, case-insensitive unique emails, states,
pending lists, time zones, lazy table creation and unreachable databases."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cognito_asgi import ConfigurationError
from cognito_asgi.accounts import (
    EmailTakenError,
    SQLUserStore,
    StoreUnavailableError,
    UserRecord,
)
from tests.accounts.conftest import free_port

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def record(user_id: str, email: str, created_at: datetime = T0) -> UserRecord:
    return UserRecord(user_id, f"name {user_id}", email, created_at, "pending")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SQLUserStore]:
    store = SQLUserStore(database_url)
    yield store
    await store.aclose()


async def test_records_round_trip_with_aware_times(store: SQLUserStore) -> None:
    """A record comes back as inserted, created_at aware and equal (any offset in, UTC out)."""
    paris = timezone(timedelta(hours=1))
    inserted = record("a", "A.Person@Example.COM", T0.astimezone(paris))
    await store.insert_pending(inserted)
    got = await store.get("a")
    assert got == inserted
    assert got is not None
    assert got.created_at.utcoffset() == timedelta(0)
    assert await store.get("missing") is None


async def test_emails_are_unique_case_insensitively(store: SQLUserStore) -> None:
    """get_by_email ignores case, and a second record whose email differs only in case is
    refused with EmailTakenError."""
    await store.insert_pending(record("a", "Ada@Example.com"))
    found = await store.get_by_email("ADA@example.COM")
    assert found is not None
    assert found.id == "a"
    with pytest.raises(EmailTakenError) as refused:
        await store.insert_pending(record("b", "ada@EXAMPLE.com"))
    assert refused.value.email == "ada@EXAMPLE.com"
    assert await store.get("b") is None


async def test_concurrent_inserts_of_one_email_admit_one(store: SQLUserStore) -> None:
    """Twenty concurrent inserts with one email: exactly one succeeds."""
    results = await asyncio.gather(
        *(store.insert_pending(record(f"id{i}", "same@example.com")) for i in range(20)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, EmailTakenError) for r in results if r is not None)


async def test_activate_and_delete(store: SQLUserStore) -> None:
    """activate turns a pending record active once; delete removes it once."""
    await store.insert_pending(record("a", "a@example.com"))
    assert await store.activate("a") is True
    assert await store.activate("a") is False
    assert await store.activate("missing") is False
    got = await store.get("a")
    assert got is not None
    assert got.state == "active"
    assert await store.delete("a") is True
    assert await store.delete("a") is False
    assert await store.get_by_email("a@example.com") is None


async def test_list_pending_returns_old_pending_records_oldest_first(store: SQLUserStore) -> None:
    """list_pending(older_than) gives pending records created before the instant, oldest first,
    up to the limit, and never active ones."""
    for i, minutes in enumerate([30, 10, 50, 20]):
        await store.insert_pending(
            record(f"p{i}", f"p{i}@example.com", T0 - timedelta(minutes=minutes))
        )
    await store.activate("p2")
    cutoff = T0 - timedelta(minutes=15)
    assert [r.id for r in await store.list_pending(cutoff)] == ["p0", "p3"]
    assert [r.id for r in await store.list_pending(T0)] == ["p0", "p3", "p1"]
    assert [r.id for r in await store.list_pending(T0, limit=1)] == ["p0"]
    # Another time zone for the cutoff compares by instant.
    elsewhere = cutoff.astimezone(timezone(timedelta(hours=-8)))
    assert [r.id for r in await store.list_pending(elsewhere)] == ["p0", "p3"]


async def test_naive_datetimes_are_refused(store: SQLUserStore) -> None:
    """A naive datetime has no instant: the store refuses it rather than guessing."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.insert_pending(record("n", "n@example.com", datetime(2026, 1, 1)))


async def test_the_documented_schema_is_created_on_first_use(
    store: SQLUserStore, database_url: str
) -> None:
    """The table cognito_asgi_users appears on first use with the documented columns, a unique
    index on the lower-cased email and an index on (state, created_at)."""
    async with store.engine.connect() as conn:
        assert "cognito_asgi_users" not in await conn.run_sync(
            lambda c: sa.inspect(c).get_table_names()
        )
    await store.get("x")

    def describe(conn: sa.Connection) -> tuple[list[str], list[tuple[Any, list[Any], bool]]]:
        inspector = sa.inspect(conn)
        columns = [c["name"] for c in inspector.get_columns("cognito_asgi_users")]
        indexes = [
            (i["name"], list(i["column_names"]), bool(i["unique"]))
            for i in inspector.get_indexes("cognito_asgi_users")
        ]
        return columns, indexes

    async with store.engine.connect() as conn:
        columns, indexes = await conn.run_sync(describe)
    assert columns == ["id", "name", "email", "email_normalized", "state", "created_at"]
    assert sorted(indexes) == [
        ("ix_cognito_asgi_users_email_normalized", ["email_normalized"], True),
        ("ix_cognito_asgi_users_state_created_at", ["state", "created_at"], False),
    ]


async def test_the_state_column_is_checked(store: SQLUserStore) -> None:
    """The database itself refuses states other than pending and active."""
    await store.insert_pending(record("a", "a@example.com"))
    with pytest.raises(sa.exc.IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE cognito_asgi_users SET state = 'weird'"))


async def test_an_unreachable_postgres_is_store_unavailable() -> None:
    """Nothing listening on the port: StoreUnavailableError (503 upstream), not a crash."""
    store = SQLUserStore(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    with pytest.raises(StoreUnavailableError) as unavailable:
        await store.get("x")
    assert unavailable.value.retry_after == 5
    await store.aclose()


async def test_a_locked_sqlite_file_is_store_unavailable(tmp_path: Path) -> None:
    """A SQLite file locked by another writer beyond the busy timeout: StoreUnavailableError."""
    path = tmp_path / "locked.sqlite3"
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", connect_args={"timeout": 0.05})
    store = SQLUserStore(engine=engine)
    await store.get("x")
    locker = sqlite3.connect(path)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailableError):
            await store.insert_pending(record("a", "a@example.com"))
    finally:
        locker.rollback()
        locker.close()
    await store.aclose()
    await engine.dispose()


def test_the_url_must_name_a_supported_driver() -> None:
    """Only sqlite+aiosqlite and postgresql+asyncpg URLs are accepted, naming the variable."""
    with pytest.raises(ConfigurationError, match="COGNITO_ACCOUNTS_DATABASE_URL"):
        SQLUserStore("mysql://db/users")


def test_the_url_defaults_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a URL the store reads COGNITO_ACCOUNTS_DATABASE_URL; its repr hides passwords."""
    monkeypatch.setenv("COGNITO_ACCOUNTS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/e.db")
    assert str(tmp_path) in repr(SQLUserStore())
    secret = SQLUserStore("postgresql+asyncpg://user:hunter2@db/app")
    assert "hunter2" not in repr(secret)


async def test_an_in_memory_sqlite_database_is_shared(tmp_path: Path) -> None:
    """sqlite+aiosqlite:// (in memory) keeps one database for all of the store's work."""
    store = SQLUserStore("sqlite+aiosqlite://")
    await store.insert_pending(record("m", "m@example.com"))
    assert await store.get("m") is not None
    await store.aclose()
