"""Hosted UI settings from the environment, and the subpackage's public names."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import cognito_asgi.hosted_ui
from cognito_asgi import ConfigurationError
from cognito_asgi.hosted_ui import HostedUIApp, HostedUISettings
from cognito_asgi.testing import LocalIssuer

SECRET = "s" * 40
BASE = {
    "COGNITO_DOMAIN": "https://example.auth.eu-west-1.amazoncognito.com",
    "COGNITO_REDIRECT_URI": "https://app.example.com/auth/callback",
    "COGNITO_SESSION_SECRET": SECRET,
}
# Shared between the subpackage's modules, not meant for users.
INTERNAL = {
    "Sealer",
    "SingleFlight",
    "cookie_header_without",
    "delete_cookie",
    "set_cookie",
    "unverified_exp",
}


def test_defaults_and_derived_values() -> None:
    """The three required variables suffice; the rest defaults and derives sensibly."""
    settings = HostedUISettings.from_env(BASE)
    assert settings.domain == "https://example.auth.eu-west-1.amazoncognito.com"
    assert settings.scopes == ("openid", "email", "profile")
    assert settings.logout_uri == "https://app.example.com/"
    assert settings.auth_path == "/auth"
    assert settings.login_path == "/auth/login"
    assert settings.origin == "https://app.example.com"
    assert settings.secure_cookies is True
    assert (settings.access_cookie, settings.refresh_cookie) == (
        "cognito_access",
        "cognito_refresh",
    )
    assert settings.cookie_path == "/"
    assert settings.client_id is None
    assert SECRET not in repr(settings)


def test_every_variable_is_read() -> None:
    """Each optional variable sets its field."""
    settings = HostedUISettings.from_env(
        {
            **BASE,
            "COGNITO_DOMAIN": "https://auth.example.com/",
            "COGNITO_REDIRECT_URI": "http://127.0.0.1:8000/callback",
            "COGNITO_LOGOUT_URI": "http://127.0.0.1:8000/bye",
            "COGNITO_SCOPES": "openid, email aws.cognito.signin.user.admin",
            "COGNITO_HOSTED_UI_CLIENT_ID": "abc123",
            "COGNITO_TOKEN_COOKIE": "session",
            "COGNITO_SESSION_REFRESH_COOKIE": "renew",
            "COGNITO_SESSION_COOKIE_PATH": "/app",
            "COGNITO_SESSION_MAX_AGE_SECONDS": "86400",
            "COGNITO_LOGIN_TIMEOUT_SECONDS": "300",
        }
    )
    assert settings.domain == "https://auth.example.com"
    assert settings.scopes == ("openid", "email", "aws.cognito.signin.user.admin")
    assert settings.auth_path == ""
    assert settings.flow_cookie_path == "/"
    assert settings.origin == "http://127.0.0.1:8000"
    assert settings.secure_cookies is False
    assert settings.logout_uri == "http://127.0.0.1:8000/bye"
    assert settings.client_id == "abc123"
    assert (settings.access_cookie, settings.refresh_cookie) == ("session", "renew")
    assert settings.cookie_path == "/app"
    assert settings.session_max_age_seconds == 86400
    assert settings.login_timeout_seconds == 300


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"COGNITO_DOMAIN": ""}, "COGNITO_DOMAIN"),
        ({"COGNITO_DOMAIN": "example.auth.amazoncognito.com"}, "COGNITO_DOMAIN"),
        ({"COGNITO_DOMAIN": "http://auth.example.com"}, "COGNITO_DOMAIN"),
        ({"COGNITO_DOMAIN": "https://auth.example.com/oauth2"}, "COGNITO_DOMAIN"),
        ({"COGNITO_DOMAIN": "https://auth.example.com:99999"}, "COGNITO_DOMAIN"),
        ({"COGNITO_REDIRECT_URI": ""}, "COGNITO_REDIRECT_URI"),
        ({"COGNITO_REDIRECT_URI": "https://app.example.com/auth"}, "COGNITO_REDIRECT_URI"),
        ({"COGNITO_REDIRECT_URI": "http://app.example.com/callback"}, "COGNITO_REDIRECT_URI"),
        ({"COGNITO_REDIRECT_URI": "https://a.example/callback#x"}, "COGNITO_REDIRECT_URI"),
        ({"COGNITO_REDIRECT_URI": "https://a.example/callback?x=1"}, "COGNITO_REDIRECT_URI"),
        ({"COGNITO_LOGOUT_URI": "javascript:alert(1)"}, "COGNITO_LOGOUT_URI"),
        ({"COGNITO_LOGOUT_URI": "http://app.example.com/"}, "COGNITO_LOGOUT_URI"),
        ({"COGNITO_SCOPES": "email profile"}, "COGNITO_SCOPES"),
        ({"COGNITO_SCOPES": 'openid "x"'}, "COGNITO_SCOPES"),
        ({"COGNITO_HOSTED_UI_CLIENT_ID": "not a client"}, "COGNITO_HOSTED_UI_CLIENT_ID"),
        ({"COGNITO_SESSION_SECRET": ""}, "COGNITO_SESSION_SECRET"),
        ({"COGNITO_SESSION_SECRET": "too-short"}, "COGNITO_SESSION_SECRET"),
        ({"COGNITO_TOKEN_COOKIE": "bad name"}, "COGNITO_TOKEN_COOKIE"),
        ({"COGNITO_SESSION_REFRESH_COOKIE": "a;b"}, "COGNITO_SESSION_REFRESH_COOKIE"),
        ({"COGNITO_SESSION_REFRESH_COOKIE": "cognito_access"}, "COGNITO_SESSION_REFRESH_COOKIE"),
        ({"COGNITO_SESSION_COOKIE_PATH": "app"}, "COGNITO_SESSION_COOKIE_PATH"),
        ({"COGNITO_SESSION_COOKIE_PATH": "/a;b"}, "COGNITO_SESSION_COOKIE_PATH"),
        ({"COGNITO_SESSION_MAX_AGE_SECONDS": "ten"}, "COGNITO_SESSION_MAX_AGE_SECONDS"),
        ({"COGNITO_SESSION_MAX_AGE_SECONDS": "0"}, "COGNITO_SESSION_MAX_AGE_SECONDS"),
        ({"COGNITO_LOGIN_TIMEOUT_SECONDS": "86400"}, "COGNITO_LOGIN_TIMEOUT_SECONDS"),
        (
            {"COGNITO_TOKEN_COOKIE": "__Host-s", "COGNITO_SESSION_COOKIE_PATH": "/app"},
            "COGNITO_TOKEN_COOKIE",
        ),
        (
            {
                "COGNITO_SESSION_REFRESH_COOKIE": "__Secure-r",
                "COGNITO_REDIRECT_URI": "http://localhost:8000/auth/callback",
            },
            "COGNITO_SESSION_REFRESH_COOKIE",
        ),
    ],
    ids=[
        "domain-missing",
        "domain-not-a-url",
        "domain-plain-http",
        "domain-with-path",
        "domain-bad-port",
        "redirect-missing",
        "redirect-not-callback",
        "redirect-plain-http",
        "redirect-fragment",
        "redirect-query",
        "logout-javascript",
        "logout-plain-http",
        "scopes-without-openid",
        "scopes-bad-character",
        "client-id-malformed",
        "secret-missing",
        "secret-short",
        "access-cookie-name",
        "refresh-cookie-name",
        "cookie-names-equal",
        "cookie-path-relative",
        "cookie-path-semicolon",
        "max-age-not-a-number",
        "max-age-zero",
        "login-timeout-too-long",
        "host-prefix-needs-root-path",
        "secure-prefix-needs-https",
    ],
)
def test_a_bad_value_names_its_variable(changes: dict[str, str], variable: str) -> None:
    """Every missing or malformed value stops start-up with an error naming the variable."""
    with pytest.raises(ConfigurationError) as caught:
        HostedUISettings.from_env({**BASE, **changes})
    assert caught.value.variable == variable


def test_the_client_must_be_one_the_middleware_accepts(issuer: LocalIssuer) -> None:
    """COGNITO_HOSTED_UI_CLIENT_ID outside COGNITO_CLIENT_ID is refused at start-up."""
    hosted = HostedUISettings.from_env({**BASE, "COGNITO_HOSTED_UI_CLIENT_ID": "otherclient"})
    with pytest.raises(ConfigurationError) as caught:
        HostedUIApp(settings=issuer.settings(), hosted_ui=hosted)
    assert caught.value.variable == "COGNITO_HOSTED_UI_CLIENT_ID"


def test_the_app_reads_the_environment(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`HostedUIApp()` reads both settings from the environment, the client from the first
    COGNITO_CLIENT_ID, and builds the Hosted UI endpoints from the domain."""
    for name, value in {
        **BASE,
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": "first1,second2",
        "COGNITO_JWKS_JSON": issuer.jwks_json(),
    }.items():
        monkeypatch.setenv(name, value)
    app = HostedUIApp()
    assert app.client_id == "first1"
    assert app.token_url == f"{BASE['COGNITO_DOMAIN']}/oauth2/token"
    assert app.logout_url == (
        f"{BASE['COGNITO_DOMAIN']}/logout?client_id=first1"
        "&logout_uri=https%3A%2F%2Fapp.example.com%2F"
    )


def test_every_public_name_of_the_subpackage_is_exported() -> None:
    """Every name in a private module's __all__ is exported by cognito_asgi.hosted_ui, which
    lists them sorted."""
    package = cognito_asgi.hosted_ui
    exported = set(package.__all__)
    assert package.__all__ == sorted(package.__all__)
    for module_info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        for member in getattr(module, "__all__", ()):
            assert hasattr(module, member)
            assert member in exported or member in INTERNAL, member
    for name in package.__all__:
        assert hasattr(package, name)
