from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import anyio

from cognito_asgi._errors import ConfigurationError

from ._errors import EmailTakenError, StoreUnavailableError
from ._store import UserRecord, UserStore

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import RowMapping
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["DEFAULT_DATABASE_URL", "TABLE_NAME", "SQLUserStore"]

logger = logging.getLogger("cognito_asgi.accounts")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///cognito_asgi_accounts.sqlite3"
TABLE_NAME = "cognito_asgi_users"
_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")


@cache
def _table(name: str) -> sa.Table:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        # lower(email): the unique index makes emails unique case-insensitively on every backend.
        sa.Column("email_normalized", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'active')", name=f"ck_{name}_state"),
        sa.Index(f"ix_{name}_email_normalized", "email_normalized", unique=True),
        sa.Index(f"ix_{name}_state_created_at", "state", "created_at"),
    )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes given to the store must be timezone-aware")
    # SQLite keeps no offset: every stored time is UTC so that text comparison orders them.
    return moment.astimezone(UTC)


def normalize_email(email: str) -> str:
    return email.strip().lower()


class SQLUserStore(UserStore):
    """User records in SQL through SQLAlchemy's async core: SQLite or PostgreSQL.

    Usage::

        store = SQLUserStore("sqlite+aiosqlite:///var/lib/app/users.sqlite3")
        store = SQLUserStore("postgresql+asyncpg://app@db.internal/app")

    Without a URL, `COGNITO_ACCOUNTS_DATABASE_URL` is read (default: a SQLite file in the
    working directory). The table (`cognito_asgi_users` unless `table_name` says otherwise) is
    created on first use. `engine` passes a ready `AsyncEngine` instead of a URL; the store then
    leaves its disposal to the caller.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: AsyncEngine | None = None,
        table_name: str = TABLE_NAME,
    ) -> None:
        try:
            from sqlalchemy.ext.asyncio import create_async_engine
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "SQLUserStore needs the accounts extra: pip install 'cognito-asgi[accounts]'"
            ) from None
        self._table = _table(table_name)
        self._owns_engine = engine is None
        if engine is None:
            url = url or os.environ.get("COGNITO_ACCOUNTS_DATABASE_URL") or DEFAULT_DATABASE_URL
            if not url.startswith(_SCHEMES):
                raise ConfigurationError(
                    "COGNITO_ACCOUNTS_DATABASE_URL",
                    "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB",
                )
            engine = create_async_engine(url, **_engine_options(url))
        self.engine = engine
        self._ready = False
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"SQLUserStore({self.engine.url.render_as_string(hide_password=True)!r})"

    async def insert_pending(self, record: UserRecord) -> None:
        import sqlalchemy.exc

        values = {
            "id": record.id,
            "name": record.name,
            "email": record.email,
            "email_normalized": normalize_email(record.email),
            "state": "pending",
            "created_at": _utc(record.created_at),
        }
        try:
            async with self._begin() as conn:
                await conn.execute(self._table.insert().values(**values))
        except sqlalchemy.exc.IntegrityError:
            # The email's holder may be gone by the time we look (its sign-up was undone): the
            # email was still taken when we inserted, unless it was our id that clashed.
            holder = await self.get_by_email(record.email)
            if holder is not None or await self.get(record.id) is None:
                raise EmailTakenError(record.email) from None
            raise

    async def activate(self, user_id: str) -> bool:
        table = self._table
        statement = (
            table.update()
            .where(table.c.id == user_id, table.c.state == "pending")
            .values(state="active")
        )
        async with self._begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def delete(self, user_id: str) -> bool:
        table = self._table
        async with self._begin() as conn:
            result = await conn.execute(table.delete().where(table.c.id == user_id))
        return bool(result.rowcount)

    async def get(self, user_id: str) -> UserRecord | None:
        return await self._one(self._table.c.id == user_id)

    async def get_by_email(self, email: str) -> UserRecord | None:
        return await self._one(self._table.c.email_normalized == normalize_email(email))

    async def list_pending(self, older_than: datetime, *, limit: int = 1000) -> list[UserRecord]:
        table = self._table
        statement = (
            table.select()
            .where(table.c.state == "pending", table.c.created_at < _utc(older_than))
            .order_by(table.c.created_at, table.c.id)
            .limit(limit)
        )
        async with self._begin() as conn:
            rows = (await conn.execute(statement)).mappings().all()
        return [_record(row) for row in rows]

    async def aclose(self) -> None:
        if self._owns_engine:
            await self.engine.dispose()

    async def _one(self, condition: Any) -> UserRecord | None:
        async with self._begin() as conn:
            row = (await conn.execute(self._table.select().where(condition))).mappings().first()
        return None if row is None else _record(row)

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        import sqlalchemy.exc

        try:
            if not self._ready:
                await self._create_tables()
            async with self.engine.begin() as conn:
                yield conn
        except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError, OSError) as exc:
            # Unreachable server, refused or dropped connection, a locked SQLite file, an
            # exhausted pool: worth a retry later. Other database errors (constraints, bugs,
            # faults) propagate.
            unavailable = not isinstance(exc, sqlalchemy.exc.DBAPIError) or (
                exc.connection_invalidated
                or isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError)
            )
            if not unavailable:
                raise
            logger.error(
                "user store %s unavailable: %s",
                self.engine.url.render_as_string(hide_password=True),
                type(exc).__name__,
            )
            raise StoreUnavailableError("the user store is unavailable", retry_after=5) from exc

    async def _create_tables(self) -> None:
        import sqlalchemy.exc

        async with self._lock:
            if self._ready:
                return
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(self._table.metadata.create_all)
            except (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError):
                # Another process created the table between our check and our CREATE.
                async with self.engine.begin() as conn:
                    await conn.run_sync(self._table.metadata.create_all)
            self._ready = True


def _engine_options(url: str) -> dict[str, Any]:
    if not url.startswith("sqlite"):
        return {"pool_pre_ping": True}
    from sqlalchemy.engine import make_url

    options: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if make_url(url).database in (None, "", ":memory:"):
        from sqlalchemy.pool import StaticPool

        # One shared connection, or each connection would see its own empty database.
        options["poolclass"] = StaticPool
    return options


def _record(row: RowMapping) -> UserRecord:
    created_at: datetime = row["created_at"]
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return UserRecord(
        id=row["id"],
        name=row["name"],
        email=row["email"],
        created_at=created_at,
        state=row["state"],
    )
