from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from ._errors import ConfigurationError

__all__ = ["CognitoSettings", "TokenUse", "read_env"]

TokenUse = Literal["access", "id", "any"]
PasswordFlow = Literal["challenge", "set_password"]

# Patterns from the Cognito API reference (CreateUserPool, CreateUserPoolClient).
_POOL_ID = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
_CLIENT_ID = re.compile(r"[\w+]{1,128}", re.ASCII)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", re.ASCII)
_RATE = re.compile(r"\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?", re.ASCII | re.I)
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(variable: str, url: str, *, allow_http: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(variable, f"{url!r} is not an http(s) URL")
    if parts.scheme == "http" and not (allow_http or _is_loopback(parts.hostname)):
        raise ConfigurationError(
            variable,
            f"{url!r} uses plain http to a host that is not loopback; keys fetched that way can "
            "be forged in transit (use https, or set COGNITO_JWKS_ALLOW_HTTP=true on a trusted "
            "network)",
        )
    return url.rstrip("/") if variable == "COGNITO_ENDPOINT_URL" else url


@dataclass(frozen=True, slots=True)
class CognitoSettings:
    """Everything cognito-asgi needs to know about one user pool, validated once at start-up.

    `CognitoSettings.from_env()` reads the `COGNITO_*` variables; the constructor takes the same
    values as keyword arguments and derives the region, issuers and key URL from the pool id::

        settings = CognitoSettings(user_pool_id="eu-west-1_AbC123", client_ids=("1example",))
    """

    user_pool_id: str
    client_ids: tuple[str, ...]
    region: str = ""
    token_use: TokenUse = "access"
    endpoint_url: str | None = None
    jwks_url: str = ""
    issuers: tuple[str, ...] = ()
    issuer_regions: tuple[str, ...] = ()
    client_secret: str | None = field(default=None, repr=False)
    leeway_seconds: float = 5.0
    jwks_json: str | None = field(default=None, repr=False)
    jwks_allow_http: bool = False
    jwks_cooldown_seconds: float = 10.0
    jwks_max_age_seconds: float = 3600.0
    jwks_max_stale_seconds: float = 86400.0
    jwks_timeout_seconds: float = 5.0
    token_cache_size: int = 10_000
    token_cookie: str | None = None
    accounts_database_url: str = "sqlite+aiosqlite:///cognito_asgi_accounts.sqlite3"
    accounts_password_flow: PasswordFlow = "challenge"
    accounts_return_tokens: bool = False
    accounts_rate_limit: str = "10/minute"
    accounts_rate_limit_storage: str = "memory://"

    def __post_init__(self) -> None:
        pool = self.user_pool_id
        if not _POOL_ID.fullmatch(pool):
            raise ConfigurationError(
                "COGNITO_USER_POOL_ID",
                f"{pool!r} is not a user pool id (expected REGION_ID, e.g. us-east-1_AbC123)",
            )
        if isinstance(self.client_ids, str):
            raise ConfigurationError("COGNITO_CLIENT_ID", "client_ids must be a tuple of ids")
        if not self.client_ids:
            raise ConfigurationError("COGNITO_CLIENT_ID", "at least one app client id is required")
        for client_id in self.client_ids:
            if not _CLIENT_ID.fullmatch(client_id):
                raise ConfigurationError(
                    "COGNITO_CLIENT_ID", f"{client_id!r} is not an app client id"
                )
        region = self.region or pool.partition("_")[0]
        if not _REGION.fullmatch(region):
            raise ConfigurationError("COGNITO_REGION", f"{region!r} is not an AWS region")
        for extra in self.issuer_regions:
            if not _REGION.fullmatch(extra):
                raise ConfigurationError(
                    "COGNITO_ISSUER_REGIONS", f"{extra!r} is not an AWS region"
                )
        if self.token_use not in ("access", "id", "any"):
            raise ConfigurationError(
                "COGNITO_TOKEN_USE", f"{self.token_use!r} is not one of access, id, any"
            )
        endpoint = self.endpoint_url
        if endpoint is not None:
            endpoint = _check_url("COGNITO_ENDPOINT_URL", endpoint, allow_http=True)
        if self.jwks_url:
            jwks_url = _check_url(
                "COGNITO_JWKS_URL", self.jwks_url, allow_http=self.jwks_allow_http
            )
        else:
            base = endpoint or f"https://cognito-idp.{region}.amazonaws.com"
            jwks_url = _check_url(
                "COGNITO_ENDPOINT_URL",
                f"{base}/{pool}/.well-known/jwks.json",
                allow_http=self.jwks_allow_http,
            )
        issuers = self.issuers or (
            f"https://cognito-idp.{region}.amazonaws.com/{pool}",
            f"https://issuer-cognito-idp.{region}.amazonaws.com/{pool}",
            *(f"https://issuer-cognito-idp.{r}.amazonaws.com/{pool}" for r in self.issuer_regions),
        )
        for issuer in issuers:
            if not issuer or issuer != issuer.strip():
                raise ConfigurationError("COGNITO_ISSUER", f"{issuer!r} is not an issuer")
        _positive("COGNITO_LEEWAY_SECONDS", self.leeway_seconds, zero_ok=True, limit=300)
        _positive("COGNITO_JWKS_COOLDOWN_SECONDS", self.jwks_cooldown_seconds, limit=86400)
        _positive("COGNITO_JWKS_MAX_AGE_SECONDS", self.jwks_max_age_seconds, limit=7 * 86400)
        _positive("COGNITO_JWKS_MAX_STALE_SECONDS", self.jwks_max_stale_seconds, zero_ok=True)
        _positive("COGNITO_JWKS_TIMEOUT_SECONDS", self.jwks_timeout_seconds, limit=120)
        _positive("COGNITO_TOKEN_CACHE_SIZE", self.token_cache_size, zero_ok=True, limit=10**7)
        if self.jwks_json is not None:
            from ._jwks import parse_jwks

            try:
                parse_jwks(self.jwks_json.encode())
            except ValueError as exc:
                raise ConfigurationError("COGNITO_JWKS_JSON", str(exc)) from None
        if self.token_cookie is not None and not re.fullmatch(
            r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", self.token_cookie
        ):
            raise ConfigurationError(
                "COGNITO_TOKEN_COOKIE", f"{self.token_cookie!r} is not a cookie name"
            )
        url = self.accounts_database_url
        if not (url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://"))):
            raise ConfigurationError(
                "COGNITO_ACCOUNTS_DATABASE_URL",
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB",
            )
        if self.accounts_password_flow not in ("challenge", "set_password"):
            raise ConfigurationError(
                "COGNITO_ACCOUNTS_PASSWORD_FLOW",
                f"{self.accounts_password_flow!r} is not one of challenge, set_password",
            )
        if not _RATE.fullmatch(self.accounts_rate_limit.strip()):
            raise ConfigurationError(
                "COGNITO_ACCOUNTS_RATE_LIMIT",
                f"{self.accounts_rate_limit!r} is not a rate such as 10/minute",
            )
        storage = self.accounts_rate_limit_storage
        if not storage.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigurationError(
                "COGNITO_ACCOUNTS_RATE_LIMIT_STORAGE",
                "expected memory:// or redis://HOST:PORT",
            )
        set_ = object.__setattr__
        set_(self, "region", region)
        set_(self, "endpoint_url", endpoint)
        set_(self, "jwks_url", jwks_url)
        set_(self, "issuers", tuple(issuers))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CognitoSettings:
        """Build the settings from `COGNITO_*` variables (by default `os.environ`).

        A missing or malformed value raises `ConfigurationError` naming the variable.
        """
        env = os.environ if environ is None else environ
        kwargs = read_env(
            env,
            required={
                "user_pool_id": ("COGNITO_USER_POOL_ID", _text),
                "client_ids": ("COGNITO_CLIENT_ID", _split),
            },
            optional={
                "region": ("COGNITO_REGION", _text),
                "token_use": ("COGNITO_TOKEN_USE", _lower),
                "endpoint_url": ("COGNITO_ENDPOINT_URL", _text),
                "jwks_url": ("COGNITO_JWKS_URL", _text),
                "issuers": ("COGNITO_ISSUER", _split),
                "issuer_regions": ("COGNITO_ISSUER_REGIONS", _split),
                "client_secret": ("COGNITO_CLIENT_SECRET", _text),
                "leeway_seconds": ("COGNITO_LEEWAY_SECONDS", _float),
                "jwks_json": ("COGNITO_JWKS_JSON", _text),
                "jwks_allow_http": ("COGNITO_JWKS_ALLOW_HTTP", _bool),
                "jwks_cooldown_seconds": ("COGNITO_JWKS_COOLDOWN_SECONDS", _float),
                "jwks_max_age_seconds": ("COGNITO_JWKS_MAX_AGE_SECONDS", _float),
                "jwks_max_stale_seconds": ("COGNITO_JWKS_MAX_STALE_SECONDS", _float),
                "jwks_timeout_seconds": ("COGNITO_JWKS_TIMEOUT_SECONDS", _float),
                "token_cache_size": ("COGNITO_TOKEN_CACHE_SIZE", _int),
                "token_cookie": ("COGNITO_TOKEN_COOKIE", _text),
                "accounts_database_url": ("COGNITO_ACCOUNTS_DATABASE_URL", _text),
                "accounts_password_flow": ("COGNITO_ACCOUNTS_PASSWORD_FLOW", _lower),
                "accounts_return_tokens": ("COGNITO_ACCOUNTS_RETURN_TOKENS", _bool),
                "accounts_rate_limit": ("COGNITO_ACCOUNTS_RATE_LIMIT", _text),
                "accounts_rate_limit_storage": ("COGNITO_ACCOUNTS_RATE_LIMIT_STORAGE", _text),
            },
        )
        jwks_file = _get(env, "COGNITO_JWKS_FILE")
        if jwks_file is not None:
            if "jwks_json" in kwargs:
                raise ConfigurationError(
                    "COGNITO_JWKS_FILE", "set COGNITO_JWKS_FILE or COGNITO_JWKS_JSON, not both"
                )
            try:
                kwargs["jwks_json"] = Path(jwks_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigurationError(
                    "COGNITO_JWKS_FILE", f"cannot read {jwks_file!r}: {exc}"
                ) from None
        try:
            return cls(**kwargs)  # type: ignore[arg-type]
        except ConfigurationError as exc:
            if exc.variable == "COGNITO_JWKS_JSON" and jwks_file is not None:
                raise ConfigurationError("COGNITO_JWKS_FILE", exc.message) from None
            raise

    def replace(self, **changes: object) -> CognitoSettings:
        """A copy with some values changed, derived values derived again."""
        derived = {"region", "jwks_url", "issuers"}
        current = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in derived or f.name in changes
        }
        current.update(changes)
        return CognitoSettings(**current)


Converter = Callable[[str, str], object]


def _get(env: Mapping[str, str], name: str) -> str | None:
    # A blank value counts as unset, as it does in most .env files.
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def read_env(
    env: Mapping[str, str],
    *,
    required: Mapping[str, tuple[str, Converter]],
    optional: Mapping[str, tuple[str, Converter]],
) -> dict[str, object]:
    """Constructor arguments from environment variables: {attribute: (VARIABLE, converter)}.

    A missing required variable raises ConfigurationError naming it; converters raise it too.
    """
    values: dict[str, object] = {}
    for attr, (name, convert) in required.items():
        value = _get(env, name)
        if value is None:
            raise ConfigurationError(name, "is required but not set")
        values[attr] = convert(name, value)
    for attr, (name, convert) in optional.items():
        value = _get(env, name)
        if value is not None:
            values[attr] = convert(name, value)
    return values


def _positive(
    variable: str, value: float, *, zero_ok: bool = False, limit: float | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ConfigurationError(variable, f"{value!r} is not a number")
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigurationError(variable, f"{value!r} must be {'≥' if zero_ok else '>'} 0")
    if limit is not None and value > limit:
        raise ConfigurationError(variable, f"{value!r} is above the limit of {limit:g}")


def _text(_name: str, value: str) -> str:
    return value


def _lower(_name: str, value: str) -> str:
    return value.lower()


def _split(name: str, value: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in value.split(","))
    if any(not item for item in items):
        raise ConfigurationError(name, f"{value!r} has an empty item in its comma-separated list")
    return items


def _float(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(name, f"{value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ConfigurationError(name, f"{value!r} is not a finite number")
    return number


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(name, f"{value!r} is not an integer") from None


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(name, f"{value!r} is not a boolean (true or false)")
