"""Fixtures for running the examples against the Cognito emulator."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from cognito_asgi import CognitoSettings
from tests.conftest import CognitoPool

PASSWORD = "Correct-horse-9"


@pytest.fixture
def settings(cognito: CognitoPool, tmp_path: Path) -> CognitoSettings:
    """Settings for the emulated pool, with user records in a fresh SQLite file."""
    return CognitoSettings.from_env(
        {
            **cognito.environ,
            "COGNITO_ACCOUNTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}",
        }
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_to_group(cognito: CognitoPool, username: str, group: str) -> None:
    client: Any = cognito.client
    with contextlib.suppress(client.exceptions.GroupExistsException):
        client.create_group(UserPoolId=cognito.user_pool_id, GroupName=group)
    client.admin_add_user_to_group(
        UserPoolId=cognito.user_pool_id, Username=username, GroupName=group
    )
