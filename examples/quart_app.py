"""A Quart API protected by cognito-asgi, with sign-up at /accounts.

Run it against the pool in the COGNITO_* variables::

    uvicorn --factory examples.quart_app:create_app

Quart is an ASGI framework too: the middleware wraps the whole ASGI application and puts the
user on the scope, where the routes read it (`request.scope["user"]`). Quart has no `Mount`,
so a few lines send `/accounts` to `AccountsApp` and everything else to Quart.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from quart import Quart, request
from starlette.types import ASGIApp, Receive, Scope, Send

from cognito_asgi import (
    CognitoAuthMiddleware,
    CognitoError,
    CognitoSettings,
    CognitoUser,
    InsufficientScopeError,
    check_user,
)
from cognito_asgi.accounts import AccountsApp, SQLUserStore, UserStore, record_loader

View = Callable[..., Awaitable[Any]]


def current_user() -> CognitoUser:
    """The signed-in user of the request (the middleware has refused everyone else)."""
    scope: Mapping[str, Any] = request.scope
    user: CognitoUser = scope["user"]
    return user


def requires_group(group: str) -> Callable[[View], View]:
    """Let only members of `group` through; others get 403 (401 without a signed-in user)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            scope: Mapping[str, Any] = request.scope
            try:
                check_user(scope.get("user"), groups=[group])
            except CognitoError as exc:
                status = 403 if isinstance(exc, InsufficientScopeError) else 401
                error = "insufficient_scope" if status == 403 else "invalid_token"
                body = {"error": exc.code, "error_description": exc.message}
                return body, status, {"WWW-Authenticate": f'Bearer realm="api", error="{error}"'}
            return await view(*args, **kwargs)

        return wrapper

    return decorator


def mount(prefix: str, sub_app: ASGIApp, app: ASGIApp) -> ASGIApp:
    """Send requests under `prefix` to `sub_app`, with `root_path` set as a mount does."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (
            path == prefix or path.startswith(prefix + "/")
        ):
            scope = {**scope, "root_path": scope.get("root_path", "") + prefix}
            await sub_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return dispatch


def create_app(
    settings: CognitoSettings | None = None,
    *,
    store: UserStore | None = None,
    cognito_client: Any = None,
) -> ASGIApp:
    """The application; by default configured from the COGNITO_* environment variables."""
    settings = settings or CognitoSettings.from_env()
    users = store or SQLUserStore(settings.accounts_database_url)
    app = Quart(__name__)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me() -> dict[str, Any]:
        user = current_user()
        return {
            "username": user.username,
            "groups": list(user.groups),
            "record": user.record.to_json() if user.record is not None else None,
        }

    @app.get("/admin")
    @requires_group("admins")
    async def admin() -> dict[str, Any]:
        return {"admin": True, "username": current_user().username}

    accounts = AccountsApp(settings, store=users, cognito_client=cognito_client)

    @app.after_serving
    async def close() -> None:
        await accounts.aclose()
        await users.aclose()

    return CognitoAuthMiddleware(
        mount("/accounts", accounts, cast(ASGIApp, app)),
        settings=settings,
        public_paths=["/accounts", "/health"],
        user_loader=record_loader(users),
    )
