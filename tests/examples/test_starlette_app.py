"""examples/starlette_app.py against the Cognito emulator: sign-up, HTTP and WebSocket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from cognito_asgi import CognitoSettings
from examples.starlette_app import WEBSOCKET_TOKEN_PREFIX, create_app
from tests.conftest import CognitoPool
from tests.examples.conftest import PASSWORD, add_to_group, bearer


@pytest.fixture
def client(settings: CognitoSettings, cognito: CognitoPool) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cognito_client=cognito.client)) as test_client:
        yield test_client


def sign_up(client: TestClient, name: str = "Ada Lovelace") -> dict[str, Any]:
    response = client.post(
        "/accounts", json={"name": name, "email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def test_sign_up_then_the_token_opens_the_protected_routes(
    client: TestClient, cognito: CognitoPool
) -> None:
    """POST /accounts creates the account; its access token then opens /me and /accounts/me,
    which show the record, while /admin stays closed to a user outside the admins group."""
    record = sign_up(client)
    token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]

    me = client.get("/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json() == {"username": record["id"], "groups": [], "record": record}
    assert client.get("/accounts/me", headers=bearer(token)).json() == record

    refused = client.get("/admin", headers=bearer(token))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]

    add_to_group(cognito, record["id"], "admins")
    admin_token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]
    admin = client.get("/admin", headers=bearer(admin_token))
    assert admin.json() == {"admin": True, "username": record["id"]}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param(bearer("not.a.jwt"), id="malformed-token"),
        pytest.param({"Authorization": "Basic YWRhOnB3"}, id="other-scheme"),
    ],
)
def test_protected_routes_refuse_without_a_valid_token(
    client: TestClient, headers: dict[str, str]
) -> None:
    """/me answers 401 with an RFC 6750 challenge to a request without a valid token, while
    the public /health still answers."""
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="api"')
    assert client.get("/health", headers=headers).status_code == 200


def test_websocket_greets_the_signed_in_user_and_echoes(
    client: TestClient, cognito: CognitoPool
) -> None:
    """A WebSocket offering the token as a `bearer.` subprotocol is accepted with the real
    subprotocol only, greeted by name and echoed; the token is never echoed back."""
    record = sign_up(client, name="Grace Hopper")
    token = cognito.sign_in(record["id"], PASSWORD)["AccessToken"]
    with client.websocket_connect(
        "/ws", subprotocols=["echo", WEBSOCKET_TOKEN_PREFIX + token]
    ) as websocket:
        assert websocket.accepted_subprotocol == "echo"
        assert websocket.receive_json() == {"hello": "Grace Hopper"}
        websocket.send_text("ping")
        assert websocket.receive_json() == {"echo": "ping"}


@pytest.mark.parametrize(
    "subprotocols",
    [
        pytest.param(["echo"], id="no-token"),
        pytest.param(["echo", WEBSOCKET_TOKEN_PREFIX + "forged.token.value"], id="bad-token"),
    ],
)
def test_websocket_without_a_valid_token_is_refused_with_401(
    client: TestClient, subprotocols: list[str]
) -> None:
    """The handshake without a valid token is answered with an HTTP 401, never accepted."""
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/ws", subprotocols=subprotocols),
    ):
        pass  # pragma: no cover - the handshake is refused
    assert denied.value.status_code == 401
    assert "www-authenticate" in denied.value.headers
