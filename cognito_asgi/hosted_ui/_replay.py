from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["MemoryReplayStore", "ReplayStore"]


@runtime_checkable
class ReplayStore(Protocol):
    """Remembers used sign-in `state` values, so each is accepted once.

    `add` records `key` for `ttl` seconds and returns False when it was already recorded. It must
    be atomic: of two concurrent calls with one key, exactly one returns True. With several
    server processes, use a shared store, e.g. Redis `SET key 1 NX EX ttl`.
    """

    async def add(self, key: str, ttl: float) -> bool: ...


class MemoryReplayStore:
    """A `ReplayStore` in this process's memory, bounded in size (oldest entries go first).

    Usage::

        HostedUIApp(replay_store=MemoryReplayStore(max_entries=100_000))
    """

    def __init__(
        self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def add(self, key: str, ttl: float) -> bool:
        # No await in here: on one event loop the check and the insert cannot interleave.
        now = self._clock()
        seen = self._seen
        while seen:
            oldest_key, expires = next(iter(seen.items()))
            if expires > now:
                break
            del seen[oldest_key]
        if key in seen and seen[key] > now:
            return False
        seen[key] = now + ttl
        seen.move_to_end(key)
        while len(seen) > self._max_entries:
            seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)
