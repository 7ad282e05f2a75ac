"""The exceptions cognito-asgi raises, in one tree.

    CognitoError
    ├── ConfigurationError          a setting is missing or malformed (.variable)
    ├── KeySetUnavailableError      the key set cannot be fetched at all         -> 503
    ├── TokenError                  the request carries no acceptable token      -> 401
    │   ├── MissingTokenError       no token was sent
    │   ├── InvalidRequestError     the request is ambiguous (two tokens)          -> 400
    │   ├── MalformedTokenError     not a compact JWS we accept
    │   ├── UnsupportedHeaderError  `alg`, `kid` or `crit` in the header refused (.header)
    │   ├── UnknownKeyError         no key with that `kid` in the key set (.kid)
    │   ├── InvalidSignatureError   the signature does not verify (.kid)
    │   └── ClaimError              a claim is wrong (.claim)
    │       ├── ExpiredTokenError   `exp` has passed
    │       └── NotYetValidError    `nbf` or `iat` lies in the future
    └── InsufficientScopeError      valid token, missing group or scope          -> 403

Every class carries a short machine `code`, used in logs, in the JSON body of a refusal and in
the command-line tool. Messages never contain the token itself.
"""

from __future__ import annotations

__all__ = [
    "ClaimError",
    "CognitoError",
    "ConfigurationError",
    "ExpiredTokenError",
    "InsufficientScopeError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "KeySetUnavailableError",
    "MalformedTokenError",
    "MissingTokenError",
    "NotYetValidError",
    "TokenError",
    "UnknownKeyError",
    "UnsupportedHeaderError",
]


class CognitoError(Exception):
    """Base class of every error cognito-asgi raises."""

    code = "cognito_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(CognitoError):
    """A setting is missing or malformed; `.variable` names the environment variable."""

    code = "configuration"

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


class KeySetUnavailableError(CognitoError):
    """The pool's key set could not be fetched and no usable copy is held."""

    code = "jwks_unavailable"

    def __init__(self, message: str, *, retry_after: int = 10) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenError(CognitoError):
    """The request carries no token that this verifier accepts."""

    code = "invalid_token"


class MissingTokenError(TokenError):
    code = "missing_token"

    def __init__(self, message: str = "no bearer token was sent") -> None:
        super().__init__(message)


class InvalidRequestError(TokenError):
    """RFC 6750 §3.1 `invalid_request`: for example two Authorization headers."""

    code = "invalid_request"


class MalformedTokenError(TokenError):
    code = "malformed"


class UnsupportedHeaderError(TokenError):
    code = "unsupported_header"

    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header = header


class UnknownKeyError(TokenError):
    code = "unknown_kid"

    def __init__(self, kid: str) -> None:
        super().__init__("the token was signed with a key that is not in the pool's key set")
        self.kid = kid


class InvalidSignatureError(TokenError):
    code = "bad_signature"

    def __init__(self, kid: str) -> None:
        super().__init__("the token's signature does not verify")
        self.kid = kid


class ClaimError(TokenError):
    code = "bad_claim"

    def __init__(self, claim: str, message: str) -> None:
        super().__init__(message)
        self.claim = claim


class ExpiredTokenError(ClaimError):
    code = "expired"

    def __init__(self) -> None:
        super().__init__("exp", "the token has expired")


class NotYetValidError(ClaimError):
    code = "not_yet_valid"

    def __init__(self, claim: str) -> None:
        super().__init__(claim, f"the token is not valid yet ({claim} lies in the future)")


class InsufficientScopeError(CognitoError):
    """The token is valid but lacks a required group or scope (RFC 6750 `insufficient_scope`)."""

    code = "insufficient_scope"

    def __init__(
        self,
        message: str,
        *,
        missing_groups: tuple[str, ...] = (),
        missing_scopes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.missing_groups = missing_groups
        self.missing_scopes = missing_scopes
