"""Hosted UI sign-in: the user pool's own sign-in pages and its social providers, with a
cookie session that `CognitoAuthMiddleware` reads.

    from cognito_asgi.hosted_ui import HostedUIApp, SessionRenewalMiddleware

Needs the `hosted-ui` extra (authlib). The routes, the cookie layout and the sign-out CSRF rule
are described on `HostedUIApp`; `RevocationCheck` optionally asks Cognito whether an access
token was revoked.
"""

from ._app import HostedUIApp, Renewal, safe_next
from ._errors import RevocationUnavailableError, RevokedTokenError, SignInError
from ._renewal import SessionRenewalMiddleware
from ._replay import MemoryReplayStore, ReplayStore
from ._revocation import RevocationCheck, RevocationCheckingVerifier
from ._settings import HostedUISettings

__all__ = [
    "HostedUIApp",
    "HostedUISettings",
    "MemoryReplayStore",
    "Renewal",
    "ReplayStore",
    "RevocationCheck",
    "RevocationCheckingVerifier",
    "RevocationUnavailableError",
    "RevokedTokenError",
    "SessionRenewalMiddleware",
    "SignInError",
    "safe_next",
]
