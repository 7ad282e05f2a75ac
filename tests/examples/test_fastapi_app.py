"""examples/fastapi_app.py against the Cognito emulator: dependencies and the OpenAPI scheme."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from cognito_asgi import CognitoSettings
from examples.fastapi_app import create_app
from tests.conftest import CognitoPool
from tests.examples.conftest import PASSWORD, add_to_group, bearer


@pytest.fixture
def client(settings: CognitoSettings, cognito: CognitoPool) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cognito_client=cognito.client)) as test_client:
        yield test_client


def test_sign_up_then_the_token_opens_the_routes(client: TestClient, cognito: CognitoPool) -> None:
    """The account created by POST /accounts (no redirect) signs in, /me returns the caller
    and their record, and /admin opens only once the user is in the admins group."""
    created = client.post(
        "/accounts",
        json={"name": "Ada Lovelace", "email": "ada@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert created.status_code == 201, created.text
    record: dict[str, Any] = created.json()
    token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]

    me = client.get("/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() == {"username": record["id"], "groups": [], "record": record}

    refused = client.get("/admin", headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]

    add_to_group(cognito, record["id"], "admins")
    admin_token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]
    assert client.get("/admin", headers=bearer(admin_token)).json() == {
        "admin": True,
        "username": record["id"],
    }


@pytest.mark.parametrize("path", ["/me", "/admin"])
def test_routes_refuse_a_request_without_a_token(client: TestClient, path: str) -> None:
    """Without a token the middleware answers 401 with the RFC 6750 challenge."""
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_openapi_declares_the_bearer_scheme_on_protected_routes(client: TestClient) -> None:
    """/openapi.json (public) lists the CognitoBearer scheme, required by /me and /admin only."""
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["CognitoBearer"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    paths = document["paths"]
    assert paths["/me"]["get"]["security"] == [{"CognitoBearer": []}]
    assert paths["/admin"]["get"]["security"] == [{"CognitoBearer": []}]
    assert "security" not in paths["/health"]["get"]
    assert client.get("/docs").status_code == 200
