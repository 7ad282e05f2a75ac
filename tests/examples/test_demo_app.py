"""The demo's application in-process: what it does when its emulator does not answer."""

from __future__ import annotations

from pathlib import Path

import httpx

from cognito_asgi._demo import build_demo_app
from cognito_asgi.testing import LocalIssuer
from tests.examples.demo_process import REPO


async def test_cognito_route_answers_502_when_the_emulator_is_gone(
    issuer: LocalIssuer, tmp_path: Path
) -> None:
    """A sign-in forwarded to an emulator that does not answer gets a Cognito-shaped 502 (which
    the page shows as an error), not a 500, and the password is not in the answer."""
    settings = issuer.settings(
        accounts_database_url=f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}"
    )
    app = build_demo_app(
        settings,
        static_dir=REPO / "examples" / "static_site",
        emulator_endpoint="http://127.0.0.1:9",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        response = await client.post(
            "/cognito",
            content=b'{"AuthParameters": {"USERNAME": "a@example.com", "PASSWORD": "Pw-123456"}}',
            headers={"x-amz-target": "AWSCognitoIdentityProviderService.InitiateAuth"},
        )
    assert response.status_code == 502
    assert response.json()["__type"] == "InternalErrorException"
    assert response.headers["x-amzn-errortype"] == "InternalErrorException"
    assert b"Pw-123456" not in response.content
