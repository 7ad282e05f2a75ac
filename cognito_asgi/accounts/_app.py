from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.routing import Match, Mount
from starlette.types import Receive, Scope, Send

from cognito_asgi._errors import MissingTokenError
from cognito_asgi._middleware import refusal_parts
from cognito_asgi._settings import CognitoSettings
from cognito_asgi._user import CognitoUser

from ._cognito import CallFailed, CognitoAdmin
from ._errors import (
    AccountExistsError,
    AccountsError,
    EmailTakenError,
    InvalidPasswordError,
    ServiceUnavailableError,
)
from ._input import MAX_BODY_BYTES, BadRequest, parse_sign_up, read_body
from ._provision import Provisioner
from ._ratelimit import RateLimiter
from ._sql import SQLUserStore
from ._store import UserRecord, UserStore

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["AccountsApp"]

logger = logging.getLogger("cognito_asgi.accounts")

ClientKey = Callable[[Scope], str]


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AccountsApp:
    """A mountable ASGI app that creates accounts: our user record and the Cognito user.

    Usage::

        accounts = AccountsApp(settings, store=SQLUserStore(settings.accounts_database_url))
        app = Starlette(routes=[accounts.mount("/accounts")])
        app = CognitoAuthMiddleware(app, settings=settings, public_paths=["/accounts"])

    Routes, relative to where it is mounted:

    - `POST /` (JSON or form: `name`, `email`, `password`): 201 with `Location` and the record
      (`id`, `name`, `email`, `created_at`), and the new user's tokens when
      `settings.accounts_return_tokens` is set and the `challenge` flow is used.
    - `GET /me`: the caller's record. `DELETE /me`: deletes the Cognito user, then the record.
      Both need the user that `CognitoAuthMiddleware` puts on the scope and answer 401 without.

    `mount(path)` returns a Starlette route that also answers the bare path (`POST /accounts`)
    itself: Starlette's plain `Mount` redirects it to `/accounts/`, and many HTTP clients do not
    follow a redirect of a POST. Nothing needs a lifespan: the store creates its table on first
    use. `aclose()` releases the store (when the app created it) and the rate limiter.

    Seams: `store` (default `SQLUserStore(settings.accounts_database_url)`), `cognito_client` (a
    boto3 cognito-idp client; default built from the settings with botocore's standard retry
    mode), `rate_limit` / `rate_limit_storage` (default from the settings), `client_key` (the
    rate-limit key of a request; default the client address of the scope, which is the proxy's
    unless the server resolves forwarded headers), `clock` (aware datetimes for `created_at`),
    `id_factory` (new record ids; default `str(uuid.uuid4())`).
    """

    def __init__(
        self,
        settings: CognitoSettings | None = None,
        *,
        store: UserStore | None = None,
        cognito_client: CognitoIdentityProviderClient | None = None,
        rate_limit: str | None = None,
        rate_limit_storage: str | None = None,
        client_key: ClientKey | None = None,
        max_body_size: int = MAX_BODY_BYTES,
        clock: Callable[[], datetime] | None = None,
        id_factory: Callable[[], str] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else CognitoSettings.from_env()
        self._owns_store = store is None
        self.store: UserStore = (
            store if store is not None else SQLUserStore(self.settings.accounts_database_url)
        )
        self.admin = CognitoAdmin(self.settings, cognito_client)
        self.provisioner = Provisioner(
            self.store,
            self.admin,
            password_flow=self.settings.accounts_password_flow,
            clock=clock,
            id_factory=id_factory,
        )
        self.rate_limiter = RateLimiter(
            rate_limit or self.settings.accounts_rate_limit,
            rate_limit_storage or self.settings.accounts_rate_limit_storage,
        )
        self.client_key = client_key or _client_address
        self.max_body_size = max_body_size

    def mount(self, path: str = "/accounts", *, name: str | None = None) -> Mount:
        """A Starlette `Mount` of this app at `path` that also routes the bare `path`."""
        return _AccountsMount(path, app=self, name=name)

    async def aclose(self) -> None:
        """Close what this app opened: the rate limiter's storage, its own store and client."""
        await self.rate_limiter.aclose()
        if self._owns_store:
            await self.store.aclose()
        await self.admin.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})
            return
        path = _route_path(scope)
        method = scope["method"]
        try:
            if path in ("", "/"):
                if method != "POST":
                    raise BadRequest(405, "method_not_allowed", "use POST to create an account")
                await self._sign_up(scope, receive, send)
            elif path == "/me":
                if method == "GET":
                    await self._get_me(scope, send)
                elif method == "DELETE":
                    await self._delete_me(scope, send)
                else:
                    raise BadRequest(405, "method_not_allowed", "use GET or DELETE")
            else:
                raise BadRequest(404, "not_found", "no such resource")
        except BadRequest as exc:
            extra: list[tuple[bytes, bytes]] = []
            if exc.status == 405:
                allow = b"POST" if path in ("", "/") else b"GET, DELETE"
                extra.append((b"allow", allow))
            await _respond(send, exc.status, exc.body(), extra)
        except AccountsError as exc:
            await self._refuse(send, exc)
        except Exception as exc:
            logger.error(
                "unexpected %s answering %s %s", type(exc).__name__, method, path, exc_info=exc
            )
            await _respond(send, 500, _server_error())

    async def _sign_up(self, scope: Scope, receive: Receive, send: Send) -> None:
        wait = await self.rate_limiter.hit(self.client_key(scope))
        if wait is not None:
            refusal = {
                "error": "rate_limited",
                "error_description": f"too many sign-ups from this address; retry in {wait} s",
            }
            await _respond(send, 429, refusal, [(b"retry-after", str(wait).encode())])
            return
        headers = dict(scope["headers"])
        raw = await read_body(headers, receive, self.max_body_size)
        data = parse_sign_up(headers.get(b"content-type"), raw)
        created = await self.provisioner.sign_up(
            name=data.name, email=data.email, password=data.password
        )
        body: dict[str, Any] = dict(created.record.to_json())
        if self.settings.accounts_return_tokens and created.tokens:
            body["tokens"] = dict(created.tokens)
        location = (_base_path(scope) + "/me").encode("latin-1", "replace")
        await _respond(send, 201, body, [(b"location", location)])

    async def _own_record(self, scope: Scope, send: Send) -> UserRecord | None:
        """The signed-in caller's record; None when a refusal was sent instead."""
        user = await self._caller(scope, send)
        if user is None:
            return None
        record = await self._record_of(user)
        if record is None:
            raise BadRequest(404, "not_found", "there is no account record for this user")
        return record

    async def _get_me(self, scope: Scope, send: Send) -> None:
        record = await self._own_record(scope, send)
        if record is not None:
            await _respond(send, 200, record.to_json())

    async def _delete_me(self, scope: Scope, send: Send) -> None:
        record = await self._own_record(scope, send)
        if record is None:
            return
        # Cognito first: a record whose Cognito user is gone is harmless (no token can be issued
        # for it), and a retried DELETE finishes the job.
        try:
            await self.admin.call(
                "admin_delete_user", UserPoolId=self.admin.pool_id, Username=record.id
            )
        except CallFailed as failed:
            if failed.code != "UserNotFoundException":
                logger.log(
                    logging.WARNING
                    if isinstance(failed.error, ServiceUnavailableError)
                    else logging.ERROR,
                    "deleting user %s failed: %s",
                    record.id,
                    failed.error.message,
                )
                raise failed.error from None
        await self.store.delete(record.id)
        logger.info("deleted user %s", record.id)
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [(b"cache-control", b"no-store")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _caller(self, scope: Scope, send: Send) -> CognitoUser | None:
        user = scope.get("user")
        if isinstance(user, CognitoUser) and user.is_authenticated:
            return user
        status, headers, body = refusal_parts(MissingTokenError())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return None

    async def _record_of(self, user: CognitoUser) -> UserRecord | None:
        record = user.record
        if isinstance(record, UserRecord) and record.id == user.username:
            return record
        return await self.store.get(user.username)

    async def _refuse(self, send: Send, exc: AccountsError) -> None:
        body: dict[str, Any] = {"error": exc.code, "error_description": exc.message}
        headers: list[tuple[bytes, bytes]] = []
        if isinstance(exc, EmailTakenError):
            body["fields"] = {"email": "is already registered"}
        elif isinstance(exc, AccountExistsError):
            pass
        elif isinstance(exc, InvalidPasswordError):
            body["fields"] = {"password": exc.message}
        elif isinstance(exc, ServiceUnavailableError):
            body["error_description"] = "the service is temporarily unavailable; try again later"
            headers.append((b"retry-after", str(exc.retry_after).encode()))
        else:
            # Misconfiguration or an unexpected answer: the log says what; the caller gets no
            # detail of the deployment.
            await _respond(send, 500, _server_error())
            return
        await _respond(send, exc.status, body, headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _AccountsMount(Mount):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.NONE and scope["type"] == "http" and _route_path(scope) == self.path:
            root_path = scope.get("root_path", "")
            return Match.FULL, {
                "path_params": dict(scope.get("path_params", {})),
                "app_root_path": scope.get("app_root_path", root_path),
                "root_path": root_path + self.path,
                "endpoint": self.app,
            }
        return match, child_scope


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        return path[len(root_path) :]
    return path


def _base_path(scope: Scope) -> str:
    root_path: str = scope.get("root_path", "")
    return root_path.rstrip("/")


def _server_error() -> dict[str, str]:
    return {"error": "server_error", "error_description": "the request could not be completed"}


async def _respond(
    send: Send, status: int, body: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
