"""A Starlette API protected by cognito-asgi, with sign-up at /accounts and an authenticated
WebSocket.

Run it against the pool in the COGNITO_* variables::

    uvicorn --factory examples.starlette_app:create_app

- `POST /accounts` (public) creates an account; `GET /accounts/me` returns the caller's record.
- `GET /me` needs a valid access token and shows who the caller is.
- `GET /admin` also needs the `admins` group.
- `/ws` is a WebSocket echo for signed-in users. A browser cannot set headers on a WebSocket,
  so the token travels as a subprotocol, `bearer.<token>`, next to the real one (`echo`):
  `new WebSocket(url, ["echo", "bearer." + accessToken])`. The middleware takes it out of the
  list before the application sees it, and the token never appears in a URL or an access log.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, CognitoUser, require
from cognito_asgi.accounts import AccountsApp, SQLUserStore, UserStore, record_loader

WEBSOCKET_TOKEN_PREFIX = "bearer."


def describe(user: CognitoUser) -> dict[str, Any]:
    """What the API tells a caller about themselves."""
    return {
        "username": user.username,
        "groups": list(user.groups),
        "record": user.record.to_json() if user.record is not None else None,
    }


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(request: Request) -> JSONResponse:
    return JSONResponse(describe(request.user))


@require(groups=["admins"])
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"admin": True, "username": request.user.username})


async def echo(websocket: WebSocket) -> None:
    user: CognitoUser = websocket.user
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="echo" if "echo" in offered else None)
    name = user.record.name if user.record is not None else user.username
    await websocket.send_json({"hello": name})
    try:
        while True:
            await websocket.send_json({"echo": await websocket.receive_text()})
    except WebSocketDisconnect:
        pass


def create_app(
    settings: CognitoSettings | None = None,
    *,
    store: UserStore | None = None,
    cognito_client: Any = None,
) -> Starlette:
    """The application; by default configured from the COGNITO_* environment variables."""
    settings = settings or CognitoSettings.from_env()
    users = store or SQLUserStore(settings.accounts_database_url)
    accounts = AccountsApp(settings, store=users, cognito_client=cognito_client)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await accounts.aclose()
        await users.aclose()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/me", me),
            Route("/admin", admin),
            WebSocketRoute("/ws", echo),
            # Like Mount("/accounts", ...), and POST /accounts is answered without a redirect.
            accounts.mount("/accounts"),
        ],
        middleware=[
            Middleware(
                CognitoAuthMiddleware,
                settings=settings,
                public_paths=["/accounts", "/health"],
                user_loader=record_loader(users),
                websocket_subprotocol_prefix=WEBSOCKET_TOKEN_PREFIX,
            )
        ],
        lifespan=lifespan,
    )
