"""AWS Lambda entry point: a cognito-asgi protected API behind an API Gateway HTTP API.

Mangum turns each API Gateway event into an ASGI request. The function's environment comes
from template.yaml: COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID and
COGNITO_ACCOUNTS_DATABASE_URL (PostgreSQL). The application is built on the first invocation
and reused by the following ones in the same execution environment, with its key cache and
database pool.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, CognitoUser
from cognito_asgi.accounts import AccountsApp, SQLUserStore, UserStore, record_loader


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(request: Request) -> JSONResponse:
    user: CognitoUser = request.user
    return JSONResponse(
        {
            "username": user.username,
            "groups": list(user.groups),
            "record": user.record.to_json() if user.record is not None else None,
        }
    )


def create_app(
    settings: CognitoSettings | None = None,
    *,
    store: UserStore | None = None,
    cognito_client: Any = None,
) -> Starlette:
    """The API: public `/health` and `/accounts`, everything else behind a valid token.

    `app.state.store` is the user store (SQLUserStore from COGNITO_ACCOUNTS_DATABASE_URL
    unless `store` is given).
    """
    settings = settings or CognitoSettings.from_env()
    users = store or SQLUserStore(settings.accounts_database_url)
    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/me", me),
            AccountsApp(settings, store=users, cognito_client=cognito_client).mount("/accounts"),
        ],
        middleware=[
            Middleware(
                CognitoAuthMiddleware,
                settings=settings,
                public_paths=["/accounts", "/health"],
                user_loader=record_loader(users),
            )
        ],
    )
    app.state.store = users
    return app


def make_handler(app: Any = None) -> Mangum:
    """A Lambda handler for `app` (default: `create_app()` from the environment).

    Mangum would run the ASGI lifespan around every invocation; it is off so that the key set
    and the database connections outlive one request (both are set up on first use).
    """
    return Mangum(app if app is not None else create_app(), lifespan="off")


_handler: Mangum | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function's entry point (`Handler: handler.handler` in template.yaml)."""
    global _handler
    if _handler is None:
        _handler = make_handler()
    response: dict[str, Any] = _handler(event, context)
    return response
