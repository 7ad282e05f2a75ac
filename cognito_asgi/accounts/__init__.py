"""Accounts: a mountable sign-up endpoint that creates our user record and the Cognito user.

    from cognito_asgi.accounts import AccountsApp, SQLUserStore, record_loader

The optional dependencies (the `accounts` extra: SQLAlchemy, aiosqlite, asyncpg, limits; the
`redis` extra for a shared rate limit) are imported when first used.
"""

from ._app import AccountsApp
from ._errors import (
    AccountExistsError,
    AccountsError,
    CognitoUnavailableError,
    EmailTakenError,
    InvalidPasswordError,
    ProvisioningError,
    ServiceUnavailableError,
    StoreUnavailableError,
)
from ._reconcile import ReconcileReport, reconcile
from ._sql import SQLUserStore
from ._store import UserRecord, UserStore, record_loader

__all__ = [
    "AccountExistsError",
    "AccountsApp",
    "AccountsError",
    "CognitoUnavailableError",
    "EmailTakenError",
    "InvalidPasswordError",
    "ProvisioningError",
    "ReconcileReport",
    "SQLUserStore",
    "ServiceUnavailableError",
    "StoreUnavailableError",
    "UserRecord",
    "UserStore",
    "reconcile",
    "record_loader",
]
