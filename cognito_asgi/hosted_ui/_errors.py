"""The errors of the Hosted UI sign-in, below cognito-asgi's tree.

CognitoError
├── SignInError                     the sign-in flow cannot complete (.code, .status)
├── TokenError
│   └── RevokedTokenError           Cognito says the access token was revoked     -> 401
└── KeySetUnavailableError
    └── RevocationUnavailableError  Cognito could not be asked about a token      -> 503
"""

from __future__ import annotations

from cognito_asgi._errors import CognitoError, KeySetUnavailableError, TokenError

__all__ = ["RevocationUnavailableError", "RevokedTokenError", "SignInError"]


class SignInError(CognitoError):
    """A step of the sign-in or sign-out flow failed; answered with `.status` and `.code`.

    Messages are fixed texts: nothing from the request or the provider is echoed back.
    """

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RevokedTokenError(TokenError):
    """Cognito no longer accepts the access token (global sign-out, revoked refresh token,
    disabled or deleted user)."""

    code = "revoked"

    def __init__(self) -> None:
        super().__init__("the token has been revoked")


class RevocationUnavailableError(KeySetUnavailableError):
    """Cognito could not be asked whether the token was revoked; the request is refused (503)
    rather than let a possibly revoked token through."""

    code = "revocation_unavailable"

    def __init__(self, *, retry_after: int = 5) -> None:
        super().__init__(
            "the token's revocation status cannot be checked right now", retry_after=retry_after
        )
