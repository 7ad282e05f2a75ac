"""examples/quart_app.py against the Cognito emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from cognito_asgi import CognitoSettings
from examples.quart_app import create_app
from tests.conftest import CognitoPool
from tests.examples.conftest import PASSWORD, add_to_group, bearer


@pytest.fixture
def client(settings: CognitoSettings, cognito: CognitoPool) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cognito_client=cognito.client)) as test_client:
        yield test_client


def test_sign_up_then_the_token_opens_the_routes(client: TestClient, cognito: CognitoPool) -> None:
    """POST /accounts reaches AccountsApp through the example's mount; the new user's token
    opens /me (with the record) and /accounts/me, and /admin once in the admins group."""
    created = client.post(
        "/accounts",
        data={"name": "Ada Lovelace", "email": "ada@example.com", "password": PASSWORD},
    )
    assert created.status_code == 201, created.text
    record: dict[str, Any] = created.json()
    token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]

    me = client.get("/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() == {"username": record["id"], "groups": [], "record": record}
    assert client.get("/accounts/me", headers=bearer(token)).json() == record

    refused = client.get("/admin", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"

    add_to_group(cognito, record["id"], "admins")
    admin_token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]
    assert client.get("/admin", headers=bearer(admin_token)).json() == {
        "admin": True,
        "username": record["id"],
    }


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/me", 401, id="protected"),
        pytest.param("/admin", 401, id="protected-with-group"),
        pytest.param("/accounts/me", 401, id="accounts-me"),
        pytest.param("/health", 200, id="public"),
    ],
)
def test_without_a_token(client: TestClient, path: str, status: int) -> None:
    """Without a token every route but /health answers 401 with the RFC 6750 challenge."""
    response = client.get(path)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith('Bearer realm="api"')
