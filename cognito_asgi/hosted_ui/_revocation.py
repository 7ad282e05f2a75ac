from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Literal

import anyio.to_thread
import httpx

from cognito_asgi._errors import ConfigurationError
from cognito_asgi._jwks import JWKSCache
from cognito_asgi._settings import CognitoSettings
from cognito_asgi._verifier import Claims, CustomCheck, TokenVerifier

from ._errors import RevocationUnavailableError, RevokedTokenError
from ._session import SingleFlight

__all__ = ["RevocationCheck", "RevocationCheckingVerifier"]

logger = logging.getLogger("cognito_asgi.hosted_ui")

_Outcome = Literal["valid", "revoked", "unavailable"]
# Cognito's answers for a token it no longer accepts: revoked by GlobalSignOut,
# AdminUserGlobalSignOut or RevokeToken, expired, or the user disabled or deleted.
_REVOKED_CODES = frozenset({"NotAuthorizedException", "UserNotFoundException"})


class RevocationCheck:
    """Asks Cognito (`GetUser` with the access token) whether a token is still accepted, at
    most once per token per `interval` seconds.

    A signed JWT stays valid until its `exp` whatever happens at Cognito; this check notices a
    global sign-out, a revoked refresh token or a disabled user within `interval` seconds.
    Results are kept for up to `max_entries` tokens; concurrent checks of one token share one
    call. When Cognito cannot be asked, the request is refused with 503 (fail closed)::

        verifier = RevocationCheckingVerifier(settings, revocation=RevocationCheck(settings))
        app = CognitoAuthMiddleware(app, verifier=verifier)

    `cognito_client` is a boto3 `cognito-idp` client (by default one for the pool's region and
    `COGNITO_ENDPOINT_URL`); its calls run in a worker thread.
    """

    def __init__(
        self,
        settings: CognitoSettings,
        *,
        interval: float = 60.0,
        max_entries: int = 10_000,
        cognito_client: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.token_use != "access":
            raise ConfigurationError(
                "COGNITO_TOKEN_USE",
                "the revocation check needs access tokens (GetUser accepts no id tokens); "
                "set it to access",
            )
        if not interval > 0:
            raise ValueError("interval must be > 0")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if cognito_client is None:
            import boto3
            from botocore.config import Config

            cognito_client = boto3.client(
                "cognito-idp",
                region_name=settings.region,
                endpoint_url=settings.endpoint_url,
                config=Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2}),
            )
        self.interval = interval
        self.max_entries = max_entries
        self._client = cognito_client
        self._clock = clock
        self._results: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._flights = SingleFlight()
        #: How many times Cognito was asked (for monitoring and tests).
        self.calls = 0

    async def check(self, token: str, claims: Claims) -> None:
        """Raise `RevokedTokenError` if Cognito no longer accepts `token` (already verified)."""
        if claims.get("token_use") != "access":
            raise RevokedTokenError()
        # Keyed by the token itself: str hashing is cheaper than a digest, and the cache is
        # bounded by max_entries (tokens are 1-4 KB).
        key = token
        entry = self._results.get(key)
        if entry is not None:
            checked_at, valid = entry
            if not valid:
                raise RevokedTokenError()
            if self._clock() - checked_at < self.interval:
                self._results.move_to_end(key)
                return
        outcome: _Outcome = await self._flights.run(key, lambda: self._ask(token))
        if outcome == "revoked":
            raise RevokedTokenError()
        if outcome == "unavailable":
            raise RevocationUnavailableError()

    async def _ask(self, token: str) -> _Outcome:
        self.calls += 1
        outcome = await anyio.to_thread.run_sync(self._get_user, token)
        if outcome != "unavailable":
            self._results[token] = (self._clock(), outcome == "valid")
            self._results.move_to_end(token)
            while len(self._results) > self.max_entries:
                self._results.popitem(last=False)
        return outcome

    def _get_user(self, token: str) -> _Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        from cognito_asgi.accounts._redact import redacting

        try:
            # botocore logs request bodies at DEBUG; the access token must not reach the log.
            with redacting(token):
                self._client.get_user(AccessToken=token)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REVOKED_CODES:
                return "revoked"
            logger.warning("revocation check failed: Cognito answered %s", code or "?")
            return "unavailable"
        except BotoCoreError as exc:
            logger.warning("revocation check failed: %s", type(exc).__name__)
            return "unavailable"
        return "valid"


class RevocationCheckingVerifier(TokenVerifier):
    """A `TokenVerifier` that also runs a `RevocationCheck` on every verified token.

    The check runs after the standard verification, also for tokens served from the
    verifier's cache, so a revoked token is refused within the check's interval::

        verifier = RevocationCheckingVerifier(settings, revocation=RevocationCheck(settings))
        app = CognitoAuthMiddleware(app, verifier=verifier)
    """

    def __init__(
        self,
        settings: CognitoSettings,
        *,
        revocation: RevocationCheck | None = None,
        jwks: JWKSCache | None = None,
        http_client: httpx.AsyncClient | None = None,
        groups: Iterable[str] = (),
        scopes: Iterable[str] = (),
        custom_check: CustomCheck | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            settings,
            jwks=jwks,
            http_client=http_client,
            groups=groups,
            scopes=scopes,
            custom_check=custom_check,
            clock=clock,
        )
        self.revocation = revocation or RevocationCheck(settings)

    async def check_use(self, token: str, claims: Claims) -> None:
        await super().check_use(token, claims)
        await self.revocation.check(token, claims)
