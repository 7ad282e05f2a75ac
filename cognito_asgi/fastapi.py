"""FastAPI dependencies for routes behind `CognitoAuthMiddleware`.

The middleware verifies the token and puts the user on the scope; the dependencies here hand
that user to a route, enforce per-route groups and scopes, and declare the bearer security
scheme so that `/openapi.json` (and the "Authorize" button of `/docs`) know about it::

    from fastapi import Depends, FastAPI
    from cognito_asgi import CognitoAuthMiddleware
    from cognito_asgi.fastapi import CognitoAuth, CurrentUser

    app = FastAPI()
    app.add_middleware(CognitoAuthMiddleware, public_paths=["/docs", "/openapi.json"])

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"username": user.username}

    @app.delete("/things/{id}", dependencies=[Depends(CognitoAuth(groups=["admins"]))])
    async def delete_thing(id: int) -> None: ...

Needs the `fastapi` extra. `import cognito_asgi` never imports FastAPI; only this module does.
"""

# No `from __future__ import annotations` here: FastAPI reads the signature of
# `CognitoAuth.__call__` at run time, and older FastAPI releases cannot resolve string
# annotations on a callable instance.

from collections.abc import Iterable
from typing import Annotated, Literal, cast

try:
    from fastapi import Depends, HTTPException, Security
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "cognito_asgi.fastapi needs FastAPI: pip install 'cognito-asgi[fastapi]'"
    ) from exc

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ._errors import CognitoError
from ._middleware import default_error_response, refusal_parts
from ._requirements import check_user
from ._user import CognitoUser

__all__ = [
    "CognitoAuth",
    "CognitoHTTPException",
    "CurrentUser",
    "bearer_scheme",
    "current_user",
    "refusal_handler",
]


class _Bearer(HTTPBearer):
    # FastAPI passes a WebSocket only to a parameter typed HTTPConnection (or WebSocket); some
    # FastAPI releases type HTTPBearer's as Request, which would break WebSocket routes.
    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        return await super().__call__(request)  # type: ignore[arg-type,unused-ignore]


#: The OpenAPI security scheme the dependencies declare. It only documents the header: the
#: token itself is verified by the middleware, whatever source it came from.
bearer_scheme: HTTPBearer = _Bearer(
    auto_error=False, scheme_name="CognitoBearer", bearerFormat="JWT"
)

# Sent by the response class itself; the rest of the refusal's headers go on the exception.
_BODY_HEADERS = frozenset({b"content-type", b"content-length"})


class CognitoHTTPException(HTTPException):
    """The refusal of a `CognitoAuth` dependency: 401, 403 or 503 with the RFC 6750 header.

    `.error` is the `CognitoError` behind it. FastAPI's default handler answers with
    `{"detail": {"error": ..., "error_description": ...}}`; register `refusal_handler` to
    answer with exactly the body the middleware sends::

        app.add_exception_handler(CognitoHTTPException, refusal_handler)
    """

    def __init__(self, error: CognitoError) -> None:
        status, headers, _ = refusal_parts(error)
        super().__init__(
            status_code=status,
            detail={"error": error.code, "error_description": error.message},
            headers={
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in headers
                if name not in _BODY_HEADERS
            },
        )
        self.error = error


class _RefusalResponse(Response):
    """The middleware's own refusal, usable where FastAPI expects a Response.

    On a WebSocket it becomes an HTTP denial response where the server supports the
    `websocket.http.response` extension, else a close frame, just as from the middleware.
    """

    def __init__(self, error: CognitoError) -> None:
        status, headers, body = refusal_parts(error)
        super().__init__(body, status_code=status)
        self.raw_headers = headers
        self.error = error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await default_error_response(scope, self.error)(scope, receive, send)


async def refusal_handler(connection: HTTPConnection, exc: Exception) -> Response:
    """Exception handler that answers a `CognitoHTTPException` as the middleware would.

    Usage::

        app = FastAPI(exception_handlers={CognitoHTTPException: refusal_handler})
    """
    if not isinstance(exc, CognitoHTTPException):
        raise TypeError("refusal_handler handles CognitoHTTPException only") from exc
    return _RefusalResponse(exc.error)


class CognitoAuth:
    """A FastAPI dependency that returns the signed-in `CognitoUser` of the request.

    Usage::

        admins_only = CognitoAuth(groups=["admins"])

        @app.get("/admin")
        async def admin(user: Annotated[CognitoUser, Depends(admins_only)]) -> ...: ...

    It reads the user that `CognitoAuthMiddleware` put on the scope, so the middleware must
    wrap the application. Without a signed-in user the route is refused with 401 (this happens
    on the middleware's `public_paths`, where a token is optional), and without one of the
    `groups` or `scopes` (`match="all"`: all of them) with 403, both raised as
    `CognitoHTTPException`. Works on HTTP and WebSocket routes. The route's OpenAPI operation
    lists the `CognitoBearer` security scheme.
    """

    def __init__(
        self,
        *,
        groups: Iterable[str] = (),
        scopes: Iterable[str] = (),
        match: Literal["any", "all"] = "any",
    ) -> None:
        if isinstance(groups, str) or isinstance(scopes, str):
            # tuple("admins") would be six one-letter groups.
            raise TypeError("groups and scopes are lists of names, not a single string")
        if match not in ("any", "all"):
            raise ValueError(f"match must be 'any' or 'all', not {match!r}")
        self.groups = tuple(groups)
        self.scopes = tuple(scopes)
        self.match: Literal["any", "all"] = match

    async def __call__(
        self,
        connection: HTTPConnection,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
    ) -> CognitoUser:
        # `credentials` is there for the OpenAPI document only: the middleware has already
        # verified the token, from whichever source it is configured to take it.
        if "user" not in connection.scope:
            raise RuntimeError(
                "CognitoAuth found no user on the request: wrap the application in "
                "CognitoAuthMiddleware (app.add_middleware(CognitoAuthMiddleware, ...))"
            )
        user = connection.scope["user"]
        try:
            check_user(user, groups=self.groups, scopes=self.scopes, match=self.match)
        except CognitoError as error:
            raise CognitoHTTPException(error) from None
        return cast(CognitoUser, user)  # check_user refuses any other kind of user

    def __repr__(self) -> str:
        return f"CognitoAuth(groups={self.groups!r}, scopes={self.scopes!r}, match={self.match!r})"


#: The signed-in user, without any group or scope requirement.
current_user = CognitoAuth()

#: `user: CurrentUser` in a route's parameters is `Depends(current_user)`.
CurrentUser = Annotated[CognitoUser, Depends(current_user)]
