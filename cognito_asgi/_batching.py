"""Verification of the new tokens of concurrent requests, one after another in one go."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Generator
from threading import get_ident
from typing import Any

from ._errors import CognitoError
from ._user import CognitoUser
from ._verifier import _CACHE_KEY, TokenVerifier

__all__ = ["VerificationBatches"]

#: A request's outcome before its batch has verified its token.
_PENDING: Any = object()


@types.coroutine
def _next_turn() -> Generator[None, None, None]:
    """Suspend the awaiting task until the next turn of its asyncio loop, as asyncio.sleep(0)."""
    yield


class _Batch:
    """The requests gathered in one turn of `loop`: each a [token, outcome] pair."""

    __slots__ = ("loop", "requests")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.requests: list[list[Any]] = []


class VerificationBatches:
    """Verifies the uncached tokens of requests that an event loop starts together, in a batch.

    A loaded server starts many requests in one turn of its event loop. Verified one by one
    inside each request, between the parsing and answering of the others, every verification
    (an RSA operation, base64 and JSON) runs with the processor's caches holding the server's
    code instead, and costs about twice what it costs run back to back. So a request with a
    token not in the cache waits here: the tokens gathered during one turn are verified at the
    start of the next, one after another, and their requests then continue one after another
    too. A lone request is held for that one turn.

    The batch's verification is scheduled with `call_soon` before any of its requests yields,
    and asyncio runs callbacks in the order they were scheduled, so it has always run when they
    resume. A request that finds no outcome all the same (its batch's loop was stopped first,
    or a KeyboardInterrupt ended the batch early) verifies its own token.

    Only for verifiers that verify a token with a known key without awaiting anything
    (`TokenVerifier._verifies_without_waiting`). A token whose key set must first be fetched
    is handed back to its request, which awaits `authenticate()` as without batches. Outside
    asyncio (trio, say) every request verifies its own token.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        # The batch being gathered in each thread, by thread id: a thread runs one event loop
        # at a time, so a batch whose loop is running is the current loop's. Looking the loop
        # up for every request (asyncio.get_running_loop) costs a getpid() system call.
        self._gathering: dict[int, _Batch] = {}

    async def authenticate(self, token: str) -> CognitoUser:
        """The user of `token`, as `verifier.authenticate(token)` gives it."""
        thread = get_ident()
        batch = self._gathering.get(thread)
        if batch is None or not batch.loop.is_running():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return await self.verifier.authenticate(token)
            batch = self._gathering[thread] = _Batch(loop)
            loop.call_soon(self._verify, thread, batch)
        request = [token, _PENDING]
        batch.requests.append(request)
        await _next_turn()
        outcome = request[1]
        if isinstance(outcome, CognitoUser):
            return outcome
        if isinstance(outcome, BaseException):
            raise outcome
        # None: the key set must be fetched first. _PENDING: the batch did not get this far.
        return await self.verifier.authenticate(token)

    def _verify(self, thread: int, batch: _Batch) -> None:
        if self._gathering.get(thread) is batch:
            del self._gathering[thread]
        stats = self.verifier.stats
        stats.verification_batches += 1
        stats.batched_requests += len(batch.requests)
        authenticate_now = self.verifier._authenticate_now
        # The tokens accepted so far and their users, for requests that share a new token (the
        # calls a client makes at once after signing in). Indexed as the cache indexes them, by
        # their last characters: hashing a whole token costs more than comparing one.
        accepted: dict[str, tuple[str, CognitoUser]] = {}
        for request in batch.requests:
            token = request[0]
            key = token[_CACHE_KEY]
            known = accepted.get(key)
            if known is not None and known[0] == token:
                stats.cache_hits += 1
                request[1] = known[1]
                continue
            try:
                request[1] = user = authenticate_now(token)
            except CognitoError as exc:
                # A refusal needs no traceback; this one would tie the batch to it.
                request[1] = exc.with_traceback(None)
            except Exception as exc:
                request[1] = exc
            else:
                if user is not None:
                    accepted[key] = (token, user)
