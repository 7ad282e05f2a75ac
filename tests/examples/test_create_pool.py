"""`cognito-asgi create-pool` against the Cognito emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from cognito_asgi import CognitoSettings
from cognito_asgi._cli import main
from cognito_asgi._pool import PoolSetupError, auth_flows, ensure_pool


@pytest.fixture
def emulator(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 client of the emulator, with COGNITO_ENDPOINT_URL pointing at it; reset after."""
    monkeypatch.setenv("COGNITO_ENDPOINT_URL", moto_endpoint)
    yield boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=moto_endpoint)
    httpx.post(f"{moto_endpoint}/moto-api/reset")


def parse_block(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line]
    assert all("=" in line and line.startswith("COGNITO_") for line in lines), text
    return dict(line.split("=", 1) for line in lines)


def test_creates_the_pool_as_designed_then_reports_it(
    emulator: Any, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first run creates an admin-only pool with the email alias and a secretless client with
    the design's flows; a second run reports the same pool and client instead of a new one."""
    assert main(["create-pool", "--name", "shop", "--region", "us-east-1"]) == 0
    first = capsys.readouterr()
    block = parse_block(first.out)
    assert block["COGNITO_ENDPOINT_URL"] == moto_endpoint
    assert "created user pool 'shop'" in first.err

    pool = emulator.describe_user_pool(UserPoolId=block["COGNITO_USER_POOL_ID"])["UserPool"]
    assert pool["Name"] == "shop"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["AliasAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    app_client = emulator.describe_user_pool_client(
        UserPoolId=block["COGNITO_USER_POOL_ID"], ClientId=block["COGNITO_CLIENT_ID"]
    )["UserPoolClient"]
    assert "ClientSecret" not in app_client
    assert set(app_client["ExplicitAuthFlows"]) == {
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",  # the emulator does not check SRP proofs
    }
    CognitoSettings.from_env(block)  # the block configures cognito-asgi as it is

    assert main(["create-pool", "--name", "shop", "--region", "us-east-1"]) == 0
    second = capsys.readouterr()
    assert parse_block(second.out) == block
    assert "already exists" in second.err
    assert "warning" not in second.err
    pools = emulator.list_user_pools(MaxResults=60)["UserPools"]
    assert [p["Name"] for p in pools] == ["shop"]


def test_against_aws_the_client_allows_exactly_the_design_flows(emulator: Any) -> None:
    """Without the emulator switch the app client allows exactly the three flows of the design,
    not USER_PASSWORD_AUTH."""
    setup = ensure_pool(emulator, "plain")
    described = emulator.describe_user_pool_client(
        UserPoolId=setup.user_pool_id, ClientId=setup.client_id
    )["UserPoolClient"]
    assert sorted(described["ExplicitAuthFlows"]) == sorted(auth_flows())
    assert "ALLOW_USER_PASSWORD_AUTH" not in described["ExplicitAuthFlows"]
    assert setup.created
    assert setup.client_created


def test_an_existing_pool_set_up_differently_is_reported_with_warnings(
    emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pool of that name that allows self sign-up, lacks the email alias and whose client has
    a secret is reported as it is, with one warning per difference; nothing is changed."""
    pool_id = emulator.create_user_pool(PoolName="legacy")["UserPool"]["Id"]
    emulator.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        GenerateSecret=True,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )
    assert main(["create-pool", "--name", "legacy", "--region", "us-east-1"]) == 0
    captured = capsys.readouterr()
    assert parse_block(captured.out)["COGNITO_USER_POOL_ID"] == pool_id
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4, captured.err
    assert "AllowAdminCreateUserOnly" in captured.err
    assert "AliasAttributes" in captured.err
    assert "secret" in captured.err
    assert "ALLOW_ADMIN_USER_PASSWORD_AUTH" in captured.err
    assert "secret" not in captured.out  # the printed block never carries a secret


def test_a_missing_app_client_is_added_to_an_existing_pool(emulator: Any) -> None:
    """An existing pool without a client of that name gets one; the pool itself is reused."""
    pool_id = emulator.create_user_pool(
        PoolName="half",
        AliasAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]["Id"]
    setup = ensure_pool(emulator, "half")
    assert (setup.user_pool_id, setup.created, setup.client_created) == (pool_id, False, True)
    assert setup.warnings == ()


@pytest.mark.parametrize(
    ("arguments", "prepare", "message"),
    [
        pytest.param(["--name", "bad/name"], None, "not a valid pool name", id="invalid-pool-name"),
        pytest.param(
            ["--name", "ok", "--client-name", ""],
            None,
            "not a valid client name",
            id="empty-client-name",
        ),
        pytest.param(["--name", "twice"], "two-pools", "2 user pools are named", id="ambiguous"),
        pytest.param(["--name", "x"], "no-region", "no AWS region", id="no-region"),
        pytest.param(
            ["--name", "x", "--region", "us-east-1"],
            "bad-endpoint",
            "COGNITO_ENDPOINT_URL",
            id="bad-endpoint",
        ),
        pytest.param(
            ["--name", "x", "--region", "us-east-1"],
            "dead-endpoint",
            "error:",
            id="unreachable-endpoint",
        ),
    ],
)
def test_refusals_name_the_problem(
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    prepare: str | None,
    message: str,
) -> None:
    """Each problem ends with a non-zero status and a one-line message saying what is wrong,
    without a traceback and without creating anything."""
    if prepare == "two-pools":
        emulator.create_user_pool(PoolName="twice")
        emulator.create_user_pool(PoolName="twice")
    elif prepare == "no-region":
        for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    elif prepare == "bad-endpoint":
        monkeypatch.setenv("COGNITO_ENDPOINT_URL", "ftp://example")
    elif prepare == "dead-endpoint":
        monkeypatch.setenv("COGNITO_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    before = len(emulator.list_user_pools(MaxResults=60)["UserPools"])
    status = main(["create-pool", *arguments])
    captured = capsys.readouterr()
    assert status != 0
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert len(emulator.list_user_pools(MaxResults=60)["UserPools"]) == before


def test_ensure_pool_refuses_two_clients_of_the_same_name(emulator: Any) -> None:
    """Two app clients named like the requested one make the choice ambiguous: refused."""
    pool_id = emulator.create_user_pool(PoolName="dup")["UserPool"]["Id"]
    for _ in range(2):
        emulator.create_user_pool_client(UserPoolId=pool_id, ClientName="web")
    with pytest.raises(PoolSetupError, match="2 app clients named 'web'"):
        ensure_pool(emulator, "dup")
