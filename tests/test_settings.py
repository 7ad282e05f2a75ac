"""Settings: derived values, and start-up errors that name the variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cognito_asgi import CognitoSettings, ConfigurationError
from cognito_asgi.testing import LocalIssuer

POOL = "eu-west-1_AbC123xyz"
BASE = {"COGNITO_USER_POOL_ID": POOL, "COGNITO_CLIENT_ID": "1example23456789"}


def test_derives_region_issuers_and_key_url_from_the_pool_id() -> None:
    """With only the two required variables, everything else is derived from the pool id."""
    settings = CognitoSettings.from_env(BASE)
    assert settings.region == "eu-west-1"
    assert settings.issuers == (
        f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}",
        f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{POOL}",
    )
    assert settings.jwks_url == (
        f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}/.well-known/jwks.json"
    )
    assert settings.token_use == "access"
    assert settings.client_ids == ("1example23456789",)


def test_endpoint_url_moves_the_key_url_but_not_the_issuer() -> None:
    """An emulator endpoint serves the keys while its tokens keep the AWS issuer."""
    settings = CognitoSettings.from_env({**BASE, "COGNITO_ENDPOINT_URL": "http://127.0.0.1:5000/"})
    assert settings.jwks_url == f"http://127.0.0.1:5000/{POOL}/.well-known/jwks.json"
    assert settings.issuers[0] == f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"


def test_overrides_and_lists() -> None:
    """Explicit issuer, key URL, several clients and replica regions are honoured."""
    settings = CognitoSettings.from_env(
        {
            **BASE,
            "COGNITO_CLIENT_ID": "client1, client2",
            "COGNITO_ISSUER": "http://localhost:9229/pool",
            "COGNITO_JWKS_URL": "https://keys.example.com/jwks.json",
            "COGNITO_TOKEN_USE": "ANY",
            "COGNITO_LEEWAY_SECONDS": "0",
            "COGNITO_TOKEN_CACHE_SIZE": "0",
        }
    )
    assert settings.client_ids == ("client1", "client2")
    assert settings.issuers == ("http://localhost:9229/pool",)
    assert settings.jwks_url == "https://keys.example.com/jwks.json"
    assert settings.token_use == "any"
    assert settings.leeway_seconds == 0
    assert settings.token_cache_size == 0


def test_replica_regions_add_issuer_forms() -> None:
    """COGNITO_ISSUER_REGIONS adds the newer issuer form for each replica region."""
    settings = CognitoSettings.from_env({**BASE, "COGNITO_ISSUER_REGIONS": "us-east-1"})
    assert f"https://issuer-cognito-idp.us-east-1.amazonaws.com/{POOL}" in settings.issuers
    assert f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}" not in settings.issuers


def test_key_set_file_is_read_and_validated(tmp_path: Path) -> None:
    """COGNITO_JWKS_FILE preloads a key set; a broken one stops start-up naming the variable."""
    good = tmp_path / "jwks.json"
    good.write_text(LocalIssuer().jwks_json())
    settings = CognitoSettings.from_env({**BASE, "COGNITO_JWKS_FILE": str(good)})
    assert settings.jwks_json is not None
    assert json.loads(settings.jwks_json)["keys"]

    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": []}')
    with pytest.raises(ConfigurationError) as caught:
        CognitoSettings.from_env({**BASE, "COGNITO_JWKS_FILE": str(bad)})
    assert caught.value.variable == "COGNITO_JWKS_FILE"


def test_client_secret_is_not_in_repr() -> None:
    """The client secret never shows in a repr (and so in a log line of the settings)."""
    settings = CognitoSettings.from_env({**BASE, "COGNITO_CLIENT_SECRET": "s3cr3t-value"})
    assert settings.client_secret == "s3cr3t-value"
    assert "s3cr3t-value" not in repr(settings)


def test_replace_derives_again() -> None:
    """replace() recomputes what was derived from the changed values."""
    settings = CognitoSettings.from_env(BASE).replace(user_pool_id="us-west-2_Other1")
    assert settings.region == "us-west-2"
    assert settings.issuers[0].endswith("/us-west-2_Other1")


BAD = [
    ({}, "COGNITO_USER_POOL_ID"),
    ({"COGNITO_USER_POOL_ID": POOL}, "COGNITO_CLIENT_ID"),
    ({**BASE, "COGNITO_USER_POOL_ID": "not a pool"}, "COGNITO_USER_POOL_ID"),
    ({**BASE, "COGNITO_USER_POOL_ID": "eu-west-1"}, "COGNITO_USER_POOL_ID"),
    ({**BASE, "COGNITO_CLIENT_ID": "a,,b"}, "COGNITO_CLIENT_ID"),
    ({**BASE, "COGNITO_CLIENT_ID": "bad id!"}, "COGNITO_CLIENT_ID"),
    ({**BASE, "COGNITO_USER_POOL_ID": "mars_AbC123"}, "COGNITO_REGION"),
    ({**BASE, "COGNITO_REGION": "Europe"}, "COGNITO_REGION"),
    ({**BASE, "COGNITO_TOKEN_USE": "refresh"}, "COGNITO_TOKEN_USE"),
    ({**BASE, "COGNITO_ENDPOINT_URL": "ftp://x"}, "COGNITO_ENDPOINT_URL"),
    ({**BASE, "COGNITO_ENDPOINT_URL": "http://cognito.internal:9229"}, "COGNITO_ENDPOINT_URL"),
    ({**BASE, "COGNITO_JWKS_URL": "http://keys.example.com/jwks.json"}, "COGNITO_JWKS_URL"),
    ({**BASE, "COGNITO_LEEWAY_SECONDS": "soon"}, "COGNITO_LEEWAY_SECONDS"),
    ({**BASE, "COGNITO_LEEWAY_SECONDS": "-1"}, "COGNITO_LEEWAY_SECONDS"),
    ({**BASE, "COGNITO_LEEWAY_SECONDS": "nan"}, "COGNITO_LEEWAY_SECONDS"),
    ({**BASE, "COGNITO_LEEWAY_SECONDS": "3600"}, "COGNITO_LEEWAY_SECONDS"),
    ({**BASE, "COGNITO_JWKS_COOLDOWN_SECONDS": "0"}, "COGNITO_JWKS_COOLDOWN_SECONDS"),
    ({**BASE, "COGNITO_JWKS_TIMEOUT_SECONDS": "inf"}, "COGNITO_JWKS_TIMEOUT_SECONDS"),
    ({**BASE, "COGNITO_TOKEN_CACHE_SIZE": "1.5"}, "COGNITO_TOKEN_CACHE_SIZE"),
    ({**BASE, "COGNITO_JWKS_JSON": "{not json"}, "COGNITO_JWKS_JSON"),
    ({**BASE, "COGNITO_JWKS_FILE": "/nonexistent/jwks.json"}, "COGNITO_JWKS_FILE"),
    ({**BASE, "COGNITO_JWKS_ALLOW_HTTP": "maybe"}, "COGNITO_JWKS_ALLOW_HTTP"),
    ({**BASE, "COGNITO_TOKEN_COOKIE": "a b"}, "COGNITO_TOKEN_COOKIE"),
    ({**BASE, "COGNITO_ISSUER_REGIONS": "moon-1"}, "COGNITO_ISSUER_REGIONS"),
    ({**BASE, "COGNITO_ACCOUNTS_DATABASE_URL": "mysql://x"}, "COGNITO_ACCOUNTS_DATABASE_URL"),
    ({**BASE, "COGNITO_ACCOUNTS_PASSWORD_FLOW": "srp"}, "COGNITO_ACCOUNTS_PASSWORD_FLOW"),
    ({**BASE, "COGNITO_ACCOUNTS_RATE_LIMIT": "lots"}, "COGNITO_ACCOUNTS_RATE_LIMIT"),
    ({**BASE, "COGNITO_ACCOUNTS_RETURN_TOKENS": "sure"}, "COGNITO_ACCOUNTS_RETURN_TOKENS"),
    (
        {**BASE, "COGNITO_ACCOUNTS_RATE_LIMIT_STORAGE": "memcached://x"},
        "COGNITO_ACCOUNTS_RATE_LIMIT_STORAGE",
    ),
]


@pytest.mark.parametrize(
    ("environ", "variable"), BAD, ids=[f"{v}-{i}" for i, (_, v) in enumerate(BAD)]
)
def test_bad_values_stop_start_up_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    """A missing or malformed value raises ConfigurationError whose message names the variable."""
    with pytest.raises(ConfigurationError) as caught:
        CognitoSettings.from_env(environ)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_plain_http_keys_allowed_when_asked() -> None:
    """COGNITO_JWKS_ALLOW_HTTP opts in to plain http for a key URL off the loopback."""
    settings = CognitoSettings.from_env(
        {
            **BASE,
            "COGNITO_ENDPOINT_URL": "http://cognito.internal:9229",
            "COGNITO_JWKS_ALLOW_HTTP": "true",
        }
    )
    assert settings.jwks_url.startswith("http://cognito.internal:9229/")


def test_blank_values_count_as_unset() -> None:
    """An empty variable is the same as an unset one (common in .env files)."""
    settings = CognitoSettings.from_env({**BASE, "COGNITO_REGION": " ", "COGNITO_ISSUER": ""})
    assert settings.region == "eu-west-1"
