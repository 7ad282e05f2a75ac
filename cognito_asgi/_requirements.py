from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, ParamSpec, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from ._errors import CognitoError, InsufficientScopeError, MissingTokenError

__all__ = ["check_user", "require"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _names(what: str, names: Iterable[str]) -> tuple[str, ...]:
    # A bare string is iterable too: groups="admins" would mean six one-letter groups.
    if isinstance(names, str | bytes):
        raise TypeError(f"{what} must be a list of names, not a single string")
    return tuple(names)


def check_user(
    user: object,
    *,
    groups: Iterable[str] = (),
    scopes: Iterable[str] = (),
    match: Literal["any", "all"] = "any",
) -> None:
    """Raise unless `user` is a signed-in CognitoUser with the required groups and scopes.

    `match="any"` (the default, as in aws-jwt-verify) needs one of the groups and one of the
    scopes; `match="all"` needs every one of them.
    """
    from ._user import CognitoUser

    if not isinstance(user, CognitoUser):
        raise MissingTokenError()
    wanted_groups = frozenset(_names("groups", groups))
    wanted_scopes = frozenset(_names("scopes", scopes))
    if not wanted_groups and not wanted_scopes:
        return
    if match == "all":
        missing_groups = tuple(sorted(wanted_groups.difference(user.groups)))
        missing_scopes = tuple(sorted(wanted_scopes.difference(user.scopes)))
    else:
        missing_groups = (
            tuple(sorted(wanted_groups))
            if wanted_groups.isdisjoint(user.groups) and wanted_groups
            else ()
        )
        missing_scopes = (
            tuple(sorted(wanted_scopes))
            if wanted_scopes.isdisjoint(user.scopes) and wanted_scopes
            else ()
        )
    if missing_groups:
        raise InsufficientScopeError(
            f"the user is not in the required group(s): {', '.join(missing_groups)}",
            missing_groups=missing_groups,
        )
    if missing_scopes:
        raise InsufficientScopeError(
            f"the token lacks the required scope(s): {', '.join(missing_scopes)}",
            missing_scopes=missing_scopes,
        )


def require(
    *,
    groups: Iterable[str] = (),
    scopes: Iterable[str] = (),
    match: Literal["any", "all"] = "any",
) -> Callable[[Callable[_P, Awaitable[_R]]], Callable[_P, Awaitable[_R]]]:
    """Decorate an async Starlette endpoint so that it runs only for users with these groups/scopes.

    Usage::

        @require(groups=["admins"])
        async def admin_page(request): ...

    A caller without a valid token gets 401, one without the groups or scopes 403, both with the
    RFC 6750 header, on HTTP and WebSocket endpoints alike.
    """
    groups, scopes = _names("groups", groups), _names("scopes", scopes)

    def decorator(endpoint: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
        @functools.wraps(endpoint)
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            connection = next(
                (a for a in (*args, *kwargs.values()) if isinstance(a, HTTPConnection)), None
            )
            if connection is None:
                raise TypeError("@require decorates endpoints that take a request or websocket")
            try:
                check_user(connection.scope.get("user"), groups=groups, scopes=scopes, match=match)
            except CognitoError as exc:
                from ._middleware import default_error_response, refusal_parts

                if isinstance(connection, WebSocket):
                    respond = default_error_response(connection.scope, exc)
                    await respond(connection.scope, connection.receive, connection.send)
                    return None
                status, headers, body = refusal_parts(exc)
                response = Response(body, status_code=status)
                response.raw_headers = headers
                return response
            return await endpoint(*args, **kwargs)

        return wrapper

    return decorator
