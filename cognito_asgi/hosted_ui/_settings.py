from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cognito_asgi._errors import ConfigurationError
from cognito_asgi._settings import _float, _is_loopback, read_env

__all__ = ["HostedUISettings"]

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_CLIENT_ID = re.compile(r"[\w+]{1,128}", re.ASCII)
# RFC 6265 §4.1.1: a cookie name is an RFC 7230 token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_PATH = re.compile(r"/[\x21-\x2b\x2d-\x3a\x3c-\x7e]*")
_MIN_SECRET_LENGTH = 32


def _origin(scheme: str, host: str, port: int | None) -> str:
    default = 443 if scheme == "https" else 80
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" if port in (None, default) else f"{scheme}://{netloc}:{port}"


def _site_url(variable: str, url: str) -> tuple[str, str]:
    """Check an absolute http(s) URL; return it and its origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError(variable, f"{url!r} is not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(variable, f"{url!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            variable,
            f"{url!r} uses plain http; only a loopback host (localhost, 127.0.0.1) may, for "
            "local development",
        )
    if parts.fragment or parts.username or parts.password or any(c in url for c in " \t\r\n"):
        raise ConfigurationError(variable, f"{url!r} must not have a fragment, user or spaces")
    return url, _origin(parts.scheme, parts.hostname.lower(), port)


@dataclass(frozen=True, slots=True)
class HostedUISettings:
    """Settings of the Hosted UI sign-in (`HostedUIApp`), validated once at start-up.

    `HostedUISettings.from_env()` reads `COGNITO_DOMAIN`, `COGNITO_REDIRECT_URI`,
    `COGNITO_SESSION_SECRET` and the optional variables; the constructor takes the same values::

        hosted = HostedUISettings(
            domain="https://example.auth.eu-west-1.amazoncognito.com",
            redirect_uri="https://app.example.com/auth/callback",
            session_secret=secrets.token_urlsafe(32),
        )

    The routes' own path (`auth_path`, e.g. `/auth`) is the redirect URI's path without its
    final `/callback`; the site's origin (for the sign-out CSRF check) is the redirect URI's.
    """

    domain: str
    redirect_uri: str
    session_secret: str = field(repr=False)
    logout_uri: str = ""
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    client_id: str | None = None
    access_cookie: str = "cognito_access"
    refresh_cookie: str = "cognito_refresh"
    cookie_path: str = "/"
    session_max_age_seconds: float = 30 * 86400.0
    login_timeout_seconds: float = 600.0
    #: Derived: the path the routes are mounted at, e.g. "/auth" ("" at the root).
    auth_path: str = field(default="", init=False)
    #: Derived: scheme://host[:port] of the redirect URI, the only origin allowed to sign out.
    origin: str = field(default="", init=False)
    #: Derived: cookies carry `Secure` unless the redirect URI's host is loopback.
    secure_cookies: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        domain, _ = _site_url("COGNITO_DOMAIN", self.domain)
        parts = urlsplit(domain)
        if parts.path not in ("", "/") or parts.query:
            raise ConfigurationError(
                "COGNITO_DOMAIN",
                f"{domain!r} must be the bare Hosted UI domain, e.g. "
                "https://example.auth.us-east-1.amazoncognito.com (no path or query)",
            )
        domain = domain.rstrip("/")
        redirect_uri, origin = _site_url("COGNITO_REDIRECT_URI", self.redirect_uri)
        redirect = urlsplit(redirect_uri)
        if redirect.query or not redirect.path.endswith("/callback"):
            raise ConfigurationError(
                "COGNITO_REDIRECT_URI",
                f"{redirect_uri!r} must be the URL of the callback route, e.g. "
                "https://app.example.com/auth/callback (no query)",
            )
        auth_path = redirect.path[: -len("/callback")]
        logout_uri = self.logout_uri or f"{origin}/"
        _site_url("COGNITO_LOGOUT_URI", logout_uri)
        if isinstance(self.scopes, str) or not self.scopes:
            raise ConfigurationError("COGNITO_SCOPES", "expected a list of scopes")
        for scope in self.scopes:
            if not _SCOPE.fullmatch(scope):
                raise ConfigurationError("COGNITO_SCOPES", f"{scope!r} is not a scope")
        if "openid" not in self.scopes:
            raise ConfigurationError(
                "COGNITO_SCOPES", "must include openid: the id token confirms the sign-in"
            )
        if self.client_id is not None and not _CLIENT_ID.fullmatch(self.client_id):
            raise ConfigurationError(
                "COGNITO_HOSTED_UI_CLIENT_ID", f"{self.client_id!r} is not an app client id"
            )
        secret = self.session_secret
        if not isinstance(secret, str) or len(secret.strip()) < _MIN_SECRET_LENGTH:
            raise ConfigurationError(
                "COGNITO_SESSION_SECRET",
                f"must be at least {_MIN_SECRET_LENGTH} characters of random text, e.g. from "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`',
            )
        for variable, name in (
            ("COGNITO_TOKEN_COOKIE", self.access_cookie),
            ("COGNITO_SESSION_REFRESH_COOKIE", self.refresh_cookie),
        ):
            if not _COOKIE_NAME.fullmatch(name):
                raise ConfigurationError(variable, f"{name!r} is not a cookie name")
        secure = not _is_loopback(redirect.hostname)
        for variable, name in (
            ("COGNITO_TOKEN_COOKIE", self.access_cookie),
            ("COGNITO_SESSION_REFRESH_COOKIE", self.refresh_cookie),
        ):
            # RFC 6265bis §4.1.3: browsers drop prefixed cookies that break the prefix's rules.
            if name.startswith("__Host-") and (self.cookie_path != "/" or not secure):
                raise ConfigurationError(
                    variable, "a __Host- cookie needs https and COGNITO_SESSION_COOKIE_PATH=/"
                )
            if name.startswith("__Secure-") and not secure:
                raise ConfigurationError(variable, "a __Secure- cookie needs an https site")
        if self.access_cookie == self.refresh_cookie:
            raise ConfigurationError(
                "COGNITO_SESSION_REFRESH_COOKIE", "must differ from the access-token cookie name"
            )
        if not _COOKIE_PATH.fullmatch(self.cookie_path):
            raise ConfigurationError(
                "COGNITO_SESSION_COOKIE_PATH", f"{self.cookie_path!r} is not a cookie path"
            )
        _number("COGNITO_SESSION_MAX_AGE_SECONDS", self.session_max_age_seconds, 60, 3650 * 86400)
        _number("COGNITO_LOGIN_TIMEOUT_SECONDS", self.login_timeout_seconds, 30, 3600)
        set_ = object.__setattr__
        set_(self, "domain", domain)
        set_(self, "logout_uri", logout_uri)
        set_(self, "scopes", tuple(self.scopes))
        set_(self, "auth_path", auth_path)
        set_(self, "origin", origin)
        set_(self, "secure_cookies", secure)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HostedUISettings:
        """Build the settings from `COGNITO_*` variables (by default `os.environ`).

        A missing or malformed value raises `ConfigurationError` naming the variable.
        """
        env = os.environ if environ is None else environ
        kwargs = read_env(
            env,
            required={
                "domain": ("COGNITO_DOMAIN", _text),
                "redirect_uri": ("COGNITO_REDIRECT_URI", _text),
                "session_secret": ("COGNITO_SESSION_SECRET", _text),
            },
            optional={
                "logout_uri": ("COGNITO_LOGOUT_URI", _text),
                "scopes": ("COGNITO_SCOPES", _scopes),
                "client_id": ("COGNITO_HOSTED_UI_CLIENT_ID", _text),
                "access_cookie": ("COGNITO_TOKEN_COOKIE", _text),
                "refresh_cookie": ("COGNITO_SESSION_REFRESH_COOKIE", _text),
                "cookie_path": ("COGNITO_SESSION_COOKIE_PATH", _text),
                "session_max_age_seconds": ("COGNITO_SESSION_MAX_AGE_SECONDS", _float),
                "login_timeout_seconds": ("COGNITO_LOGIN_TIMEOUT_SECONDS", _float),
            },
        )
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def login_path(self) -> str:
        """Where a user goes to sign in, e.g. `/auth/login`."""
        return f"{self.auth_path}/login"

    @property
    def flow_cookie_path(self) -> str:
        return self.auth_path or "/"


def _text(_name: str, value: str) -> str:
    return value


def _scopes(_name: str, value: str) -> tuple[str, ...]:
    # Space-separated as in OAuth 2.0; commas are accepted too.
    return tuple(value.replace(",", " ").split())


def _number(variable: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ConfigurationError(variable, f"{value!r} is not a number")
    if not low <= value <= high:
        raise ConfigurationError(variable, f"{value!r} must lie between {low:g} and {high:g}")
