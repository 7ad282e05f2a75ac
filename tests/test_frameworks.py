"""The same protected behaviour around Starlette, FastAPI, Quart and a bare ASGI callable."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated, Any, cast

import httpx
import pytest
import quart
from fastapi import Depends, FastAPI, WebSocket
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket as StarletteWebSocket

from cognito_asgi import CognitoAuthMiddleware, CognitoSettings, CognitoUser, require
from cognito_asgi.fastapi import (
    CognitoAuth,
    CognitoHTTPException,
    CurrentUser,
    current_user,
    refusal_handler,
)
from cognito_asgi.testing import LocalIssuer
from tests.test_websocket import drive

PUBLIC = ["/health", "/docs", "/openapi.json"]


def _describe(user: object) -> dict[str, Any]:
    """What every app answers: who the scope says the caller is."""
    if isinstance(user, CognitoUser):
        return {
            "authenticated": True,
            "username": user.username,
            "sub": user.sub,
            "groups": list(user.groups),
            "scopes": list(user.scopes),
        }
    return {"authenticated": bool(getattr(user, "is_authenticated", False))}


# --- the four kinds of application, each with /me (protected) and /health (public) ---------


async def _starlette_endpoint(request: Request) -> JSONResponse:
    return JSONResponse(_describe(request.user))


_STARLETTE_ROUTES = [Route("/me", _starlette_endpoint), Route("/health", _starlette_endpoint)]


def starlette_middleware_list(settings: CognitoSettings) -> ASGIApp:
    return Starlette(
        routes=_STARLETTE_ROUTES,
        middleware=[Middleware(CognitoAuthMiddleware, settings=settings, public_paths=PUBLIC)],
    )


def starlette_wrapped(settings: CognitoSettings) -> ASGIApp:
    return CognitoAuthMiddleware(
        Starlette(routes=_STARLETTE_ROUTES), settings=settings, public_paths=PUBLIC
    )


def _fastapi_routes(app: FastAPI) -> FastAPI:
    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return _describe(user)

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        return _describe(request.user)

    return app


def fastapi_add_middleware(settings: CognitoSettings) -> ASGIApp:
    app = _fastapi_routes(FastAPI())
    app.add_middleware(CognitoAuthMiddleware, settings=settings, public_paths=PUBLIC)
    return app


def fastapi_middleware_list(settings: CognitoSettings) -> ASGIApp:
    return _fastapi_routes(
        FastAPI(
            middleware=[Middleware(CognitoAuthMiddleware, settings=settings, public_paths=PUBLIC)]
        )
    )


def quart_app(settings: CognitoSettings) -> ASGIApp:
    app = quart.Quart(__name__)

    @app.route("/me")
    @app.route("/health")
    async def endpoint() -> dict[str, Any]:
        # Quart does not know Starlette's contract; it reads the scope the middleware filled.
        return _describe(quart.request.scope.get("user"))

    # Quart types the ASGI messages more narrowly than Starlette; at run time both are ASGI 3.
    return CognitoAuthMiddleware(cast(ASGIApp, app), settings=settings, public_paths=PUBLIC)


def bare_asgi(settings: CognitoSettings) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps(_describe(scope.get("user"))).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return CognitoAuthMiddleware(app, settings=settings, public_paths=PUBLIC)


Builder = Callable[[CognitoSettings], ASGIApp]

FRAMEWORKS = [
    pytest.param(starlette_middleware_list, id="starlette-middleware-list"),
    pytest.param(starlette_wrapped, id="starlette-wrapped"),
    pytest.param(fastapi_add_middleware, id="fastapi-add-middleware"),
    pytest.param(fastapi_middleware_list, id="fastapi-middleware-list"),
    pytest.param(quart_app, id="quart"),
    pytest.param(bare_asgi, id="bare-asgi"),
]


def client_for(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("build", FRAMEWORKS)
async def test_valid_token_puts_the_user_on_the_scope(build: Builder, issuer: LocalIssuer) -> None:
    """A valid access token reaches the app, which sees the user's name, sub, groups and scopes."""
    token = issuer.access_token("alice", groups=["admins"], scopes=["orders/read"])
    async with client_for(build(issuer.settings())) as client:
        response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "authenticated": True,
        "username": "alice",
        "sub": _claims(token)["sub"],
        "groups": ["admins"],
        "scopes": ["orders/read"],
    }


@pytest.mark.parametrize("build", FRAMEWORKS)
async def test_missing_token_is_refused_before_the_app(build: Builder, issuer: LocalIssuer) -> None:
    """Without a token a protected path gets 401 with the bare RFC 6750 challenge."""
    async with client_for(build(issuer.settings())) as client:
        response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"] == "missing_token"


@pytest.mark.parametrize("build", FRAMEWORKS)
async def test_bad_token_is_refused_with_invalid_token(build: Builder, issuer: LocalIssuer) -> None:
    """An expired token gets 401 error="invalid_token", and the token is not echoed back."""
    token = issuer.access_token("alice", expires_in=-3600)
    async with client_for(build(issuer.settings())) as client:
        response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "expired"
    assert token not in response.text


@pytest.mark.parametrize("build", FRAMEWORKS)
async def test_public_path_is_anonymous_without_token(build: Builder, issuer: LocalIssuer) -> None:
    """On a public path a request without a token reaches the app as an anonymous user."""
    async with client_for(build(issuer.settings())) as client:
        anonymous = await client.get("/health")
        signed_in = await client.get("/health", headers=bearer(issuer.access_token("bob")))
    assert anonymous.status_code == 200
    assert anonymous.json() == {"authenticated": False}
    assert signed_in.json()["username"] == "bob"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# --- FastAPI dependencies ---------------------------------------------------------------------


# Module-level, because FastAPI resolves the (string) annotations of routes in module globals.
admins = CognitoAuth(groups=["admins"])


def fastapi_app(
    settings: CognitoSettings, *, handler: bool = False, middleware: bool = True
) -> FastAPI:
    app = FastAPI(exception_handlers={CognitoHTTPException: refusal_handler} if handler else {})

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return _describe(user)

    @app.get("/admin")
    async def admin(user: Annotated[CognitoUser, Depends(admins)]) -> dict[str, Any]:
        return _describe(user)

    @app.get("/writers", dependencies=[Depends(CognitoAuth(scopes=["orders/write"]))])
    async def writers() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/health/me")
    async def optional_me(user: Annotated[CognitoUser, Depends(current_user)]) -> dict[str, Any]:
        return _describe(user)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws/admin")
    async def ws_admin(websocket: WebSocket, user: Annotated[CognitoUser, Depends(admins)]) -> None:
        await websocket.accept()
        await websocket.send_json(_describe(user))
        await websocket.close()

    if middleware:
        app.add_middleware(CognitoAuthMiddleware, settings=settings, public_paths=PUBLIC)
    return app


async def test_fastapi_current_user_dependency(issuer: LocalIssuer) -> None:
    """`CurrentUser` hands the route the CognitoUser the middleware verified."""
    async with client_for(fastapi_app(issuer.settings())) as client:
        response = await client.get("/me", headers=bearer(issuer.access_token("carol")))
    assert response.status_code == 200
    assert response.json()["username"] == "carol"


@pytest.mark.parametrize(
    ("path", "groups", "scopes", "status"),
    [
        pytest.param("/admin", ["admins"], [], 200, id="group-present"),
        pytest.param("/admin", ["staff"], [], 403, id="group-missing"),
        pytest.param("/writers", [], ["orders/write", "orders/read"], 200, id="scope-present"),
        pytest.param("/writers", [], ["orders/read"], 403, id="scope-missing"),
    ],
)
async def test_fastapi_requirement_dependency(
    issuer: LocalIssuer, path: str, groups: list[str], scopes: list[str], status: int
) -> None:
    """CognitoAuth(groups=..., scopes=...) lets members through and answers others 403."""
    token = issuer.access_token("dave", groups=groups, scopes=scopes)
    async with client_for(fastapi_app(issuer.settings())) as client:
        response = await client.get(path, headers=bearer(token))
    assert response.status_code == status
    if status == 403:
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        assert response.headers["cache-control"] == "no-store"
        assert response.json()["detail"]["error"] == "insufficient_scope"


async def test_fastapi_refusal_handler_matches_the_middleware(issuer: LocalIssuer) -> None:
    """With refusal_handler, a dependency's 403 is byte for byte the middleware's own 403."""
    token = issuer.access_token("erin", groups=["staff"])

    async def ok(request: Request) -> Response:
        return Response("ok")

    by_middleware = CognitoAuthMiddleware(
        Starlette(routes=[Route("/admin", ok)]), settings=issuer.settings(), groups=["admins"]
    )
    async with client_for(by_middleware) as client:
        expected = await client.get("/admin", headers=bearer(token))
    async with client_for(fastapi_app(issuer.settings(), handler=True)) as client:
        handled = await client.get("/admin", headers=bearer(token))
    async with client_for(fastapi_app(issuer.settings())) as client:
        default = await client.get("/admin", headers=bearer(token))

    assert expected.status_code == handled.status_code == default.status_code == 403
    assert handled.content == expected.content
    assert handled.headers == expected.headers
    # FastAPI's own handler wraps the same fields in "detail" and keeps the same headers.
    assert default.json() == {"detail": expected.json()}
    for name in ("www-authenticate", "cache-control"):
        assert default.headers[name] == expected.headers[name]


async def test_fastapi_dependency_refuses_anonymous_on_a_public_path(issuer: LocalIssuer) -> None:
    """On a public path the middleware lets anonymous requests in; the dependency answers 401."""
    async with client_for(fastapi_app(issuer.settings(), handler=True)) as client:
        anonymous = await client.get("/health/me")
        signed_in = await client.get("/health/me", headers=bearer(issuer.access_token("fay")))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
    assert anonymous.json()["error"] == "missing_token"
    assert signed_in.json()["username"] == "fay"


async def test_fastapi_openapi_declares_the_bearer_scheme(issuer: LocalIssuer) -> None:
    """/openapi.json carries the CognitoBearer scheme, on the routes that use the dependency."""
    async with client_for(fastapi_app(issuer.settings())) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["components"]["securitySchemes"] == {
        "CognitoBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    paths = document["paths"]
    for path in ("/me", "/admin", "/writers", "/health/me"):
        assert paths[path]["get"]["security"] == [{"CognitoBearer": []}], path
    assert "security" not in paths["/health"]["get"]
    # The security parameter is documentation, not a query or header parameter of its own.
    assert "parameters" not in paths["/me"]["get"]


async def test_fastapi_without_middleware_is_a_clear_error(issuer: LocalIssuer) -> None:
    """A dependency used without the middleware fails loudly, naming the middleware."""
    app = fastapi_app(issuer.settings(), middleware=False)
    async with client_for(app) as client:
        with pytest.raises(RuntimeError, match="CognitoAuthMiddleware"):
            await client.get("/me", headers=bearer(issuer.access_token()))


@pytest.mark.parametrize(
    ("groups", "status"),
    [
        pytest.param(["admins"], None, id="member-accepted"),
        pytest.param(["staff"], 403, id="non-member-denied"),
    ],
)
def test_fastapi_dependency_on_websocket(
    issuer: LocalIssuer, groups: list[str], status: int | None
) -> None:
    """On a WebSocket route the dependency admits members and denies others with a real 403."""
    app = fastapi_app(issuer.settings(), handler=True)
    token = issuer.access_token("gus", groups=groups)
    with TestClient(app) as client:
        if status is None:
            with client.websocket_connect("/ws/admin", headers=bearer(token)) as ws:
                assert ws.receive_json()["username"] == "gus"
            return
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            client.websocket_connect("/ws/admin", headers=bearer(token)),
        ):
            pass
    assert denied.value.status_code == status
    assert 'error="insufficient_scope"' in denied.value.headers["www-authenticate"]
    assert denied.value.json()["error"] == "insufficient_scope"


async def test_fastapi_refusal_handler_closes_websocket_without_extension(
    issuer: LocalIssuer,
) -> None:
    """With refusal_handler, a server without the denial extension gets a 1008 close instead."""
    app = fastapi_app(issuer.settings(), handler=True)
    token = issuer.access_token("kim", groups=["staff"])
    sent = await drive(app, bearer(token), path="/ws/admin")
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "insufficient_scope"}]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"groups": ["admins"], "match": "every"}, ValueError, id="unknown-match"),
        pytest.param({"groups": "admins"}, TypeError, id="groups-as-string"),
        pytest.param({"scopes": "orders/read"}, TypeError, id="scopes-as-string"),
    ],
)
def test_fastapi_auth_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    """A misspelt `match` or a bare string for groups/scopes fails at creation, not per request."""
    with pytest.raises(error):
        CognitoAuth(**kwargs)


def test_importing_the_package_does_not_import_fastapi() -> None:
    """`import cognito_asgi` loads neither FastAPI nor Quart; only cognito_asgi.fastapi does."""
    code = (
        "import sys, cognito_asgi\n"
        "assert 'fastapi' not in sys.modules and 'quart' not in sys.modules\n"
        "import cognito_asgi.fastapi\n"
        "assert 'fastapi' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- @require on Starlette endpoints ----------------------------------------------------------


@require(groups=["admins"])
async def admin_page(request: Request) -> Response:
    return JSONResponse(_describe(request.user))


@require(scopes=["orders/write"])
async def write_page(request: Request) -> Response:
    return JSONResponse(_describe(request.user))


@require(groups=["admins", "auditors"], match="all")
async def audit_page(request: Request) -> Response:
    return JSONResponse(_describe(request.user))


@requires("authenticated")
async def starlette_requires_page(request: Request) -> Response:
    return JSONResponse({"auth": sorted(request.auth.scopes)})


@require(groups=["admins"])
async def admin_socket(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(_describe(websocket.user))
    await websocket.close()


def require_app(settings: CognitoSettings) -> Starlette:
    return Starlette(
        routes=[
            Route("/admin", admin_page),
            Route("/write", write_page),
            Route("/audit", audit_page),
            Route("/health/admin", admin_page),
            Route("/requires", starlette_requires_page),
            WebSocketRoute("/ws/admin", admin_socket),
        ],
        middleware=[Middleware(CognitoAuthMiddleware, settings=settings, public_paths=["/health"])],
    )


@pytest.mark.parametrize(
    ("path", "groups", "scopes", "status", "challenge"),
    [
        pytest.param("/admin", ["admins"], [], 200, None, id="group-present"),
        pytest.param("/admin", ["staff"], [], 403, "insufficient_scope", id="group-missing"),
        pytest.param("/write", [], ["orders/write"], 200, None, id="scope-present"),
        pytest.param(
            "/write", [], ["orders/read"], 403, 'scope="orders/write"', id="scope-missing"
        ),
        pytest.param("/audit", ["admins", "auditors"], [], 200, None, id="all-groups-present"),
        pytest.param("/audit", ["admins"], [], 403, "auditors", id="one-of-all-groups-missing"),
    ],
)
async def test_require_on_starlette_http(
    issuer: LocalIssuer,
    path: str,
    groups: list[str],
    scopes: list[str],
    status: int,
    challenge: str | None,
) -> None:
    """@require(groups=..., scopes=...) on an HTTP endpoint: 200 for members, 403 otherwise."""
    token = issuer.access_token("hal", groups=groups, scopes=scopes)
    async with client_for(require_app(issuer.settings())) as client:
        response = await client.get(path, headers=bearer(token))
    assert response.status_code == status
    if challenge is not None:
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
        assert challenge in response.headers["www-authenticate"]
        assert response.json()["error"] == "insufficient_scope"
    else:
        assert response.json()["username"] == "hal"


async def test_require_refuses_anonymous_on_a_public_path(issuer: LocalIssuer) -> None:
    """@require answers 401 where the middleware let an anonymous request through."""
    async with client_for(require_app(issuer.settings())) as client:
        response = await client.get("/health/admin")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_starlette_requires_sees_authenticated_and_token_scopes(issuer: LocalIssuer) -> None:
    """Starlette's own @requires("authenticated") works, and request.auth holds the scopes."""
    token = issuer.access_token("ida", scopes=["orders/read"])
    async with client_for(require_app(issuer.settings())) as client:
        response = await client.get("/requires", headers=bearer(token))
    assert response.json() == {"auth": ["authenticated", "orders/read"]}


@pytest.mark.parametrize(
    ("groups", "status"),
    [
        pytest.param(["admins"], None, id="member-accepted"),
        pytest.param(["staff"], 403, id="non-member-denied"),
    ],
)
def test_require_on_starlette_websocket(
    issuer: LocalIssuer, groups: list[str], status: int | None
) -> None:
    """@require on a WebSocket endpoint admits members and denies others with a real 403."""
    token = issuer.access_token("jo", groups=groups)
    with TestClient(require_app(issuer.settings())) as client:
        if status is None:
            with client.websocket_connect("/ws/admin", headers=bearer(token)) as ws:
                assert ws.receive_json()["groups"] == ["admins"]
            return
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            client.websocket_connect("/ws/admin", headers=bearer(token)),
        ):
            pass
    assert denied.value.status_code == status
    assert 'error="insufficient_scope"' in denied.value.headers["www-authenticate"]
