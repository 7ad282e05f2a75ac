"""The README's opening example runs as printed, against the Cognito emulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CognitoPool

README = Path(__file__).resolve().parent.parent / "README.md"


def first_python_block() -> str:
    match = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match is not None
    return match.group(1)


async def test_opening_example_signs_up_and_serves_me(
    cognito: CognitoPool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The opening example's app creates an account, and its token then reaches /me."""
    for name, value in cognito.environ.items():
        monkeypatch.setenv(name, value)
    database = tmp_path / "accounts.sqlite3"
    monkeypatch.setenv("COGNITO_ACCOUNTS_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    namespace: dict[str, Any] = {}
    exec(compile(first_python_block(), str(README), "exec"), namespace)  # noqa: S102
    app = namespace["app"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        created = await client.post(
            "/accounts",
            json={"name": "Ada", "email": "ada@example.com", "password": "Correct-horse-9!"},
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        tokens = cognito.sign_in(user_id, "Correct-horse-9!")
        me = await client.get("/me", headers={"Authorization": f"Bearer {tokens['AccessToken']}"})
        assert me.status_code == 200
        assert me.json() == {"username": user_id, "groups": []}
        assert (await client.get("/me")).status_code == 401
    await namespace["accounts"].aclose()
    await namespace["store"].aclose()
