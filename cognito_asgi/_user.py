from __future__ import annotations

import dataclasses
from collections.abc import Mapping
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
        return cls(
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
        return dataclasses.replace(self, record=record)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.username

    @property
    def identity(self) -> str:
        return self.sub
