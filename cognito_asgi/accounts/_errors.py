"""The exceptions of the accounts subsystem, under the package's one base class.

    CognitoError
    └── AccountsError                 a sign-up, deletion or reconcile step failed      -> 500
        ├── AccountExistsError        Cognito already holds such a user                 -> 409
        │   └── EmailTakenError       the email already belongs to a record (.email)
        ├── InvalidPasswordError      the pool's password policy refused the password   -> 422
        ├── ServiceUnavailableError   Cognito or the store cannot answer now (.retry_after) -> 503
        │   ├── CognitoUnavailableError
        │   └── StoreUnavailableError
        └── ProvisioningError         the pool, client or credentials are misconfigured,
                                      or Cognito answered something unexpected (.setting) -> 500

Messages of `ProvisioningError` are for the server's log: they name the setting to fix and are
never sent to the caller. No message ever contains a password or a token.
"""

from __future__ import annotations

from cognito_asgi._errors import CognitoError

__all__ = [
    "AccountExistsError",
    "AccountsError",
    "CognitoUnavailableError",
    "EmailTakenError",
    "InvalidPasswordError",
    "ProvisioningError",
    "ServiceUnavailableError",
    "StoreUnavailableError",
]


class AccountsError(CognitoError):
    """Base class of the accounts subsystem's errors; `status` is the HTTP status it maps to."""

    code = "accounts_error"
    status = 500


class AccountExistsError(AccountsError):
    """Cognito refused to create the user: one with this username or email alias exists."""

    code = "account_exists"
    status = 409


class EmailTakenError(AccountExistsError):
    """A record with this email (compared case-insensitively) already exists."""

    code = "email_taken"

    def __init__(self, email: str) -> None:
        super().__init__("an account with this email already exists")
        self.email = email


class InvalidPasswordError(AccountsError):
    """The user pool refused the password; the message is Cognito's own policy message."""

    code = "invalid_password"
    status = 422


class ServiceUnavailableError(AccountsError):
    """A service the request depends on cannot answer now; retry after `retry_after` seconds."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, *, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CognitoUnavailableError(ServiceUnavailableError):
    """Cognito throttled the request or could not be reached."""

    code = "cognito_unavailable"


class StoreUnavailableError(ServiceUnavailableError):
    """The user store could not be reached (or is busy); raised by `UserStore` implementations."""

    code = "store_unavailable"


class ProvisioningError(AccountsError):
    """A step failed for a reason the caller cannot act on; `setting` names what to check."""

    code = "server_error"

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting
