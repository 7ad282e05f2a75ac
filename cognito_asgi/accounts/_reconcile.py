from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cognito_asgi._settings import CognitoSettings

from ._cognito import CallFailed, CognitoAdmin
from ._store import UserStore

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

__all__ = ["DEFAULT_OLDER_THAN", "ReconcileReport", "reconcile"]

logger = logging.getLogger("cognito_asgi.accounts")

#: Sign-ups take seconds; a record pending for longer belongs to a process that died.
DEFAULT_OLDER_THAN = 600.0


@dataclass
class ReconcileReport:
    """What `reconcile` did, by record id."""

    activated: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return len(self.activated) + len(self.undone) + len(self.removed) + len(self.failed)

    def summary(self) -> str:
        return (
            f"{self.checked} pending record(s): {len(self.activated)} activated, "
            f"{len(self.undone)} undone, {len(self.removed)} removed, {len(self.failed)} failed"
        )


async def reconcile(
    store: UserStore,
    settings: CognitoSettings,
    *,
    cognito_client: CognitoIdentityProviderClient | None = None,
    older_than: float = DEFAULT_OLDER_THAN,
    clock: Callable[[], datetime] | None = None,
) -> ReconcileReport:
    """Resolve the records left `pending` by sign-ups that died half-way, by asking Cognito.

    For each record pending for more than `older_than` seconds:

    - the Cognito user exists and is CONFIRMED (the password was made permanent): the record
      becomes `active`, the sign-up is finished;
    - the Cognito user exists in any other state (FORCE_CHANGE_PASSWORD, ...): the password is
      gone with the dead process, so the sign-up is undone: Cognito user, then record, deleted;
    - there is no Cognito user: the record is deleted.

    Safe to run again and concurrently with sign-ups younger than `older_than`::

        report = await reconcile(store, CognitoSettings.from_env(), older_than=600)
    """
    admin = CognitoAdmin(settings, cognito_client)
    try:
        return await _reconcile(store, admin, older_than, (clock or _utc_now)())
    finally:
        await admin.aclose()  # only closes a client it built itself


async def _reconcile(
    store: UserStore, admin: CognitoAdmin, older_than: float, now: datetime
) -> ReconcileReport:
    report = ReconcileReport()
    for record in await store.list_pending(now - timedelta(seconds=older_than)):
        user_id = record.id
        try:
            try:
                user = await admin.call(
                    "admin_get_user", UserPoolId=admin.pool_id, Username=user_id
                )
            except CallFailed as failed:
                if failed.code != "UserNotFoundException":
                    raise
                await store.delete(user_id)
                report.removed.append(user_id)
                logger.info("reconcile: removed record %s (no Cognito user)", user_id)
                continue
            status = user.get("UserStatus")
            if status == "CONFIRMED":
                await store.activate(user_id)
                report.activated.append(user_id)
                logger.info("reconcile: activated %s (Cognito user CONFIRMED)", user_id)
                continue
            try:
                await admin.call("admin_delete_user", UserPoolId=admin.pool_id, Username=user_id)
            except CallFailed as failed:
                if failed.code != "UserNotFoundException":
                    raise
            await store.delete(user_id)
            report.undone.append(user_id)
            logger.info("reconcile: undid %s (Cognito user was %s)", user_id, status)
        except CallFailed as failed:
            report.failed.append(user_id)
            logger.error("reconcile: %s left pending: %s", user_id, failed.error.message)
        except Exception as exc:
            report.failed.append(user_id)
            logger.error("reconcile: %s left pending: %s", user_id, type(exc).__name__)
    return report


def _utc_now() -> datetime:
    return datetime.now(UTC)
