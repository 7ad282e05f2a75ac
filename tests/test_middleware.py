"""CognitoAuthMiddleware over HTTP: who gets in, and what the refused are told."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from cognito_asgi import (
    CognitoAuthMiddleware,
    CognitoError,
    CognitoSettings,
    CognitoUser,
    JWKSCache,
    TokenVerifier,
    _middleware,
    parse_jwks,
)
from cognito_asgi.testing import LocalIssuer
from tests.conftest import deny_list


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse(
        {
            "authenticated": user.is_authenticated,
            "username": user.display_name,
            "scopes": request.auth.scopes,
            "record": getattr(user, "record", None),
        }
    )


def make_app(settings: CognitoSettings, **options: Any) -> CognitoAuthMiddleware:
    inner = Starlette(routes=[Route("/{path:path}", whoami, methods=["GET", "POST"])])
    return CognitoAuthMiddleware(inner, settings=settings, **options)


async def call(
    app: Any, path: str = "/private", headers: list[tuple[str, str]] | None = None
) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        return await client.get(path, headers=headers)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


async def test_valid_token_reaches_the_app_with_user_and_scopes(issuer: LocalIssuer) -> None:
    """A valid token's user and scopes are on the scope, as Starlette's request.user/auth."""
    response = await call(make_app(issuer.settings()), headers=bearer(issuer.access_token("dan")))
    assert response.status_code == 200
    assert response.json() == {
        "authenticated": True,
        "username": "dan",
        "scopes": ["authenticated", "aws.cognito.signin.user.admin"],
        "record": None,
    }


def scope_recorder(seen: list[Scope]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await JSONResponse({})(scope, receive, send)

    return app


async def test_requests_with_the_same_scopes_share_one_read_only_credentials(
    issuer: LocalIssuer,
) -> None:
    """scope["auth"] is one object per set of scopes, whoever the user, and nobody can change it:
    its scopes are a tuple and its attributes cannot be set or deleted."""
    seen: list[Scope] = []
    app = CognitoAuthMiddleware(scope_recorder(seen), settings=issuer.settings())
    tokens = [
        issuer.access_token("ann", scopes=["read"]),
        issuer.access_token("bob", scopes=["read"]),
        issuer.access_token("ann", scopes=["read", "write"]),
        issuer.access_token("ann", scopes=["read"]),
    ]
    for token in tokens:
        assert (await call(app, headers=bearer(token))).status_code == 200
    auths = [scope["auth"] for scope in seen]
    assert [auth.scopes for auth in auths] == [
        ("authenticated", "read"),
        ("authenticated", "read"),
        ("authenticated", "read", "write"),
        ("authenticated", "read"),
    ]
    assert auths[0] is auths[1] is auths[3]
    assert auths[2] is not auths[0]
    assert all(isinstance(auth, AuthCredentials) for auth in auths)
    with pytest.raises(AttributeError):
        auths[0].scopes.append("admin")
    with pytest.raises(AttributeError, match="read-only"):
        auths[0].scopes = ["authenticated", "admin"]
    with pytest.raises(AttributeError, match="read-only"):
        del auths[0].scopes
    assert auths[1].scopes == ("authenticated", "read")


async def test_credentials_past_the_shared_scope_sets_are_built_per_request(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond _SHARED_SCOPE_SETS distinct scope sets a request gets credentials of its own,
    still read-only and right, and the table of shared ones grows no further."""
    monkeypatch.setattr(_middleware, "_SHARED_SCOPE_SETS", 2)
    seen: list[Scope] = []
    app = CognitoAuthMiddleware(scope_recorder(seen), settings=issuer.settings())
    for name in ("a", "b", "c", "c"):
        token = issuer.access_token(scopes=[name])
        assert (await call(app, headers=bearer(token))).status_code == 200
    assert [scope["auth"].scopes for scope in seen] == [
        ("authenticated", name) for name in ("a", "b", "c", "c")
    ]
    assert seen[2]["auth"] is not seen[3]["auth"]
    assert len(app._credentials) == 2
    with pytest.raises(AttributeError, match="read-only"):
        seen[2]["auth"].scopes = []


async def test_anonymous_requests_share_a_read_only_user(issuer: LocalIssuer) -> None:
    """On a public path, requests without a token get the same anonymous user and empty
    credentials, which no request can change."""
    seen: list[Scope] = []
    app = CognitoAuthMiddleware(
        scope_recorder(seen), settings=issuer.settings(), public_paths=["/"]
    )
    await call(app)
    await call(app, headers=bearer("not-a-token"))
    first, second = seen
    anonymous: Any = first["user"]
    with pytest.raises(AttributeError, match="read-only"):
        anonymous.is_admin = True
    assert anonymous is second["user"]
    assert isinstance(anonymous, UnauthenticatedUser)
    assert not anonymous.is_authenticated
    assert first["auth"] is second["auth"]
    assert first["auth"].scopes == ()
    with pytest.raises(AttributeError, match="read-only"):
        first["auth"].scopes = ["authenticated"]


async def test_missing_token_is_401_without_error_code(issuer: LocalIssuer) -> None:
    """RFC 6750 §3.1: no credentials means 401 with a bare Bearer challenge."""
    response = await call(make_app(issuer.settings()))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"] == "missing_token"
    assert response.headers["cache-control"] == "no-store"


async def test_invalid_token_is_401_invalid_token(issuer: LocalIssuer) -> None:
    """A bad token gets error="invalid_token" with a description, and never the token back."""
    token = issuer.access_token(exp=1000)
    response = await call(make_app(issuer.settings()), headers=bearer(token))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert 'error_description="the token has expired"' in challenge
    assert response.json() == {"error": "expired", "error_description": "the token has expired"}
    assert token not in response.text
    assert token not in challenge


HEADER_CASES = {
    "lowercase-scheme": ("bearer {t}", 200),
    "uppercase-scheme": ("BEARER {t}", 200),
    "extra-spaces": ("Bearer   {t}  ", 200),
    "no-token": ("Bearer", 401),
    "two-tokens": ("Bearer {t} {t}", 401),
    "basic-scheme": ("Basic dXNlcjpwYXNz", 401),
    "token-without-scheme": ("{t}", 401),
    "tab-separated": ("Bearer\t{t}", 401),
}


@pytest.mark.parametrize(("value", "status"), list(HEADER_CASES.values()), ids=list(HEADER_CASES))
async def test_authorization_header_forms(issuer: LocalIssuer, value: str, status: int) -> None:
    """The Bearer scheme is case-insensitive; anything but 'Bearer <token>' is not accepted."""
    header = value.format(t=issuer.access_token())
    response = await call(make_app(issuer.settings()), headers=[("Authorization", header)])
    assert response.status_code == status


async def test_two_authorization_headers_are_a_bad_request(issuer: LocalIssuer) -> None:
    """Two Authorization headers are ambiguous: 400 invalid_request, whatever they hold."""
    token = issuer.access_token()
    response = await call(make_app(issuer.settings()), headers=bearer(token) + bearer(token))
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_a_cached_token_in_two_authorization_headers_is_still_a_bad_request(
    issuer: LocalIssuer,
) -> None:
    """The cache answers a request only once its headers are known to be unambiguous."""
    app = make_app(issuer.settings())
    token = issuer.access_token()
    assert (await call(app, headers=bearer(token))).status_code == 200
    response = await call(app, headers=bearer(token) + bearer(token))
    assert response.status_code == 400


async def test_a_reused_token_is_answered_from_the_cache_in_any_header_form(
    issuer: LocalIssuer,
) -> None:
    """A cached token is a hit whether it comes as sent before, in another accepted spelling
    of the header, or in a cookie."""
    app = make_app(issuer.settings(), token_cookie="session")
    stats = app.verifier.stats
    token = issuer.access_token("hal")
    forms = [
        bearer(token),
        bearer(token),
        [("Authorization", f"bearer {token}")],
        [("Authorization", f"bearer  {token} ")],
        [("Cookie", f"session={token}")],
    ]
    for headers in forms:
        response = await call(app, headers=headers)
        assert response.json()["username"] == "hal"
    assert (stats.cache_misses, stats.cache_hits, stats.accepted) == (1, 4, 5)


async def test_the_cache_answers_again_after_the_key_set_changes(issuer: LocalIssuer) -> None:
    """A change of the key set empties the cache at the next request, whatever form its
    header has; the tokens verified after it are answered from the cache again."""
    jwks = JWKSCache(None, preloaded=issuer.jwks_json())
    app = make_app(issuer.settings(), verifier=TokenVerifier(issuer.settings(), jwks=jwks))
    stats = app.verifier.stats
    token = issuer.access_token("ivy")
    for _ in range(2):
        assert (await call(app, headers=bearer(token))).status_code == 200
    issuer.add_key()  # the token's key stays in the set
    jwks._install(parse_jwks(issuer.jwks_json().encode()))
    for _ in range(3):
        assert (await call(app, headers=bearer(token))).status_code == 200
    assert (stats.cache_misses, stats.cache_hits) == (2, 3)


def _forgeries(token: str, other: str) -> dict[str, str]:
    """Authorization values that end as `token` does (so they share its cache slot) but do not
    carry it."""
    signature = token.rpartition(".")[2]
    other_signing_input = other.rpartition(".")[0]
    return {
        "another-payload": f"Bearer {other_signing_input}.{signature}",
        "one-character-changed": f"Bearer {'A' if token[0] != 'A' else 'B'}{token[1:]}",
        "a-prefix": f"Bearer x{token}",
        "another-scheme": f"Basic {token}",
        "no-scheme": token,
        "tab-separated": f"Bearer\t{token}",
    }


async def test_a_header_that_only_ends_like_a_cached_token_is_verified_in_full(
    issuer: LocalIssuer,
) -> None:
    """The cache is found by a token's last characters, but answers only the exact token:
    every look-alike is verified as if nothing were cached, and refused."""
    app = make_app(issuer.settings())
    token = issuer.access_token("ida")
    assert (await call(app, headers=bearer(token))).status_code == 200
    for name, value in _forgeries(token, issuer.access_token("mallory")).items():
        forms = [value]
        if value.startswith("Bearer "):  # also in a form the cache is looked up by the token
            forms.append(f"bearer  {value.removeprefix('Bearer ')} ")
        for form in forms:
            response = await call(app, headers=[("Authorization", form)])
            assert response.status_code == 401, (name, form[:8])
            assert "ida" not in response.text, name
    assert app.verifier.stats.cache_hits == 0
    assert (await call(app, headers=bearer(token))).json()["username"] == "ida"


async def test_a_cached_token_is_refused_once_it_expires(issuer: LocalIssuer) -> None:
    """The cache never answers past a token's exp; the token is then verified again, and
    refused once past the leeway."""
    now = [time.time()]
    verifier = TokenVerifier(issuer.settings(), clock=lambda: now[0])
    app = make_app(issuer.settings(), verifier=verifier)
    token = issuer.access_token(expires_in=60)
    for _ in range(2):
        assert (await call(app, headers=bearer(token))).status_code == 200
    assert verifier.stats.cache_hits == 1
    now[0] += 60 + issuer.settings().leeway_seconds
    response = await call(app, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "expired"
    assert verifier.stats.cache_hits == 1


async def test_a_check_on_every_use_runs_for_a_reused_header(issuer: LocalIssuer) -> None:
    """With a custom_check, a cached token's request still awaits the check every time."""
    refused, not_refused = deny_list("username", "the user is barred")
    verifier = TokenVerifier(issuer.settings(), custom_check=not_refused)
    app = make_app(issuer.settings(), verifier=verifier)
    token = issuer.access_token("jon")
    assert (await call(app, headers=bearer(token))).status_code == 200
    refused.add("jon")
    response = await call(app, headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error_description"] == "the user is barred"
    assert verifier.stats.cache_hits == 1


async def test_a_cached_token_still_meets_the_groups_and_gets_its_record(
    issuer: LocalIssuer,
) -> None:
    """A cache hit spares the verification only: the required groups are checked and the user
    loader runs on every request."""
    loaded: list[str] = []

    async def load(user: CognitoUser) -> dict[str, int]:
        loaded.append(user.username)
        return {"load": len(loaded)}

    app = make_app(issuer.settings(), groups=["admins"], user_loader=load)
    admin = issuer.access_token("kim", groups=["admins"])
    other = issuer.access_token("lee")
    for n in (1, 2):
        assert (await call(app, headers=bearer(admin))).json()["record"] == {"load": n}
        assert (await call(app, headers=bearer(other))).status_code == 403
    assert app.verifier.stats.cache_hits == 2
    assert loaded == ["kim", "kim"]


@pytest.mark.parametrize("exp", [2**53 + 1, 10**400, 1e300], ids=["2**53+1", "10**400", "1e300"])
async def test_a_token_expiring_past_float_precision_is_cached(
    issuer: LocalIssuer, exp: float
) -> None:
    """An exp too far out for a float to hold exactly (or at all) is cached as never
    expiring; not an error."""
    app = make_app(issuer.settings())
    token = issuer.access_token("max", exp=exp)
    for _ in range(2):
        assert (await call(app, headers=bearer(token))).status_code == 200
    assert app.verifier.stats.cache_hits == 1


async def test_public_paths_are_matched_on_segment_boundaries(issuer: LocalIssuer) -> None:
    """A public prefix covers itself and what is below it, not longer names."""
    app = make_app(issuer.settings(), public_paths=["/health", "/accounts/"])
    assert (await call(app, "/health")).status_code == 200
    assert (await call(app, "/health/deep")).status_code == 200
    assert (await call(app, "/accounts")).status_code == 200
    assert (await call(app, "/healthz")).status_code == 401
    assert (await call(app, "/accountsX")).status_code == 401


async def test_public_path_with_a_bad_token_stays_anonymous(issuer: LocalIssuer) -> None:
    """On a public path an invalid token is not an error; the request is simply anonymous."""
    app = make_app(issuer.settings(), public_paths=["/health"])
    response = await call(app, "/health", headers=bearer("not.a.token"))
    assert response.status_code == 200
    assert response.json()["authenticated"] is False
    response = await call(app, "/health", headers=bearer(issuer.access_token("eve")))
    assert response.json()["username"] == "eve"


async def test_required_groups_and_scopes_give_403(issuer: LocalIssuer) -> None:
    """Valid token, missing group or scope: 403 insufficient_scope, naming required scopes."""
    app = make_app(issuer.settings(), groups=["admins"], scopes=["api/read"])
    ok = issuer.access_token(groups=["admins"], scopes=["api/read"])
    assert (await call(app, headers=bearer(ok))).status_code == 200
    response = await call(app, headers=bearer(issuer.access_token(scopes=["api/read"])))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    response = await call(app, headers=bearer(issuer.access_token(groups=["admins"])))
    assert response.status_code == 403
    assert 'scope="api/read"' in response.headers["www-authenticate"]


async def test_unreachable_keys_give_503_with_retry_after(issuer: LocalIssuer) -> None:
    """When the key set cannot be fetched at all, the answer is 503 with Retry-After."""
    settings = issuer.settings(
        jwks_json=None, jwks_url="http://127.0.0.1:9/nothing", jwks_timeout_seconds=1
    )
    response = await call(make_app(settings), headers=bearer(issuer.access_token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "jwks_unavailable"


async def test_user_loader_attaches_the_record(issuer: LocalIssuer) -> None:
    """An async user loader's result becomes user.record."""

    async def load(user: CognitoUser) -> dict[str, str]:
        return {"id": user.username, "plan": "pro"}

    app = make_app(issuer.settings(), user_loader=load)
    response = await call(app, headers=bearer(issuer.access_token("fay")))
    assert response.json()["record"] == {"id": "fay", "plan": "pro"}


async def test_cookie_source_is_opt_in(issuer: LocalIssuer) -> None:
    """A token in a cookie counts only when the cookie name is configured."""
    token = issuer.access_token("gus")
    cookie = [("Cookie", f"theme=dark; session={token}")]
    assert (await call(make_app(issuer.settings()), headers=cookie)).status_code == 401
    app = make_app(issuer.settings(), token_cookie="session")
    response = await call(app, headers=cookie)
    assert response.status_code == 200
    assert response.json()["username"] == "gus"
    from_env = make_app(issuer.settings(token_cookie="session"))
    assert (await call(from_env, headers=cookie)).status_code == 200


async def test_custom_error_handler(issuer: LocalIssuer) -> None:
    """on_error decides what a refusal looks like."""

    def on_error(scope: Scope, exc: CognitoError) -> Any:
        return JSONResponse({"nope": exc.code}, status_code=418)

    response = await call(make_app(issuer.settings(), on_error=on_error))
    assert response.status_code == 418
    assert response.json() == {"nope": "missing_token"}


async def test_other_scope_types_pass_through(issuer: LocalIssuer) -> None:
    """Scopes the middleware does not handle reach the app untouched."""
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    middleware = CognitoAuthMiddleware(app, settings=issuer.settings())
    await middleware({"type": "custom.thing"}, _never, _never)
    assert seen == [{"type": "custom.thing"}]


async def _never(*args: Any) -> Any:
    raise AssertionError("not expected")


async def test_lifespan_fetches_keys_before_the_first_request(issuer: LocalIssuer) -> None:
    """The lifespan startup event triggers a key fetch and is passed on to the app."""
    from cognito_asgi.testing import JWKSServer

    with JWKSServer.running(issuer) as server:
        settings = issuer.settings(jwks_json=None, jwks_url=server.url)
        received: list[str] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            message = await receive()
            received.append(message["type"])

        middleware = CognitoAuthMiddleware(app, settings=settings)

        async def receive() -> dict[str, str]:
            return {"type": "lifespan.startup"}

        await middleware({"type": "lifespan"}, receive, _never)
        assert received == ["lifespan.startup"]
        assert server.requests == 1


async def test_reads_the_environment_when_given_nothing(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CognitoAuthMiddleware(app) alone is configured from COGNITO_* variables."""
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_JSON", issuer.jwks_json())
    app = CognitoAuthMiddleware(whoami_app)
    response = await call(app, headers=bearer(issuer.access_token("hal")))
    assert response.json()["username"] == "hal"


async def test_shared_verifier(issuer: LocalIssuer) -> None:
    """A TokenVerifier can be built once and shared by several middleware instances."""
    verifier = TokenVerifier(issuer.settings())
    first = CognitoAuthMiddleware(whoami_app, verifier=verifier)
    second = CognitoAuthMiddleware(whoami_app, verifier=verifier, groups=["x"])
    token = issuer.access_token()
    assert (await call(first, headers=bearer(token))).status_code == 200
    assert (await call(second, headers=bearer(token))).status_code == 403


whoami_app = Starlette(routes=[Route("/{path:path}", whoami)])


def test_refusal_body_is_json_with_code_and_description() -> None:
    """The default refusal body is a small JSON object; nothing else leaks."""
    from cognito_asgi import ExpiredTokenError
    from cognito_asgi._middleware import refusal_parts

    status, headers, body = refusal_parts(ExpiredTokenError())
    assert status == 401
    assert json.loads(body) == {"error": "expired", "error_description": "the token has expired"}
    assert dict(headers)[b"content-length"] == str(len(body)).encode()


def test_a_bare_string_is_not_a_list_of_groups(issuer: LocalIssuer) -> None:
    """groups="admins" would mean six one-letter groups, so it is refused at construction."""
    from cognito_asgi import require

    with pytest.raises(TypeError, match="groups must be a list"):
        CognitoAuthMiddleware(whoami_app, settings=issuer.settings(), groups="admins")
    with pytest.raises(TypeError, match="scopes must be a list"):
        require(scopes="api/read")
    with pytest.raises(TypeError):
        TokenVerifier(issuer.settings(), groups="admins")


async def handshake(
    app: CognitoAuthMiddleware, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> tuple[list[dict[str, Any]], list[Scope]]:
    """Drive a WebSocket handshake by hand; return what was sent and what the app saw."""
    sent: list[dict[str, Any]] = []
    seen: list[Scope] = []
    subprotocols = [
        p.strip().decode()
        for n, v in headers
        if n == b"sec-websocket-protocol"
        for p in v.split(b",")
    ]
    scope: Scope = {
        "type": "websocket",
        "path": "/ws",
        "query_string": query,
        "headers": headers,
        "subprotocols": subprotocols,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(dict(message))

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    app.app = inner
    await app(scope, receive, send)
    return sent, seen


async def test_token_subprotocol_is_removed_from_scope_and_header(issuer: LocalIssuer) -> None:
    """The app sees neither the token subprotocol nor the token in the raw header."""
    token = issuer.access_token("ike")
    app = CognitoAuthMiddleware(
        whoami_app, settings=issuer.settings(), websocket_subprotocol_prefix="bearer."
    )
    header = f"chat.v1, bearer.{token}".encode()
    sent, seen = await handshake(app, [(b"sec-websocket-protocol", header)])
    assert sent == []
    assert seen[0]["subprotocols"] == ["chat.v1"]
    assert token.encode() not in b"".join(v for _, v in seen[0]["headers"])
    assert seen[0]["user"].username == "ike"


async def test_two_websocket_token_sources_are_refused(issuer: LocalIssuer) -> None:
    """A token both as subprotocol and as query parameter is ambiguous: refused."""
    token = issuer.access_token()
    app = CognitoAuthMiddleware(
        whoami_app,
        settings=issuer.settings(),
        websocket_subprotocol_prefix="bearer.",
        websocket_query_param="access_token",
    )
    sent, seen = await handshake(
        app,
        [(b"sec-websocket-protocol", f"bearer.{token}".encode())],
        f"access_token={token}".encode(),
    )
    assert seen == []
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid_request"}]
