"""A FastAPI API protected by cognito-asgi, with sign-up at /accounts.

Run it against the pool in the COGNITO_* variables::

    uvicorn --factory examples.fastapi_app:create_app

The middleware verifies every token; the dependencies hand the user to the routes, add
per-route group checks, and declare the bearer scheme in `/openapi.json`, so the "Authorize"
button of `/docs` works.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, CognitoUser
from cognito_asgi.accounts import AccountsApp, SQLUserStore, UserStore, record_loader
from cognito_asgi.fastapi import CognitoAuth, CognitoHTTPException, CurrentUser, refusal_handler

admins_only = CognitoAuth(groups=["admins"])


class Record(BaseModel):
    id: str
    name: str
    email: str
    created_at: str


class Me(BaseModel):
    username: str
    groups: list[str]
    record: Record | None


class Admin(BaseModel):
    admin: bool
    username: str


def create_app(
    settings: CognitoSettings | None = None,
    *,
    store: UserStore | None = None,
    cognito_client: Any = None,
) -> FastAPI:
    """The application; by default configured from the COGNITO_* environment variables."""
    settings = settings or CognitoSettings.from_env()
    users = store or SQLUserStore(settings.accounts_database_url)
    accounts = AccountsApp(settings, store=users, cognito_client=cognito_client)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await accounts.aclose()
        await users.aclose()

    app = FastAPI(
        title="cognito-asgi FastAPI example",
        lifespan=lifespan,
        exception_handlers={CognitoHTTPException: refusal_handler},
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    async def me(user: CurrentUser) -> Me:
        record = user.record.to_json() if user.record is not None else None
        return Me(
            username=user.username,
            groups=list(user.groups),
            record=Record(**record) if record is not None else None,
        )

    @app.get("/admin")
    async def admin(user: Annotated[CognitoUser, Depends(admins_only)]) -> Admin:
        return Admin(admin=True, username=user.username)

    # Like app.mount("/accounts", ...), and POST /accounts is answered without a redirect.
    app.router.routes.append(accounts.mount("/accounts"))
    app.add_middleware(
        CognitoAuthMiddleware,
        settings=settings,
        public_paths=["/accounts", "/health", "/docs", "/openapi.json"],
        user_loader=record_loader(users),
    )
    return app
