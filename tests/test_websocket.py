"""WebSocket handshakes and the lifespan, through Starlette's TestClient and a raw ASGI driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Message
from starlette.websockets import WebSocket

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, CognitoUser
from cognito_asgi.testing import JWKSServer, LocalIssuer


async def echo_user(websocket: WebSocket) -> None:
    """Accepts (with the first subprotocol the client still offers) and reports who it sees."""
    offered = list(websocket.scope.get("subprotocols") or ())
    await websocket.accept(subprotocol=offered[0] if offered else None)
    user = websocket.scope.get("user")
    await websocket.send_json(
        {
            "username": user.username if isinstance(user, CognitoUser) else None,
            "subprotocols": offered,
        }
    )
    await websocket.close()


async def http_user(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse({"username": user.username if isinstance(user, CognitoUser) else None})


def protected(settings: CognitoSettings, **options: Any) -> CognitoAuthMiddleware:
    app = Starlette(routes=[WebSocketRoute("/ws", echo_user), Route("/me", http_user)])
    return CognitoAuthMiddleware(app, settings=settings, **options)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_accepted_with_bearer_header(issuer: LocalIssuer) -> None:
    """A handshake with a valid `Authorization: Bearer` header is accepted with the user set."""
    with (
        TestClient(protected(issuer.settings())) as client,
        client.websocket_connect("/ws", headers=bearer(issuer.access_token("alice"))) as ws,
    ):
        assert ws.receive_json()["username"] == "alice"


def deny(client: TestClient, url: str, **kwargs: Any) -> WebSocketDenialResponse:
    with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(url, **kwargs):
        pass
    return denied.value


@pytest.mark.parametrize(
    ("headers", "status", "error", "challenge"),
    [
        pytest.param({}, 401, "missing_token", 'Bearer realm="api"', id="no-token"),
        pytest.param(
            {"Authorization": "Bearer not.a.token"},
            401,
            "malformed",
            'error="invalid_token"',
            id="garbage-token",
        ),
        pytest.param(
            {"Authorization": "Basic YWxpY2U6cw=="},
            401,
            "missing_token",
            'Bearer realm="api"',
            id="other-scheme",
        ),
    ],
)
def test_refused_with_a_real_http_response(
    issuer: LocalIssuer, headers: dict[str, str], status: int, error: str, challenge: str
) -> None:
    """Where the server offers `websocket.http.response`, a refusal is a real HTTP 401."""
    with TestClient(protected(issuer.settings())) as client:
        denied = deny(client, "/ws", headers=headers)
    assert denied.status_code == status
    assert challenge in denied.headers["www-authenticate"]
    assert denied.json()["error"] == error


def test_refused_expired_token(issuer: LocalIssuer) -> None:
    """An expired token is refused with 401 invalid_token, and the token is never echoed."""
    token = issuer.access_token(expires_in=-600)
    with TestClient(protected(issuer.settings())) as client:
        denied = deny(client, "/ws", headers=bearer(token))
    assert denied.status_code == 401
    assert 'error="invalid_token"' in denied.headers["www-authenticate"]
    assert denied.json()["error"] == "expired"
    assert token not in denied.text


# --- a server without the denial-response extension ------------------------------------------


async def drive(app: Any, headers: Mapping[str, str] = {}, *, path: str = "/ws") -> list[Message]:
    """One handshake as a server without any ASGI extension runs it; returns what was sent."""
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "subprotocols": [],
        # No "extensions" key at all, as with servers that predate them.
    }
    inbox: list[Message] = [{"type": "websocket.connect"}]
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({}, "missing_token", id="no-token"),
        pytest.param({"Authorization": "Bearer a.b.c"}, "malformed", id="bad-token"),
    ],
)
async def test_refused_with_policy_close_without_extension(
    issuer: LocalIssuer, headers: dict[str, str], reason: str
) -> None:
    """Without the extension a refused handshake is closed with 1008 (RFC 6455 policy violation)."""
    sent = await drive(protected(issuer.settings()), headers)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": reason}]


async def test_accepted_without_extension(issuer: LocalIssuer) -> None:
    """The raw driver itself is sound: a valid token is accepted the ordinary way."""
    sent = await drive(protected(issuer.settings()), bearer(issuer.access_token("bob")))
    assert sent[0]["type"] == "websocket.accept"
    assert '"username":"bob"' in sent[1]["text"]


async def test_unavailable_keys_close_with_try_again_later(issuer: LocalIssuer) -> None:
    """Keys that cannot be fetched close the handshake with 1013 (try again later), not 1008."""
    with JWKSServer.running(issuer) as server:
        server.status = 500
        settings = issuer.settings(jwks_json=None, jwks_url=server.url)
        sent = await drive(protected(settings), bearer(issuer.access_token()))
    assert sent == [{"type": "websocket.close", "code": 1013, "reason": "jwks_unavailable"}]


# --- opt-in token sources for browsers --------------------------------------------------------


def test_query_param_is_opt_in(issuer: LocalIssuer) -> None:
    """The token query parameter works only where `websocket_query_param` names it."""
    token = issuer.access_token("carol")
    with TestClient(protected(issuer.settings(), websocket_query_param="access_token")) as client:
        with client.websocket_connect(f"/ws?access_token={token}") as ws:
            assert ws.receive_json()["username"] == "carol"
        # Never for plain HTTP, where a URL ends up in access logs and browser history.
        assert client.get(f"/me?access_token={token}").status_code == 401
    with TestClient(protected(issuer.settings())) as client:
        assert deny(client, f"/ws?access_token={token}").status_code == 401


def test_subprotocol_token_is_removed_before_the_app(issuer: LocalIssuer) -> None:
    """The token subprotocol is taken out of scope["subprotocols"]; the app accepts another one."""
    token = issuer.access_token("dan")
    app = protected(issuer.settings(), websocket_subprotocol_prefix="bearer.")
    with (
        TestClient(app) as client,
        client.websocket_connect("/ws", subprotocols=["chat.v1", f"bearer.{token}"]) as ws,
    ):
        seen = ws.receive_json()
        assert ws.accepted_subprotocol == "chat.v1"
    assert seen["username"] == "dan"
    assert seen["subprotocols"] == ["chat.v1"]


def test_subprotocol_is_opt_in(issuer: LocalIssuer) -> None:
    """Without `websocket_subprotocol_prefix` a token offered as a subprotocol is not used."""
    token = issuer.access_token("dan")
    with TestClient(protected(issuer.settings())) as client:
        assert deny(client, "/ws", subprotocols=[f"bearer.{token}"]).status_code == 401


@pytest.mark.parametrize(
    ("url", "subprotocols"),
    [
        pytest.param("/ws?access_token={a}&access_token={b}", None, id="query-param-twice"),
        pytest.param("/ws", ["bearer.{a}", "bearer.{b}"], id="two-token-subprotocols"),
        pytest.param("/ws?access_token={a}&access_token={a}", None, id="same-query-param-twice"),
    ],
)
def test_ambiguous_token_sources_are_refused(
    issuer: LocalIssuer, url: str, subprotocols: list[str] | None
) -> None:
    """Two tokens in one source are refused as invalid_request, even if each alone is valid."""
    a, b = issuer.access_token("eve"), issuer.access_token("mallory")
    app = protected(
        issuer.settings(),
        websocket_query_param="access_token",
        websocket_subprotocol_prefix="bearer.",
    )
    offered = [p.format(a=a, b=b) for p in subprotocols] if subprotocols else None
    with TestClient(app) as client:
        denied = deny(client, url.format(a=a, b=b), subprotocols=offered)
    assert denied.status_code == 400
    assert 'error="invalid_request"' in denied.headers["www-authenticate"]
    assert denied.json()["error"] == "invalid_request"


# --- lifespan ---------------------------------------------------------------------------------


def lifespan_app(events: list[str]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    return Starlette(routes=[WebSocketRoute("/ws", echo_user)], lifespan=lifespan)


def test_lifespan_passes_through_and_fetches_keys_at_startup(issuer: LocalIssuer) -> None:
    """The app's own lifespan runs, and the key set is fetched once at start-up, not per request."""
    events: list[str] = []
    with JWKSServer.running(issuer) as server:
        settings = issuer.settings(jwks_json=None, jwks_url=server.url)
        app = CognitoAuthMiddleware(lifespan_app(events), settings=settings)
        with TestClient(app) as client:
            assert events == ["startup"]
            assert server.requests == 1
            for name in ("fay", "gil"):
                with client.websocket_connect(
                    "/ws", headers=bearer(issuer.access_token(name))
                ) as ws:
                    assert ws.receive_json()["username"] == name
            assert server.requests == 1
        assert events == ["startup", "shutdown"]


def test_lifespan_fetch_can_be_turned_off(issuer: LocalIssuer) -> None:
    """With fetch_keys_at_startup=False the keys are fetched on the first request instead."""
    events: list[str] = []
    with JWKSServer.running(issuer) as server:
        settings = issuer.settings(jwks_json=None, jwks_url=server.url)
        app = CognitoAuthMiddleware(
            lifespan_app(events), settings=settings, fetch_keys_at_startup=False
        )
        with TestClient(app) as client:
            assert server.requests == 0
            with client.websocket_connect("/ws", headers=bearer(issuer.access_token())) as ws:
                assert ws.receive_json()["username"] == "alice"
            assert server.requests == 1
        assert events == ["startup", "shutdown"]


def test_lifespan_starts_even_when_keys_are_down(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """A key endpoint that is down at start-up is logged, the app starts, and handshakes get 503."""
    events: list[str] = []
    with JWKSServer.running(issuer) as server:
        server.status = 503
        settings = issuer.settings(jwks_json=None, jwks_url=server.url)
        token = issuer.access_token()
        with TestClient(CognitoAuthMiddleware(lifespan_app(events), settings=settings)) as client:
            assert events == ["startup"]
            denied = deny(client, "/ws", headers=bearer(token))
    assert denied.status_code == 503
    assert denied.headers["retry-after"].isdigit()
    assert "could not be fetched at start-up" in caplog.text
    assert token not in caplog.text
