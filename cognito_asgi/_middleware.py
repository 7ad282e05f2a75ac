from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._batching import VerificationBatches
from ._errors import (
    CognitoError,
    InsufficientScopeError,
    InvalidRequestError,
    KeySetUnavailableError,
    MalformedTokenError,
    MissingTokenError,
    TokenError,
)
from ._requirements import _names, check_user
from ._settings import CognitoSettings
from ._user import CognitoUser
from ._verifier import _BEARER, TokenVerifier, _Entry

__all__ = [
    "CognitoAuthMiddleware",
    "ErrorHandler",
    "UserLoader",
    "default_error_response",
    "refusal_parts",
]

logger = logging.getLogger("cognito_asgi")

UserLoader = Callable[[CognitoUser], Awaitable[Any]]
ErrorHandler = Callable[[Scope, CognitoError], ASGIApp]

#: How many distinct scope sets get a shared AuthCredentials; a pool issues few.
_SHARED_SCOPE_SETS = 256


class _SharedCredentials(AuthCredentials):
    """The `scope["auth"]` of every request whose token carries the same scopes: built once,
    and read-only (`scopes` is a tuple, attributes cannot be set), so that no request can change
    another's.

    Not one object per request, because uvicorn keeps each connection's last scope alive until
    its next request: under 64 connections with uvloop or httptools, a new object in every
    request's scope made a FastAPI worker collect garbage about twelve times as often, full
    collections of its heap included (see the README's Performance section).
    """

    def __init__(self, scopes: tuple[str, ...]) -> None:
        object.__setattr__(self, "scopes", scopes)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("request.auth is shared between requests and read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("request.auth is shared between requests and read-only")


class _Anonymous(UnauthenticatedUser):
    """The `scope["user"]` of every request without a valid token, shared and read-only."""

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("the anonymous request.user is shared between requests and read-only")


_ANONYMOUS = _Anonymous()
_NO_CREDENTIALS = _SharedCredentials(())

# RFC 6750 §3: error_description is limited to printable ASCII without '"' and '\'.
_UNSAFE_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def _status_of(exc: CognitoError) -> int:
    if isinstance(exc, InvalidRequestError):
        return 400
    if isinstance(exc, TokenError):
        return 401
    if isinstance(exc, InsufficientScopeError):
        return 403
    return 503


def _challenge(exc: CognitoError) -> str:
    """The RFC 6750 §3 WWW-Authenticate value for a refusal."""
    if isinstance(exc, MissingTokenError):
        # §3.1: a request with no authentication information gets no error code.
        return 'Bearer realm="api"'
    if isinstance(exc, KeySetUnavailableError):
        return 'Bearer realm="api", error="temporarily_unavailable"'
    if isinstance(exc, InsufficientScopeError):
        error = "insufficient_scope"
    elif isinstance(exc, InvalidRequestError):
        error = "invalid_request"
    else:
        error = "invalid_token"
    description = _UNSAFE_DESCRIPTION.sub("", exc.message)
    value = f'Bearer realm="api", error="{error}", error_description="{description}"'
    if isinstance(exc, InsufficientScopeError) and exc.missing_scopes:
        value += f', scope="{_UNSAFE_DESCRIPTION.sub("", " ".join(exc.missing_scopes))}"'
    return value


def refusal_parts(exc: CognitoError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and JSON body of the HTTP refusal for `exc`."""
    status = _status_of(exc)
    body = json.dumps({"error": exc.code, "error_description": exc.message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", _challenge(exc).encode()),
        (b"cache-control", b"no-store"),
    ]
    if isinstance(exc, KeySetUnavailableError):
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    return status, headers, body


def default_error_response(scope: Scope, exc: CognitoError) -> ASGIApp:
    """The refusal cognito-asgi sends by default: JSON body, RFC 6750 header, right status.

    On a WebSocket it is sent as an HTTP response where the server supports the ASGI
    `websocket.http.response` extension, else the handshake is closed with 1008 (policy
    violation), or 1013 (try again later) when the key set is unavailable.
    """
    status, headers, body = refusal_parts(exc)

    async def respond(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {"type": "websocket.http.response.start", "status": status, "headers": headers}
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            code = 1013 if isinstance(exc, KeySetUnavailableError) else 1008
            await send({"type": "websocket.close", "code": code, "reason": exc.code})

    return respond


class CognitoAuthMiddleware:
    """ASGI middleware that verifies a Cognito token on every HTTP and WebSocket request.

    Usage::

        app = CognitoAuthMiddleware(app, public_paths=["/health", "/accounts"])

    On success `scope["user"]` is a `CognitoUser` and `scope["auth"]` an `AuthCredentials`
    whose `scopes` are `"authenticated"` and the token's scopes, so `request.user` and
    Starlette's `@requires` work; it is read-only, one object shared by the requests with the
    same scopes, its `scopes` a tuple. An anonymous request gets a shared, read-only
    `UnauthenticatedUser` and empty credentials. Outside `public_paths` (path prefixes, matched
    on `/` boundaries), a request without a valid token is refused with 401 and an RFC 6750
    `WWW-Authenticate` header. On a public path a missing or invalid token leaves the request
    anonymous.

    Token sources beyond `Authorization: Bearer` are opt-in: `token_cookie` (a cookie name),
    and for WebSockets, where browsers cannot set headers, `websocket_query_param` and
    `websocket_subprotocol_prefix` (the client offers `"<prefix><token>"` as a subprotocol; the
    middleware removes it from the list the application sees, so it is never echoed back).

    Under asyncio, the tokens not yet in the verifier's cache of concurrent requests are
    verified in batches, in the turn of the event loop after the requests started (see
    `VerificationBatches`); `batch_verification=False` verifies each in its own request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: CognitoSettings | None = None,
        verifier: TokenVerifier | None = None,
        public_paths: Iterable[str] = (),
        groups: Iterable[str] = (),
        scopes: Iterable[str] = (),
        user_loader: UserLoader | None = None,
        token_cookie: str | None = None,
        websocket_query_param: str | None = None,
        websocket_subprotocol_prefix: str | None = None,
        on_error: ErrorHandler = default_error_response,
        fetch_keys_at_startup: bool = True,
        batch_verification: bool = True,
    ) -> None:
        self.app = app
        if verifier is None:
            verifier = TokenVerifier(settings or CognitoSettings.from_env())
        self.verifier = verifier
        self._authenticate = (
            VerificationBatches(verifier).authenticate
            if batch_verification and verifier._verifies_without_waiting
            else verifier.authenticate
        )
        self.public_paths = tuple(_normalize_prefix(p) for p in public_paths)
        # "/" (normalised to "") makes every path public; otherwise a path is public when it is
        # a prefix itself or lies below one, which one set look-up and one startswith() decide.
        self._public_everywhere = "" in self.public_paths
        self._public_exact = frozenset(self.public_paths)
        self._public_below = tuple(prefix + "/" for prefix in self.public_paths)
        self.groups = _names("groups", groups)
        self.scopes = _names("scopes", scopes)
        self._requirements = bool(self.groups or self.scopes)
        self.user_loader = user_loader
        self.token_cookie = token_cookie or verifier.settings.token_cookie
        self.websocket_query_param = websocket_query_param
        self.websocket_subprotocol_prefix = websocket_subprotocol_prefix
        self.on_error = on_error
        self.fetch_keys_at_startup = fetch_keys_at_startup
        # scope["auth"] by the token's scopes: see _SharedCredentials.
        self._credentials: dict[tuple[str, ...], AuthCredentials] = {}
        self._stats = verifier.stats
        # Whether a cache hit is the whole check, answered in __call__ itself: no groups or
        # scopes to require, no record to load.
        self._answers_hits = not self._requirements and user_loader is None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan" and self.fetch_keys_at_startup:
                receive = self._warm_up_on_startup(receive)
            await self.app(scope, receive, send)
            return
        authorization: bytes | None = None
        repeated = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                repeated = authorization is not None
                authorization = value
        user: CognitoUser | None = None
        if authorization is not None and not repeated:
            # A reused token sent as before is answered before the header is parsed.
            entry = self.verifier._cached_entry_of_header(authorization)
            if entry is not None:
                user = entry.user
                if self._answers_hits and user is not None:
                    self._stats.accepted += 1
                    scope["user"] = user
                    scope["auth"] = entry.credentials or self._credentials_of_entry(entry, user)
                    app = self.app  # a local: see TokenVerifier._cached_entry_of_header
                    await app(scope, receive, send)
                    return
        # Every other request: a new token, a token sent otherwise, none, or a hit with groups,
        # scopes or a record still to check.
        try:
            if repeated:
                raise InvalidRequestError("the request has more than one Authorization header")
            if user is None:
                token = self._token_of(scope, authorization)
                if token is not None:
                    # A token sent otherwise is looked up too, still without a coroutine.
                    if not _sent_as_bearer(authorization, token):
                        user = self.verifier.cached_user(token)
                    user = user or await self._authenticate(token)
                elif not self._is_public(scope["path"]):
                    raise MissingTokenError()
            if user is not None:
                if self._requirements:
                    check_user(user, groups=self.groups, scopes=self.scopes)
                if self.user_loader is not None:
                    user = user.with_record(await self.user_loader(user))
        except CognitoError as exc:
            # Whether the path is public matters only now: an accepted token is accepted
            # everywhere.
            if not self._is_public(scope["path"]):
                self._stats.refused[exc.code] += 1
                _log_refusal(scope, exc, user)
                await self.on_error(scope, exc)(scope, receive, send)
                return
            user = None
        if user is None:
            scope["user"] = _ANONYMOUS
            scope["auth"] = _NO_CREDENTIALS
        else:
            self._stats.accepted += 1
            scope["user"] = user
            scope["auth"] = self._credentials_of(user)
        await self.app(scope, receive, send)

    def _credentials_of_entry(self, entry: _Entry, user: CognitoUser) -> object:
        """The shared credentials of cached `entry`'s `user`, kept in the entry for its next
        hits."""
        entry.credentials = self._credentials_of(user)
        return entry.credentials

    def _credentials_of(self, user: CognitoUser) -> AuthCredentials:
        """The shared credentials of `user`'s scopes, made on their first use."""
        credentials = self._credentials.get(user.scopes)
        if credentials is None:
            credentials = _SharedCredentials(("authenticated", *user.scopes))
            if len(self._credentials) < _SHARED_SCOPE_SETS:
                self._credentials[user.scopes] = credentials
        return credentials

    def _is_public(self, path: str) -> bool:
        return (
            self._public_everywhere
            or path in self._public_exact
            or path.startswith(self._public_below)
        )

    def _token_of(self, scope: Scope, authorization: bytes | None) -> str | None:
        """The request's token: from its (only) Authorization header value `authorization`,
        else from the opt-in sources."""
        if authorization is not None:
            scheme, _, credentials = authorization.partition(b" ")
            if scheme.lower() == b"bearer":
                # RFC 6750 §2.1: "Bearer" 1*SP b64token. The space test runs on the str, where
                # it is one memchr (on bytes a one-byte needle costs six times as much).
                token = credentials.strip(b" ").decode("latin-1")
                if not token or " " in token:
                    raise MalformedTokenError("the Authorization header is not 'Bearer <token>'")
                return token
            # Another scheme (Basic, ...) is not ours; treat the request as carrying no token.
        if self.token_cookie is not None:
            cookies = [value for name, value in scope["headers"] if name == b"cookie"]
            if cookies:
                jar = cookie_parser(b"; ".join(cookies).decode("latin-1"))
                from_cookie = jar.get(self.token_cookie)
                if from_cookie:
                    return from_cookie
        if scope["type"] == "websocket":
            return self._websocket_token(scope)
        return None

    def _websocket_token(self, scope: Scope) -> str | None:
        found: list[str] = []
        if self.websocket_subprotocol_prefix is not None:
            prefix = self.websocket_subprotocol_prefix
            offered: list[str] = list(scope.get("subprotocols") or ())
            found += [p[len(prefix) :] for p in offered if p.startswith(prefix)]
            if found:
                # The application must never see (or echo, or log) the token subprotocol.
                scope["subprotocols"] = [p for p in offered if not p.startswith(prefix)]
                scope["headers"] = [
                    (name, _without_token_protocols(value, prefix))
                    if name == b"sec-websocket-protocol"
                    else (name, value)
                    for name, value in scope["headers"]
                ]
        if self.websocket_query_param is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            found += [v for k, v in parse_qsl(query) if k == self.websocket_query_param]
        if len(found) > 1:
            raise InvalidRequestError("the handshake carries more than one token")
        return found[0] if found else None

    def _warm_up_on_startup(self, receive: Receive) -> Receive:
        async def receive_and_warm_up() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and not await self.verifier.start():
                logger.warning(
                    "the pool's key set could not be fetched at start-up from %s; requests "
                    "that need it get 503 until it can be",
                    self.verifier.jwks.url,
                )
            return message

        return receive_and_warm_up


def _sent_as_bearer(authorization: bytes | None, token: str) -> bool:
    """Whether the header value `authorization` is exactly `Bearer <token>`: the form in which
    `TokenVerifier._cached_entry_of_header` has looked the token up already."""
    return (
        authorization is not None
        and authorization.startswith(_BEARER)
        and len(authorization) == len(_BEARER) + len(token)
    )


def _log_refusal(scope: Scope, exc: CognitoError, user: CognitoUser | None) -> None:
    # One line per refusal: the reason code, the path and, only when the token verified (a
    # refusal for missing groups or scopes), its subject. Never the token or unverified claims.
    level = logging.WARNING if isinstance(exc, KeySetUnavailableError) else logging.INFO
    if not logger.isEnabledFor(level):
        return
    subject = f" sub={user.sub}" if user is not None else ""
    logger.log(
        level,
        "refused %s %r: %s%s",
        scope.get("method", "WEBSOCKET"),
        scope["path"],
        exc.code,
        subject,
    )


def _without_token_protocols(value: bytes, prefix: str) -> bytes:
    kept = [p for p in value.split(b",") if not p.strip().startswith(prefix.encode())]
    return b",".join(kept)


def _normalize_prefix(prefix: str) -> str:
    if not prefix.startswith("/"):
        raise ValueError(f"public path {prefix!r} must start with '/'")
    return prefix.rstrip("/")
