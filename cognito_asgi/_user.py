from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.authentication import BaseUser

__all__ = ["CognitoUser"]


@dataclass(frozen=True, slots=True, eq=False)
class CognitoUser(BaseUser):
    """The signed-in user of a request, built from a verified token.

    In Starlette and FastAPI it is `request.user`; elsewhere `scope["user"]`::

        async def me(request):
            user: CognitoUser = request.user
            return JSONResponse({"username": user.username, "groups": list(user.groups)})

    `record` is the application's own user record when the middleware has a user loader.
    """

    username: str
    sub: str
    token_use: str
    client_id: str
    groups: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    email: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)
    record: Any = field(default=None, repr=False)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], record: Any = None) -> CognitoUser:
        """Build the user from claims that a TokenVerifier accepted."""
        # On the path of every new token: positional arguments, each claim read once.
        token_use = claims["token_use"]
        sub = claims["sub"]
        get = claims.get
        if token_use == "access":
            username, client_id, email = get("username"), claims["client_id"], None
        else:
            username, client_id, email = get("cognito:username"), claims["aud"], get("email")
        groups = get("cognito:groups")
        scope = get("scope")
        # cls() for a subclass, which may add fields, or checks in __post_init__.
        return (_built if cls is CognitoUser else cls)(
            username or sub,
            sub,
            token_use,
            client_id,
            tuple(groups) if groups else (),
            tuple(scope.split()) if scope else (),
            email,
            claims,
            record,
        )

    def with_record(self, record: Any) -> CognitoUser:
        """The same user with `record` attached."""
        if type(self) is not CognitoUser:
            return dataclasses.replace(self, record=record)
        return _built(
            self.username,
            self.sub,
            self.token_use,
            self.client_id,
            self.groups,
            self.scopes,
            self.email,
            self.claims,
            record,
        )

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username

    @property
    def identity(self) -> str:
        return self.sub


def _setter(name: str) -> Callable[[CognitoUser, Any], None]:
    """The setter of CognitoUser's slot `name`, which a frozen instance's __setattr__ refuses."""
    setter: Callable[[CognitoUser, Any], None] = CognitoUser.__dict__[name].__set__
    return setter


_set_username = _setter("username")
_set_sub = _setter("sub")
_set_token_use = _setter("token_use")
_set_client_id = _setter("client_id")
_set_groups = _setter("groups")
_set_scopes = _setter("scopes")
_set_email = _setter("email")
_set_claims = _setter("claims")
_set_record = _setter("record")


def _built(
    username: str,
    sub: str,
    token_use: str,
    client_id: str,
    groups: tuple[str, ...],
    scopes: tuple[str, ...],
    email: str | None,
    claims: Mapping[str, Any],
    record: Any,
) -> CognitoUser:
    """CognitoUser(...), its slots set one by one: on the path of every new token and every
    loaded record, where the frozen dataclass's __init__, setting each field through
    object.__setattr__, costs about twice as much."""
    user = object.__new__(CognitoUser)
    _set_username(user, username)
    _set_sub(user, sub)
    _set_token_use(user, token_use)
    _set_client_id(user, client_id)
    _set_groups(user, groups)
    _set_scopes(user, scopes)
    _set_email(user, email)
    _set_claims(user, claims)
    _set_record(user, record)
    return user
