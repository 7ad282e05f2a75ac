"""`cognito-asgi verify`: claims, reasons of refusal and configuration errors, offline."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable

import pytest

from cognito_asgi._cli import main as cli
from cognito_asgi.testing import LocalIssuer


@pytest.fixture
def offline_pool(issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> LocalIssuer:
    """COGNITO_* variables for the local issuer's pool, its key set given inline."""
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_JSON", issuer.jwks_json())
    return issuer


def test_verify_prints_claims(
    offline_pool: LocalIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid token's claims are printed as sorted JSON on stdout, exit status 0."""
    token = offline_pool.access_token("alice", groups=["admins"])
    assert cli(["verify", token]) == 0
    out = capsys.readouterr().out
    claims = json.loads(out)
    assert claims["username"] == "alice"
    assert claims["cognito:groups"] == ["admins"]
    assert list(claims) == sorted(claims)


def test_verify_reads_the_token_from_stdin(
    offline_pool: LocalIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`verify -` reads the token from standard input, so it stays out of the shell history."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(offline_pool.id_token("bob") + "\n"))
    monkeypatch.setenv("COGNITO_TOKEN_USE", "id")
    assert cli(["verify", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["cognito:username"] == "bob"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(
            lambda i: i.access_token(expires_in=-3600), "refused: expired: ", id="expired"
        ),
        pytest.param(
            lambda i: i.access_token(client_id="someoneelse"),
            "refused: bad_claim: the token was issued to another app client (claim='client_id')",
            id="other-client",
        ),
        pytest.param(
            lambda i: i.id_token(), "refused: bad_claim: id tokens are not accepted", id="id-token"
        ),
        pytest.param(
            lambda i: LocalIssuer(kid="stranger").access_token(),
            "refused: unknown_kid: ",
            id="unknown-key",
        ),
        pytest.param(lambda i: "not-a-jwt", "refused: malformed: ", id="garbage"),
    ],
)
def test_verify_prints_the_reason_of_refusal(
    offline_pool: LocalIssuer,
    capsys: pytest.CaptureFixture[str],
    make_token: Callable[[LocalIssuer], str],
    reason: str,
) -> None:
    """A refused token prints `refused: <code>: <reason>` on stderr (never the token), exit 1."""
    token = make_token(offline_pool)
    assert cli(["verify", token]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(reason), captured.err
    assert token not in captured.err


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        pytest.param({}, "COGNITO_USER_POOL_ID", id="nothing-set"),
        pytest.param(
            {"COGNITO_USER_POOL_ID": "us-east-1_Abc"}, "COGNITO_CLIENT_ID", id="no-client"
        ),
        pytest.param(
            {"COGNITO_USER_POOL_ID": "not a pool", "COGNITO_CLIENT_ID": "abc"},
            "COGNITO_USER_POOL_ID",
            id="malformed-pool",
        ),
        pytest.param(
            {
                "COGNITO_USER_POOL_ID": "us-east-1_Abc",
                "COGNITO_CLIENT_ID": "abc",
                "COGNITO_TOKEN_USE": "refresh",
            },
            "COGNITO_TOKEN_USE",
            id="bad-token-use",
        ),
        pytest.param(
            {
                "COGNITO_USER_POOL_ID": "us-east-1_Abc",
                "COGNITO_CLIENT_ID": "abc",
                "COGNITO_JWKS_URL": "http://keys.example.com/jwks.json",
            },
            "COGNITO_JWKS_URL",
            id="plain-http-keys",
        ),
    ],
)
def test_configuration_error_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environ: dict[str, str],
    variable: str,
) -> None:
    """A missing or malformed setting exits with status 2 and a message naming the variable."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert cli(["verify", "a.b.c"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"configuration error: {variable}: "), captured.err
    assert captured.out == ""
