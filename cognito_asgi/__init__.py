"""AWS Cognito authentication for any ASGI application."""

from ._errors import (
    ClaimError,
    CognitoError,
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidRequestError,
    InvalidSignatureError,
    KeySetUnavailableError,
    MalformedTokenError,
    MissingTokenError,
    NotYetValidError,
    TokenError,
    UnknownKeyError,
    UnsupportedHeaderError,
)
from ._jwks import JWKSCache, parse_jwks
from ._middleware import CognitoAuthMiddleware, ErrorHandler, UserLoader, default_error_response
from ._requirements import check_user, require
from ._settings import CognitoSettings, TokenUse
from ._stats import AuthStats
from ._user import CognitoUser
from ._verifier import Claims, CustomCheck, TokenVerifier

__version__ = "0.1.0.dev0"

__all__ = [
    "AuthStats",
    "ClaimError",
    "Claims",
    "CognitoAuthMiddleware",
    "CognitoError",
    "CognitoSettings",
    "CognitoUser",
    "ConfigurationError",
    "CustomCheck",
    "ErrorHandler",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "JWKSCache",
    "KeySetUnavailableError",
    "MalformedTokenError",
    "MissingTokenError",
    "NotYetValidError",
    "TokenError",
    "TokenUse",
    "TokenVerifier",
    "UnknownKeyError",
    "UnsupportedHeaderError",
    "UserLoader",
    "__version__",
    "check_user",
    "default_error_response",
    "parse_jwks",
    "require",
]
