from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from cognito_asgi._errors import (
    ClaimError,
    CognitoError,
    ConfigurationError,
    InvalidRequestError,
    KeySetUnavailableError,
    TokenError,
)
from cognito_asgi._middleware import default_error_response
from cognito_asgi._settings import CognitoSettings
from cognito_asgi._verifier import Claims, TokenVerifier

from ._errors import SignInError
from ._replay import MemoryReplayStore, ReplayStore
from ._session import Sealer, SingleFlight, delete_cookie, set_cookie
from ._settings import HostedUISettings, _origin

__all__ = ["HostedUIApp", "Renewal", "safe_next"]

logger = logging.getLogger("cognito_asgi.hosted_ui")

FLOW_COOKIE = "cognito_signin_flow"
# Cognito's identity provider names (CreateIdentityProvider) are 1-32 characters; built-in ones
# are Google, Facebook, LoginWithAmazon, SignInWithApple and COGNITO. This pattern is narrower
# than Cognito's on purpose: it keeps the value a plain word in the authorize URL.
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}", re.ASCII)
# A path on this site: one "/" not followed by "/" or "\" (which browsers read as "//", a
# network-path reference to another host), then printable ASCII without "\" (RFC 3986 §4.2).
_SAFE_NEXT = re.compile(r"/(?![/\\])[\x21-\x5b\x5d-\x7e]*", re.ASCII)
_MAX_NEXT = 2048
# RFC 6749 §A.11: code = 1*VSCHAR; Cognito's are UUIDs. The cap bounds what we forward.
_CODE = re.compile(r"[\x20-\x7e]{1,1024}", re.ASCII)
_STATE = re.compile(r"[A-Za-z0-9_\-]{16,128}", re.ASCII)
_ERROR = re.compile(r"[a-z_]{1,40}", re.ASCII)
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def safe_next(value: str | None) -> str:
    """`value` if it is a path on this site, else `/`: never a redirect to another host."""
    if value is None or len(value) > _MAX_NEXT or not _SAFE_NEXT.fullmatch(value):
        return "/"
    return value


@dataclass(frozen=True, slots=True)
class Renewal:
    """What renewing a session produced: a fresh access token, or cookies to clear."""

    access_token: str | None
    set_cookies: list[bytes] = field(default_factory=list)


def _oauth_client_class() -> Any:
    try:
        from authlib.integrations.httpx_client import AsyncOAuth2Client
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "the Hosted UI sign-in needs authlib: pip install 'cognito-asgi[hosted-ui]'"
        ) from exc
    return AsyncOAuth2Client


def _transport_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ValueError, OSError]
    for name in ("httpx2", "httpx"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        errors.append(module.HTTPError)
    return tuple(errors)


def _at_hash(access_token: str) -> str:
    # OpenID Connect Core §3.1.3.6: base64url of the left half of SHA-256 of the access token.
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


class HostedUIApp:
    """Sign-in through the user pool's Hosted UI (and its social providers), as an ASGI app.

    Mount it where `COGNITO_REDIRECT_URI` points (its path without `/callback`)::

        hosted = HostedUIApp()                  # reads COGNITO_* from the environment
        app = Starlette(routes=[Mount("/auth", app=hosted), ...])
        app = CognitoAuthMiddleware(
            app, token_cookie=hosted.token_cookie, public_paths=["/auth"],
            on_error=hosted.redirect_to_sign_in,
        )
        app = SessionRenewalMiddleware(app, hosted_ui=hosted)

    `GET /login` sends the browser to the Hosted UI (authorization code flow with PKCE S256,
    `state` and `nonce`; `?identity_provider=Google` goes straight to a social provider, `?next=`
    returns to a path on this site). `GET /callback` exchanges the code, verifies the access and
    id tokens with a `TokenVerifier` and sets the session cookies. `POST /logout` (same-origin
    only) clears them, revokes the refresh token and signs out of the Hosted UI.
    """

    def __init__(
        self,
        *,
        settings: CognitoSettings | None = None,
        hosted_ui: HostedUISettings | None = None,
        verifier: TokenVerifier | None = None,
        replay_store: ReplayStore | None = None,
        transport: Any = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings is None:
            settings = verifier.settings if verifier is not None else CognitoSettings.from_env()
        self.settings = settings
        self.hosted_ui = hosted = hosted_ui or HostedUISettings.from_env()
        client_id = hosted.client_id or settings.client_ids[0]
        if client_id not in settings.client_ids:
            raise ConfigurationError(
                "COGNITO_HOSTED_UI_CLIENT_ID",
                f"{client_id!r} is not one of the clients in COGNITO_CLIENT_ID, whose tokens "
                "the middleware accepts",
            )
        self.client_id = client_id
        self._client_class = _oauth_client_class()
        self._transport_errors = _transport_errors()
        # Both token kinds are verified here, whatever the middleware accepts; the key cache is
        # shared with `verifier` when one is given.
        self._verifier = TokenVerifier(
            settings.replace(token_use="any"),  # noqa: S106
            jwks=verifier.jwks if verifier is not None else None,
            clock=clock,
        )
        self._replay: ReplayStore = replay_store or MemoryReplayStore()
        self._transport = transport
        self._timeout = timeout
        self._clock = self.clock = clock
        self._flow = Sealer(hosted.session_secret, "flow")
        self._refresh = Sealer(hosted.session_secret, "refresh")
        self._renewals = SingleFlight()
        self.authorize_url = f"{hosted.domain}/oauth2/authorize"
        self.token_url = f"{hosted.domain}/oauth2/token"
        self.revoke_url = f"{hosted.domain}/oauth2/revoke"
        self.logout_url = f"{hosted.domain}/logout?" + urlencode(
            {"client_id": client_id, "logout_uri": hosted.logout_uri}
        )
        self._router = Router(
            routes=[
                Route("/login", self._login, methods=["GET"]),
                Route("/callback", self._callback, methods=["GET"]),
                Route("/logout", self._logout, methods=["POST"]),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._router(scope, receive, send)

    @property
    def token_cookie(self) -> str:
        """The access-token cookie's name, for `CognitoAuthMiddleware(token_cookie=...)`."""
        return self.hosted_ui.access_cookie

    # --- routes ------------------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        try:
            query = request.query_params
            if any(len(query.getlist(name)) > 1 for name in ("next", "identity_provider")):
                raise SignInError("invalid_request", "A sign-in parameter was given twice.")
            provider = query.get("identity_provider")
            if provider is not None and not _PROVIDER.fullmatch(provider):
                raise SignInError("invalid_identity_provider", "That sign-in provider is unknown.")
            return self._start(safe_next(query.get("next")), provider)
        except SignInError as exc:
            return self._error_page(exc)

    def _start(self, next_path: str, provider: str | None) -> Response:
        from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        hosted = self.hosted_ui
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # RFC 7636 §4.1: 43 to 128 characters
        nonce = secrets.token_urlsafe(32)
        extra: dict[str, str] = {}
        if provider is not None:
            extra["identity_provider"] = provider
        url = prepare_grant_uri(
            self.authorize_url,
            self.client_id,
            "code",
            redirect_uri=hosted.redirect_uri,
            scope=" ".join(hosted.scopes),
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            nonce=nonce,
            **extra,
        )
        flow = self._flow.seal(
            {"s": state, "v": verifier, "n": nonce, "x": next_path, "t": self._clock()}
        )
        response = RedirectResponse(url, status_code=302, headers=_NO_STORE)
        response.raw_headers.append(
            (
                b"set-cookie",
                set_cookie(
                    FLOW_COOKIE,
                    flow,
                    max_age=hosted.login_timeout_seconds,
                    path=hosted.flow_cookie_path,
                    secure=hosted.secure_cookies,
                ),
            )
        )
        return response

    async def _callback(self, request: Request) -> Response:
        hosted = self.hosted_ui
        clear_flow = delete_cookie(
            FLOW_COOKIE, path=hosted.flow_cookie_path, secure=hosted.secure_cookies
        )
        try:
            response = await self._finish(request)
        except SignInError as exc:
            logger.info("sign-in refused: %s", exc.code)
            response = self._error_page(exc)
        response.raw_headers.append((b"set-cookie", clear_flow))
        return response

    async def _finish(self, request: Request) -> Response:
        hosted = self.hosted_ui
        query = request.query_params
        if any(len(query.getlist(name)) > 1 for name in ("state", "code", "error")):
            raise SignInError("invalid_request", "A sign-in parameter was given twice.")
        flow = self._flow.open(request.cookies.get(FLOW_COOKIE))
        now = self._clock()
        started = flow.get("t") if flow is not None else None
        if (
            flow is None
            or not isinstance(started, int | float)
            or not now - hosted.login_timeout_seconds <= started <= now + 60
            or not all(isinstance(flow.get(k), str) for k in ("s", "v", "n", "x"))
        ):
            raise SignInError(
                "invalid_state",
                "This sign-in has expired or was started in another browser. Please sign in again.",
            )
        state = query.get("state") or ""
        # RFC 6749 §10.12: the state binds the callback to the browser that started the flow.
        if not _STATE.fullmatch(state) or not hmac.compare_digest(state, flow["s"]):
            raise SignInError(
                "invalid_state", "This sign-in does not match the one this browser started."
            )
        if not await self._replay.add(f"state:{state}", hosted.login_timeout_seconds):
            raise SignInError("invalid_state", "This sign-in has already been completed.")
        if query.get("error") is not None:
            # The provider's error text is not echoed: it is attacker-controlled input here.
            raise SignInError("provider_error", "The sign-in was cancelled or refused.")
        code = query.get("code") or ""
        if not _CODE.fullmatch(code):
            raise SignInError("invalid_request", "The sign-in response has no usable code.")
        tokens = await self._token_request(
            grant_type="authorization_code",
            code=code,
            redirect_uri=hosted.redirect_uri,
            code_verifier=flow["v"],
        )
        access_token, claims = await self._verify_tokens(tokens, nonce=flow["n"])
        refresh_token = tokens.get("refresh_token")
        cookies = [self._access_cookie(access_token, claims)]
        if isinstance(refresh_token, str) and refresh_token:
            sealed = self._refresh.seal({"r": refresh_token, "s": claims["sub"], "t": now})
            cookies.append(self._refresh_cookie(sealed, started_at=now))
        logger.info("signed in through the Hosted UI: sub=%s", claims["sub"])
        response = RedirectResponse(flow["x"], status_code=303, headers=_NO_STORE)
        response.raw_headers.extend((b"set-cookie", cookie) for cookie in cookies)
        return response

    async def _logout(self, request: Request) -> Response:
        hosted = self.hosted_ui
        if not self._same_origin(request):
            logger.info("sign-out refused: not a same-origin request")
            return self._error_page(
                SignInError("csrf", "Sign-out must be requested from this site.", status=403)
            )
        sealed = self._refresh.open(request.cookies.get(hosted.refresh_cookie))
        refresh_token = sealed.get("r") if sealed is not None else None
        if isinstance(refresh_token, str) and refresh_token:
            await self._revoke(refresh_token)
        response = RedirectResponse(self.logout_url, status_code=303, headers=_NO_STORE)
        response.raw_headers.extend((b"set-cookie", c) for c in self._clearing_cookies())
        return response

    # --- the error handler for CognitoAuthMiddleware ----------------------------------------

    def redirect_to_sign_in(self, scope: Scope, exc: CognitoError) -> ASGIApp:
        """An `on_error` for `CognitoAuthMiddleware`: a browser opening a page without a valid
        session is sent to sign in (303 to the login route with `next`); API calls and
        WebSockets get the default refusal."""
        if (
            scope["type"] == "http"
            and scope.get("method") in ("GET", "HEAD")
            and isinstance(exc, TokenError)
            and not isinstance(exc, InvalidRequestError)
            and _accepts_html(scope)
        ):
            target = scope["path"]
            query = scope.get("query_string", b"")
            if query:
                target += "?" + query.decode("latin-1")
            location = f"{self.hosted_ui.login_path}?next={quote(safe_next(target), safe='/')}"
            return RedirectResponse(location, status_code=303, headers=_NO_STORE)
        return default_error_response(scope, exc)

    # --- renewal, used by SessionRenewalMiddleware -------------------------------------------

    async def renew(self, sealed_refresh: str) -> Renewal:
        """A fresh access token for the refresh cookie `sealed_refresh`.

        Concurrent renewals of one session share one call to the token endpoint. When the
        refresh token is refused (revoked, expired, not ours) the result clears the session
        cookies; when the provider cannot be reached it changes nothing.
        """
        key = hashlib.sha256(sealed_refresh.encode("latin-1")).hexdigest()
        renewal: Renewal = await self._renewals.run(key, lambda: self._renew(sealed_refresh))
        return renewal

    async def _renew(self, sealed_refresh: str) -> Renewal:
        hosted = self.hosted_ui
        data = self._refresh.open(sealed_refresh)
        now = self._clock()
        started = data.get("t") if data is not None else None
        if (
            data is None
            or not isinstance(data.get("r"), str)
            or not isinstance(data.get("s"), str)
            or not isinstance(started, int | float)
            or not now - hosted.session_max_age_seconds <= started <= now + 60
        ):
            return Renewal(None, self._clearing_cookies())
        try:
            tokens = await self._token_request(grant_type="refresh_token", refresh_token=data["r"])
            access_token, claims = await self._verify_tokens(tokens, expected_sub=data["s"])
        except SignInError as exc:
            if exc.code == "provider_unavailable":
                return Renewal(None)
            logger.info("session renewal refused: %s", exc.code)
            return Renewal(None, self._clearing_cookies())
        cookies = [self._access_cookie(access_token, claims)]
        rotated = tokens.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != data["r"]:
            # Refresh token rotation: the new one replaces the old, the session keeps its age.
            sealed = self._refresh.seal({"r": rotated, "s": data["s"], "t": started})
            cookies.append(self._refresh_cookie(sealed, started_at=started))
        return Renewal(access_token, cookies)

    # --- talking to the provider -------------------------------------------------------------

    def _oauth_client(self) -> Any:
        kwargs: dict[str, Any] = {"timeout": self._timeout}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        return self._client_class(
            client_id=self.client_id, client_secret=self.settings.client_secret, **kwargs
        )

    async def _token_request(self, **params: str) -> Mapping[str, Any]:
        from authlib.integrations.base_client import OAuthError

        try:
            async with self._oauth_client() as client:
                token = await client.fetch_token(self.token_url, **params)
        except OAuthError as exc:
            # invalid_grant: a used, expired or foreign code, or a revoked refresh token.
            error = exc.error if isinstance(exc.error, str) and _ERROR.fullmatch(exc.error) else "?"
            logger.info("token endpoint refused the %s grant: %s", params["grant_type"], error)
            raise SignInError(
                "token_refused", "The sign-in could not be completed. Please sign in again."
            ) from None
        except self._transport_errors as exc:
            logger.warning("token endpoint unavailable: %s", type(exc).__name__)
            raise SignInError(
                "provider_unavailable",
                "The sign-in service cannot be reached. Please try again shortly.",
                status=502,
            ) from None
        return dict(token)

    async def _revoke(self, refresh_token: str) -> None:
        # Cognito's RevokeToken on the Hosted UI domain (RFC 7009): revokes the refresh token
        # and the access tokens issued from it. Failure does not stop the sign-out.
        try:
            async with self._oauth_client() as client:
                response = await client.revoke_token(
                    self.revoke_url,
                    token=refresh_token,
                    token_type_hint="refresh_token",  # noqa: S106
                )
            if response.status_code != 200:
                logger.warning("refresh token revocation answered %s", response.status_code)
        except self._transport_errors as exc:
            logger.warning("refresh token revocation failed: %s", type(exc).__name__)

    async def _verify_tokens(
        self,
        tokens: Mapping[str, Any],
        *,
        nonce: str | None = None,
        expected_sub: str | None = None,
    ) -> tuple[str, Claims]:
        """Verify the token endpoint's answer with our verifier; return the access token and
        its claims. The endpoint's word alone is never trusted (a compromised or spoofed
        endpoint could hand out anything)."""
        access_token = tokens.get("access_token")
        id_token = tokens.get("id_token")
        token_type = tokens.get("token_type")
        try:
            if not isinstance(access_token, str) or not isinstance(token_type, str):
                raise ClaimError("access_token", "the token response has no access token")
            if token_type.lower() != "bearer":
                raise ClaimError("token_type", "the token response is not a bearer token")
            claims = await self._verifier.verify(access_token)
            if claims["token_use"] != "access" or claims["client_id"] != self.client_id:
                raise ClaimError("client_id", "the access token is not for this app client")
            if expected_sub is not None and claims["sub"] != expected_sub:
                raise ClaimError("sub", "the renewed token belongs to another user")
            if nonce is not None and not isinstance(id_token, str):
                raise ClaimError("id_token", "the token response has no id token")
            if id_token is not None:
                if not isinstance(id_token, str):
                    raise ClaimError("id_token", "the id token is not a string")
                id_claims = await self._verifier.verify(id_token)
                self._check_id_token(id_claims, claims, access_token, nonce)
        except KeySetUnavailableError:
            raise SignInError(
                "provider_unavailable",
                "The sign-in service cannot be reached. Please try again shortly.",
                status=503,
            ) from None
        except TokenError as exc:
            logger.warning("token from the token endpoint refused: %s", exc.code)
            raise SignInError(
                "invalid_token", "The sign-in could not be confirmed. Please sign in again."
            ) from None
        return access_token, claims

    def _check_id_token(
        self, id_claims: Claims, claims: Claims, access_token: str, nonce: str | None
    ) -> None:
        if id_claims["token_use"] != "id" or id_claims["aud"] != self.client_id:
            raise ClaimError("aud", "the id token is not for this app client")
        if id_claims["sub"] != claims["sub"]:
            raise ClaimError("sub", "the id and access tokens are for different users")
        if nonce is not None:
            # OpenID Connect Core §3.1.3.7: the nonce ties the id token to this sign-in.
            got = id_claims.get("nonce")
            if not isinstance(got, str) or not hmac.compare_digest(got, nonce):
                raise ClaimError("nonce", "the id token is not from this sign-in")
        at_hash = id_claims.get("at_hash")
        if at_hash is not None and (
            not isinstance(at_hash, str) or not hmac.compare_digest(at_hash, _at_hash(access_token))
        ):
            raise ClaimError("at_hash", "the id token was issued with another access token")

    # --- cookies and pages -------------------------------------------------------------------

    def _access_cookie(self, access_token: str, claims: Claims) -> bytes:
        hosted = self.hosted_ui
        return set_cookie(
            hosted.access_cookie,
            access_token,
            max_age=float(claims["exp"]) - self._clock(),
            path=hosted.cookie_path,
            secure=hosted.secure_cookies,
        )

    def _refresh_cookie(self, sealed: str, *, started_at: float) -> bytes:
        hosted = self.hosted_ui
        return set_cookie(
            hosted.refresh_cookie,
            sealed,
            max_age=hosted.session_max_age_seconds - (self._clock() - started_at),
            path=hosted.cookie_path,
            secure=hosted.secure_cookies,
        )

    def _clearing_cookies(self) -> list[bytes]:
        hosted = self.hosted_ui
        secure = hosted.secure_cookies
        return [
            delete_cookie(hosted.access_cookie, path=hosted.cookie_path, secure=secure),
            delete_cookie(hosted.refresh_cookie, path=hosted.cookie_path, secure=secure),
            delete_cookie(FLOW_COOKIE, path=hosted.flow_cookie_path, secure=secure),
        ]

    def _same_origin(self, request: Request) -> bool:
        # CSRF defence for POST /logout: the browser's Origin header (Fetch standard; sent on
        # every POST) must be this site's. Without Origin, a same-origin Referer is accepted.
        origins = request.headers.getlist("origin")
        if len(origins) > 1:
            return False
        if origins:
            return _normalized_origin(origins[0]) == self.hosted_ui.origin
        referers = request.headers.getlist("referer")
        return len(referers) == 1 and _normalized_origin(referers[0]) == self.hosted_ui.origin

    def _error_page(self, exc: SignInError) -> Response:
        login = escape(self.hosted_ui.login_path)
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in</title>"
            f'<main data-error="{escape(exc.code)}"><h1>Sign-in did not complete</h1>'
            f'<p>{escape(exc.message)}</p><p><a href="{login}">Sign in again</a></p></main>'
        )
        return HTMLResponse(body, status_code=exc.status, headers=_NO_STORE)


def _normalized_origin(value: str) -> str | None:
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return _origin(parts.scheme, parts.hostname.lower(), port)


def _accepts_html(scope: Scope) -> bool:
    return any(name == b"accept" and b"text/html" in value for name, value in scope["headers"])
