from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cognito_asgi._user import CognitoUser

__all__ = ["RecordState", "UserRecord", "UserStore", "record_loader"]

RecordState = Literal["pending", "active"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One user as this application knows it; `id` is also the user's Cognito `Username`.

    A record is `pending` from just before the Cognito user is created until its password is
    permanent, then `active`. `to_json()` is what responses carry (never a password)::

        record = await store.get(request.user.username)
    """

    id: str
    name: str
    email: str
    created_at: datetime
    state: RecordState = "active"

    def to_json(self) -> dict[str, str]:
        """The record as a JSON object: id, name, email and created_at in ISO 8601."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "created_at": self.created_at.isoformat(),
        }


class UserStore(abc.ABC):
    """Where user records live. `SQLUserStore` is the implementation shipped with the package.

    Emails are unique compared case-insensitively: `insert_pending` raises `EmailTakenError`
    when another record holds the email, atomically, so that of two concurrent sign-ups with
    one email exactly one succeeds. An implementation that cannot reach its database raises
    `StoreUnavailableError`, which callers turn into 503 with `Retry-After`.
    """

    @abc.abstractmethod
    async def insert_pending(self, record: UserRecord) -> None:
        """Insert `record` in state `pending`; raise `EmailTakenError` if the email is taken."""

    @abc.abstractmethod
    async def activate(self, user_id: str) -> bool:
        """Mark a pending record active; False when no pending record has this id."""

    @abc.abstractmethod
    async def delete(self, user_id: str) -> bool:
        """Remove the record; False when there was none."""

    @abc.abstractmethod
    async def get(self, user_id: str) -> UserRecord | None:
        """The record with this id, in any state."""

    @abc.abstractmethod
    async def get_by_email(self, email: str) -> UserRecord | None:
        """The record with this email, compared case-insensitively."""

    @abc.abstractmethod
    async def list_pending(self, older_than: datetime, *, limit: int = 1000) -> list[UserRecord]:
        """Pending records created before `older_than` (an aware datetime), oldest first."""

    async def aclose(self) -> None:  # noqa: B027 - optional to override
        """Release connections; the store may be used again afterwards."""


def record_loader(store: UserStore) -> Callable[[CognitoUser], Awaitable[UserRecord | None]]:
    """A `user_loader` for `CognitoAuthMiddleware` that attaches the caller's record::

        app = CognitoAuthMiddleware(app, settings=settings, user_loader=record_loader(store))
        # then, in a handler: request.user.record is the UserRecord (or None)

    The record is looked up by `user.username`, which is the record id for users created by
    `AccountsApp`.
    """

    async def load(user: CognitoUser) -> UserRecord | None:
        return await store.get(user.username)

    return load
