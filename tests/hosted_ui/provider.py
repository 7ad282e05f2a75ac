"""A real OAuth 2.0 / OpenID Connect provider on 127.0.0.1, shaped like Cognito's Hosted UI.

Built from authlib's server components (RFC 6749 authorization code and refresh token grants,
RFC 7636 PKCE, RFC 7009 revocation) behind a small Starlette app, served by uvicorn in a
thread. Its tokens are Cognito-shaped access and id tokens signed by a `LocalIssuer` key, with
times from an injectable clock. It keeps a record of what it was asked, for assertions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import threading
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import uvicorn
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    AuthorizationServer,
    ClientMixin,
    OAuth2Error,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from cognito_asgi.testing import LocalIssuer

SCOPES = ("openid", "email", "profile", "aws.cognito.signin.user.admin")
AUTH_METHODS = ["none", "client_secret_basic"]


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    redirect_uris: list[str]
    client_secret: str | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and hmac.compare_digest(
            client_secret, self.client_secret
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == ("client_secret_basic" if self.client_secret else "none")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Refresh(TokenMixin):  # type: ignore[misc]
    token: str
    client_id: str
    user: str
    scope: str
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 30 * 86400

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: Any, args: dict[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = args
        self._form = form
        self.payload = BasicOAuth2Payload({**args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class Provider:
    """The provider's state and behaviour; `app` is its ASGI app, `url` its base once served."""

    issuer: LocalIssuer
    redirect_uris: list[str]
    logout_uris: list[str]
    client_secret: str | None = None
    interactive: bool = False
    access_ttl: int = 3600
    rotate_refresh_tokens: bool = False
    clock: Callable[[], float] = time.time
    users: dict[str, str] = field(default_factory=lambda: {"alice": "Correct-Horse-9"})
    auto_user: str = "alice"
    url: str = ""
    codes: dict[str, Code] = field(default_factory=dict)
    refresh_tokens: dict[str, Refresh] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = Client(self.issuer.client_id, self.redirect_uris, self.client_secret)
        self.server = _server(self)
        self.app: ASGIApp = Starlette(
            routes=[
                Route("/oauth2/authorize", self._authorize, methods=["GET", "POST"]),
                Route("/oauth2/token", self._token, methods=["POST"]),
                Route("/oauth2/revoke", self._revoke, methods=["POST"]),
                Route("/logout", self._logout, methods=["GET"]),
            ]
        )

    def reset(self, issuer: LocalIssuer, clock: Callable[[], float]) -> None:
        """Start afresh for the next test, keeping the server running."""
        assert issuer.client_id == self.client.client_id
        self.issuer = issuer
        self.clock = clock
        self.client.client_secret = None
        self.interactive = self.rotate_refresh_tokens = False
        for record in (self.codes, self.refresh_tokens):
            record.clear()
        for log in (self.authorize_requests, self.token_requests, self.revoked, self.logouts):
            log.clear()

    # --- tokens ------------------------------------------------------------------------------

    def access_token(self, user: str, scope: str) -> str:
        now = int(self.clock())
        return self.issuer.access_token(
            user,
            scopes=scope.split(),
            exp=now + self.access_ttl,
            iat=now,
            auth_time=now,
        )

    def id_token(self, user: str, access_token: str, nonce: str | None) -> str | None:
        now = int(self.clock())
        digest = hashlib.sha256(access_token.encode()).digest()[:16]
        claims: dict[str, Any] = {
            "exp": now + self.access_ttl,
            "iat": now,
            "auth_time": now,
            "at_hash": urlsafe_b64encode(digest).rstrip(b"=").decode(),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return self.issuer.id_token(user, **claims)

    def _generate(
        self,
        grant_type: str,
        client: Client,
        user: str | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        assert user is not None
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self.access_token(user, scope or ""),
            "expires_in": self.access_ttl,
        }
        if include_refresh_token:
            refresh = secrets.token_urlsafe(48)
            self.refresh_tokens[refresh] = Refresh(refresh, client.client_id, user, scope or "")
            token["refresh_token"] = refresh
        return token

    # --- routes ------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        if request.method == "GET":
            args = dict(request.query_params)
            self.authorize_requests.append(args)
            user: str | None = self.auto_user
        else:
            form = await _form(request)
            username, password = form.pop("username", ""), form.pop("password", "")
            args = form
            expected = self.users.get(username)
            if expected is None or not hmac.compare_digest(expected, password):
                return self._login_form(args, error="Incorrect username or password.")
            user = username
        uri = f"{self.url}/oauth2/authorize?{urlencode(args)}"
        oauth_request = _Request("GET", uri, request.headers, args, {})
        try:
            grant = self.server.get_consent_grant(oauth_request, end_user=None)
        except OAuth2Error as error:
            return JSONResponse({"error": error.error}, status_code=400)
        if self.interactive and request.method == "GET":
            return self._login_form(args)
        response: Response = self.server.create_authorization_response(
            oauth_request, grant_user=user, grant=grant
        )
        return response

    def _login_form(self, args: dict[str, str], error: str = "") -> Response:
        hidden = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in args.items()
        )
        message = f'<p role="alert">{escape(error)}</p>' if error else ""
        return HTMLResponse(
            "<!doctype html><title>Sign in</title><h1>Sign in to the test pool</h1>"
            f'{message}<form method="post" action="/oauth2/authorize">{hidden}'
            '<label>Username <input name="username" autocomplete="username"></label>'
            '<label>Password <input name="password" type="password"></label>'
            '<button type="submit">Sign in</button></form>',
            status_code=200 if not error else 401,
        )

    async def _oauth_request(self, request: Request) -> _Request:
        form = await _form(request)
        self.token_requests.append(form)
        return _Request(request.method, str(request.url), request.headers, {}, form)

    async def _token(self, request: Request) -> Response:
        response: Response = self.server.create_token_response(await self._oauth_request(request))
        return response

    async def _revoke(self, request: Request) -> Response:
        response: Response = self.server.create_endpoint_response(
            "revocation", await self._oauth_request(request)
        )
        return response

    async def _logout(self, request: Request) -> Response:
        args = dict(request.query_params)
        self.logouts.append(args)
        # Cognito's /logout redirects only to a sign-out URL registered for the client.
        if args.get("client_id") != self.client.client_id or args.get("logout_uri") not in (
            self.logout_uris
        ):
            return JSONResponse({"error": "invalid logout_uri"}, status_code=400)
        return RedirectResponse(args["logout_uri"], status_code=302)


async def _form(request: Request) -> dict[str, str]:
    # application/x-www-form-urlencoded, parsed without Starlette's multipart dependency.
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def _server(provider: Provider) -> AuthorizationServer:
    class Server(AuthorizationServer):  # type: ignore[misc]
        def query_client(self, client_id: str) -> Client | None:
            return provider.client if client_id == provider.client.client_id else None

        def save_token(self, token: dict[str, Any], request: Any) -> None:
            pass

        def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
            pass

        def create_oauth2_request(self, request: Any) -> Any:
            return request

        def handle_response(self, status: int, body: Any, headers: Any) -> Response:
            if isinstance(body, dict):
                return JSONResponse(body, status_code=status, headers=dict(headers))
            return Response(body or b"", status_code=status, headers=dict(headers))

    class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

        def save_authorization_code(self, code: str, request: Any) -> None:
            data = request.payload.data
            provider.codes[code] = Code(
                code=code,
                client_id=request.client.client_id,
                redirect_uri=data.get("redirect_uri"),
                scope=request.scope,
                user=request.user,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = provider.codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            return authorization_code.user

        def create_token_response(self) -> tuple[int, dict[str, Any], Any]:
            code: Code = self.request.authorization_code
            status, token, headers = super().create_token_response()
            id_token = provider.id_token(code.user, token["access_token"], code.nonce)
            if id_token is not None:
                token["id_token"] = id_token
            return status, token, headers

    class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

        @property
        def INCLUDE_NEW_REFRESH_TOKEN(self) -> bool:
            return provider.rotate_refresh_tokens

        def authenticate_refresh_token(self, refresh_token: str) -> Refresh | None:
            found = provider.refresh_tokens.get(refresh_token)
            return found if found is not None and not found.revoked else None

        def authenticate_user(self, refresh_token: Refresh) -> str:
            return refresh_token.user

        def revoke_old_credential(self, refresh_token: Refresh) -> None:
            if provider.rotate_refresh_tokens:
                refresh_token.revoked = True

        def create_token_response(self) -> tuple[int, dict[str, Any], Any]:
            user = self.request.refresh_token.user
            status, token, headers = super().create_token_response()
            token["id_token"] = provider.id_token(user, token["access_token"], None)
            return status, token, headers

    class Revocation(RevocationEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = AUTH_METHODS

        def query_token(self, token_string: str, token_type_hint: str | None) -> Refresh | None:
            return provider.refresh_tokens.get(token_string)

        def revoke_token(self, token: Refresh, request: Any) -> None:
            token.revoked = True
            provider.revoked.append(token.token)

    server = Server()
    server.register_token_generator("default", provider._generate)
    server.register_grant(CodeGrant, [CodeChallenge(required=True)])
    server.register_grant(RefreshGrant)
    server.register_endpoint(Revocation)
    return server


def bound_socket() -> socket.socket:
    """A listening-ready socket on 127.0.0.1 with a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


@contextmanager
def serve(
    app: ASGIApp, sock: socket.socket, *, lifespan: Literal["on", "off"] = "off"
) -> Iterator[str]:
    """Serve `app` with uvicorn on `sock` in a thread; yield its base URL."""
    config = uvicorn.Config(
        app, log_level="warning", lifespan=lifespan, ws="none", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
