from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import anyio

from cognito_asgi._errors import ConfigurationError

from ._errors import ServiceUnavailableError

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import MovingWindowRateLimiter

__all__ = ["RateLimiter"]

logger = logging.getLogger("cognito_asgi.accounts")


class RateLimiter:
    """A moving-window limit per key (the client address), kept by the `limits` library in
    memory (`memory://`, one process) or in Redis (`redis://HOST:PORT[/DB]`, shared by every
    server that points at it). Storage is connected on first use, inside the event loop."""

    def __init__(
        self, rate: str, storage: str = "memory://", *, prefix: str = "cognito-asgi"
    ) -> None:
        from limits import parse

        try:
            self.item: RateLimitItem = parse(rate)
        except ValueError:
            raise ConfigurationError(
                "COGNITO_ACCOUNTS_RATE_LIMIT", f"{rate!r} is not a rate such as 10/minute"
            ) from None
        if not storage.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigurationError(
                "COGNITO_ACCOUNTS_RATE_LIMIT_STORAGE", "expected memory:// or redis://HOST:PORT"
            )
        self.rate = rate
        self.storage_url = storage
        self.prefix = prefix
        self._limiter: MovingWindowRateLimiter | None = None
        self._pool: Any = None
        self._lock = anyio.Lock()

    async def hit(self, key: str) -> int | None:
        """Count one request for `key`: None if allowed, else the seconds until one would be."""
        limiter = await self._get_limiter()
        try:
            if await limiter.hit(self.item, self.prefix, key):
                return None
            stats = await limiter.get_window_stats(self.item, self.prefix, key)
        except Exception as exc:
            # Fail closed: an unreachable limit store must not open the gate to Cognito.
            logger.error(
                "rate-limit storage %s unavailable: %s",
                _without_password(self.storage_url),
                type(exc).__name__,
            )
            raise ServiceUnavailableError("the rate limiter is unavailable", retry_after=5) from exc
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def aclose(self) -> None:
        pool, self._pool, self._limiter = self._pool, None, None
        if pool is not None:
            await pool.aclose()

    async def _get_limiter(self) -> MovingWindowRateLimiter:
        if self._limiter is not None:
            return self._limiter
        async with self._lock:
            if self._limiter is None:
                from limits.aio.strategies import MovingWindowRateLimiter

                self._limiter = MovingWindowRateLimiter(self._storage())
            return self._limiter

    def _storage(self) -> Any:
        if self.storage_url.startswith("memory://"):
            from limits.aio.storage import MemoryStorage

            return MemoryStorage()
        try:
            import redis.asyncio
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "a redis:// rate-limit storage needs the redis extra: "
                "pip install 'cognito-asgi[redis]'"
            ) from None
        from limits.aio.storage import RedisStorage

        # Our own pool, so that aclose() can close its connections.
        self._pool = redis.asyncio.ConnectionPool.from_url(
            self.storage_url, socket_connect_timeout=5, socket_timeout=5
        )
        return RedisStorage(
            "async+" + self.storage_url,
            implementation="redispy",
            connection_pool=self._pool,
            key_prefix="cognito-asgi-limits",
        )


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest
