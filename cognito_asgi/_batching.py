"""Verification of the new tokens of concurrent requests, one after another in one go."""

from __future__ import annotations

import asyncio

from ._errors import CognitoError
from ._user import CognitoUser
from ._verifier import TokenVerifier

__all__ = ["VerificationBatches"]

_Batch = list[tuple[str, "asyncio.Future[CognitoUser | None]"]]


class VerificationBatches:
    """Verifies the uncached tokens of requests that an event loop starts together, in a batch.

    A loaded server starts many requests in one turn of its event loop. Verified one by one
    inside each request, between the parsing and answering of the others, every verification
    (an RSA operation, base64 and JSON) runs with the processor's caches holding the server's
    code instead, and costs about twice what it costs run back to back. So a request with a
    token not in the cache waits here: the tokens gathered during one turn are verified in the
    next, one after another, and their requests then continue one after another too, a turn
    later. A lone request is held for those two turns, at the cost of a future.

    Only for verifiers that verify a token with a known key without awaiting anything
    (`TokenVerifier._verifies_without_waiting`). A token whose key set must first be fetched
    is handed back to its request, which awaits `authenticate()` as without batches. Outside
    asyncio (trio, say) every request verifies its own token.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        # The batch being gathered in each event loop (an app may serve from several in turn,
        # as in tests); a loop's entry lasts until its batch is verified, one turn later. Each
        # loop touches only its own entry, with single dict operations.
        self._gathering: dict[asyncio.AbstractEventLoop, _Batch] = {}

    async def authenticate(self, token: str) -> CognitoUser:
        """The user of `token`, as `verifier.authenticate(token)` gives it."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return await self.verifier.authenticate(token)
        batch = self._gathering.get(loop)
        if batch is None:
            batch = self._gathering[loop] = []
            loop.call_soon(self._verify, loop, batch)
        future: asyncio.Future[CognitoUser | None] = loop.create_future()
        batch.append((token, future))
        user = await future
        if user is None:
            return await self.verifier.authenticate(token)  # its key set must be fetched
        return user

    def _verify(self, loop: asyncio.AbstractEventLoop, batch: _Batch) -> None:
        if self._gathering.get(loop) is batch:
            del self._gathering[loop]
        stats = self.verifier.stats
        stats.verification_batches += 1
        stats.batched_requests += len(batch)
        authenticate_now = self.verifier._authenticate_now
        try:
            for token, future in batch:
                if future.done():
                    continue  # its request was cancelled meanwhile
                try:
                    future.set_result(authenticate_now(token))
                except CognitoError as exc:
                    # A refusal needs no traceback; this one would tie the batch to it.
                    future.set_exception(exc.with_traceback(None))
                except Exception as exc:
                    future.set_exception(exc)
        finally:
            # Only a BaseException (KeyboardInterrupt, say) leaves the loop early: the requests
            # still waiting must not wait for ever.
            for _, future in batch:
                if not future.done():
                    future.cancel()
