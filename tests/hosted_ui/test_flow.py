"""The Hosted UI sign-in end to end: a site using `HostedUIApp` against a real OAuth 2.0 /
OpenID provider on 127.0.0.1, driven by an HTTP client that keeps cookies like a browser."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import httpx2
import pytest

from cognito_asgi.hosted_ui import MemoryReplayStore, safe_next
from cognito_asgi.testing import JWKSServer, LocalIssuer
from tests.hosted_ui.conftest import ORIGIN, FakeClock, Site, browser_client, build_site
from tests.hosted_ui.provider import Provider

HTML = {"accept": "text/html,application/xhtml+xml"}


def cookies_set(response: httpx.Response) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.partition("=")[0]] = header
    return found


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class SignIn:
    login: httpx.Response
    authorize: httpx.Response
    callback: httpx.Response

    @property
    def callback_url(self) -> str:
        return self.authorize.headers["location"]


async def sign_in(client: httpx.AsyncClient, **params: str) -> SignIn:
    """Start at the login route, let the provider approve, and come back through the callback."""
    login = await client.get("/auth/login", params=params)
    assert login.status_code == 302, login.text
    authorize = await client.get(login.headers["location"])
    assert authorize.status_code == 302, authorize.text
    callback = await client.get(authorize.headers["location"])
    return SignIn(login, authorize, callback)


async def test_sign_in_sets_a_session_the_middleware_accepts(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """Login → provider (code flow, PKCE S256, state, nonce) → callback sets HttpOnly Lax cookies
    and returns to `next`, where the middleware accepts the session."""
    flow = await sign_in(client, next="/account?tab=1")

    sent = query_of(flow.login.headers["location"])
    assert flow.login.headers["location"].startswith(f"{provider.url}/oauth2/authorize?")
    assert sent["response_type"] == "code"
    assert sent["client_id"] == "localclient1"
    assert sent["redirect_uri"] == f"{ORIGIN}/auth/callback"
    assert sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    assert len(sent["state"]) >= 32
    assert len(sent["nonce"]) >= 32
    assert "code_verifier" not in sent
    assert "identity_provider" not in sent
    flow_cookie = cookies_set(flow.login)["cognito_signin_flow"]
    assert "Path=/auth;" in flow_cookie
    assert "HttpOnly" in flow_cookie
    assert "Max-Age=600" in flow_cookie

    assert flow.callback.status_code == 303, flow.callback.text
    assert flow.callback.headers["location"] == "/account?tab=1"
    assert flow.callback.headers["cache-control"] == "no-store"
    cookies = cookies_set(flow.callback)
    access, refresh = cookies["cognito_access"], cookies["cognito_refresh"]
    for header in (access, refresh):
        assert "; HttpOnly" in header
        assert "; SameSite=Lax" in header
        assert "; Path=/;" in header
        assert "Secure" not in header  # the site is on a loopback host
    assert "Max-Age=3599;" in access or "Max-Age=3600;" in access
    assert f"Max-Age={30 * 86400};" in refresh
    assert "Max-Age=0;" in cookies["cognito_signin_flow"]
    # The refresh token is sealed: the cookie does not contain it.
    assert not any(token in refresh for token in provider.refresh_tokens)
    # The PKCE verifier went to the token endpoint only.
    assert len(provider.token_requests[0]["code_verifier"]) >= 43

    me = await client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    page = await client.get("/account", headers=HTML)
    assert page.status_code == 200
    assert "Signed in as alice" in page.text


async def test_a_social_provider_is_passed_straight_to_the_hosted_ui(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """`identity_provider` reaches the authorize request unchanged."""
    await sign_in(client, identity_provider="Google")
    assert provider.authorize_requests[-1]["identity_provider"] == "Google"


@pytest.mark.parametrize(
    "value",
    ["Goo gle", "<script>", "", "a" * 33, "-Google", "Google\n"],
    ids=["space", "markup", "empty", "too-long", "leading-dash", "newline"],
)
async def test_a_malformed_identity_provider_is_refused(
    client: httpx.AsyncClient, provider: Provider, value: str
) -> None:
    """A provider name that is not a plain word gets 400, and no flow starts."""
    response = await client.get("/auth/login", params={"identity_provider": value})
    assert response.status_code == 400
    assert 'data-error="invalid_identity_provider"' in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "///evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\tevil",
        "/ok\r\nSet-Cookie: x=1",
        "/" + "a" * 3000,
    ],
    ids=[
        "network-path",
        "absolute-url",
        "slash-backslash",
        "backslashes",
        "triple-slash",
        "javascript",
        "relative",
        "tab",
        "header-injection",
        "too-long",
    ],
)
async def test_next_never_leaves_the_site(
    client: httpx.AsyncClient, provider: Provider, target: str
) -> None:
    """An open-redirect attempt in `next` signs the user in and lands on `/`."""
    flow = await sign_in(client, next=target)
    assert flow.callback.status_code == 303
    assert flow.callback.headers["location"] == "/"


def test_safe_next_keeps_paths_of_this_site() -> None:
    """Paths with queries and fragments on this site are kept as they are."""
    for path in ("/", "/account", "/a/b?x=1&y=%2F%2F", "/page#part", "/%2F%2Fevil"):
        assert safe_next(path) == path
    assert safe_next(None) == "/"


async def test_expired_access_token_is_renewed_with_the_refresh_token(
    client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """After the access token expires, the next request is renewed server-side: the app sees a
    fresh token and the response sets it; later requests need no further renewal."""
    await sign_in(client)
    first = client.cookies["cognito_access"]
    clock.advance(2 * 3600)

    me = await client.get("/api/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"
    renewed = cookies_set(me)
    assert set(renewed) == {"cognito_access"}
    assert client.cookies["cognito_access"] != first
    grants = [r["grant_type"] for r in provider.token_requests]
    assert grants == ["authorization_code", "refresh_token"]

    assert (await client.get("/api/me")).status_code == 200
    assert len(provider.token_requests) == 2


async def test_renewal_leaves_the_other_cookies_as_they_were(
    client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """The application behind the renewal sees its own cookies byte for byte and exactly one,
    fresh, access-token cookie."""
    await sign_in(client)
    stale = client.cookies["cognito_access"]
    client.cookies.set("theme", '"dark mode"', domain="localhost.local")
    clock.advance(2 * 3600)
    seen = (await client.get("/api/cookies")).json()["cookie"]
    pairs = [pair.split("=", 1) for pair in seen.split("; ")]
    assert ["theme", '"dark mode"'] in pairs
    access = [value for name, value in pairs if name == "cognito_access"]
    assert len(access) == 1
    assert access[0] != stale
    assert access[0] == client.cookies["cognito_access"]


async def test_renewal_also_happens_when_the_access_cookie_is_gone(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """A browser that dropped the expired access cookie is renewed from the refresh cookie."""
    await sign_in(client)
    client.cookies.delete("cognito_access")
    me = await client.get("/api/me")
    assert me.status_code == 200
    assert "cognito_access" in cookies_set(me)


async def test_a_refused_refresh_token_ends_the_session(
    client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """When the provider refuses the refresh token, the cookies are cleared, the API answers
    401 and a page sends the browser to sign in again, returning to that page afterwards."""
    await sign_in(client)
    for token in provider.refresh_tokens.values():
        token.revoked = True
    clock.advance(2 * 3600)

    me = await client.get("/api/me")
    assert me.status_code == 401
    cleared = cookies_set(me)
    assert "Max-Age=0;" in cleared["cognito_access"]
    assert "Max-Age=0;" in cleared["cognito_refresh"]
    assert "cognito_refresh" not in client.cookies

    page = await client.get("/account?tab=2", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=/account%3Ftab%3D2"
    again = await sign_in(client, **query_of(page.headers["location"]))
    assert again.callback.headers["location"] == "/account?tab=2"


async def test_an_unreachable_provider_keeps_the_session_for_a_later_renewal(
    issuer: LocalIssuer, client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """If the token endpoint cannot be reached, the request goes on unrenewed (401) but the
    refresh cookie stays, so a later request can still renew."""

    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    await sign_in(client)
    broken = build_site(issuer, provider.url, clock, transport=httpx2.MockTransport(down))
    clock.advance(2 * 3600)
    async with browser_client(broken.app) as other:
        other.cookies = client.cookies
        me = await other.get("/api/me")
    assert me.status_code == 401
    assert "set-cookie" not in me.headers
    assert (await client.get("/api/me")).status_code == 200


async def test_a_rotated_refresh_token_replaces_the_refresh_cookie(
    client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """With refresh token rotation, renewal stores the new refresh token and the old one is
    no longer used."""
    provider.rotate_refresh_tokens = True
    await sign_in(client)
    old = client.cookies["cognito_refresh"]
    clock.advance(2 * 3600)
    me = await client.get("/api/me")
    assert me.status_code == 200
    assert set(cookies_set(me)) == {"cognito_access", "cognito_refresh"}
    assert client.cookies["cognito_refresh"] != old
    clock.advance(2 * 3600)
    assert (await client.get("/api/me")).status_code == 200
    assert [r["grant_type"] for r in provider.token_requests].count("refresh_token") == 2


async def test_sign_out_revokes_clears_and_signs_out_of_the_hosted_ui(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """A same-origin POST /auth/logout revokes the refresh token, clears the cookies and goes
    to the Hosted UI's /logout, which returns to the sign-out URL."""
    await sign_in(client)
    refresh_token = next(iter(provider.refresh_tokens))

    response = await client.post("/auth/logout", headers={"origin": ORIGIN})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{provider.url}/logout?")
    assert query_of(location) == {
        "client_id": "localclient1",
        "logout_uri": f"{ORIGIN}/signed-out",
    }
    assert provider.revoked == [refresh_token]
    assert provider.token_requests[-1]["token_type_hint"] == "refresh_token"
    cleared = cookies_set(response)
    assert all("Max-Age=0;" in cleared[name] for name in ("cognito_access", "cognito_refresh"))
    assert not client.cookies

    back = await client.get(location)
    assert back.status_code == 302
    assert back.headers["location"] == f"{ORIGIN}/signed-out"
    assert (await client.get("/api/me")).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://localhost:8001"},
        {"referer": "https://evil.example/page"},
        {"origin": "https://evil.example", "referer": f"{ORIGIN}/account"},
    ],
    ids=[
        "no-origin",
        "foreign-origin",
        "null-origin",
        "other-port",
        "foreign-referer",
        "foreign-origin-own-referer",
    ],
)
async def test_sign_out_from_another_site_is_refused(
    client: httpx.AsyncClient, provider: Provider, headers: dict[str, str]
) -> None:
    """Sign-out without this site's Origin (CSRF) gets 403 and changes nothing."""
    await sign_in(client)
    response = await client.post("/auth/logout", headers=headers)
    assert response.status_code == 403
    assert 'data-error="csrf"' in response.text
    assert "set-cookie" not in response.headers
    assert provider.revoked == []
    assert (await client.get("/api/me")).status_code == 200


async def test_sign_out_accepts_a_same_origin_referer_without_origin(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """A browser that sends no Origin but a same-origin Referer may sign out."""
    await sign_in(client)
    response = await client.post("/auth/logout", headers={"referer": f"{ORIGIN}/account"})
    assert response.status_code == 303
    assert len(provider.revoked) == 1


async def test_a_forged_state_is_refused(client: httpx.AsyncClient, provider: Provider) -> None:
    """A callback whose state is not the one this browser started is refused, without a token
    exchange."""
    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    params = query_of(authorize.headers["location"])
    params["state"] = "forged-state-value-0123456789abcdef"
    response = await client.get("/auth/callback", params=params)
    assert response.status_code == 400
    assert 'data-error="invalid_state"' in response.text
    assert provider.token_requests == []
    assert "cognito_access" not in client.cookies


async def test_a_callback_from_another_browser_is_refused(
    client: httpx.AsyncClient, provider: Provider, site: Site
) -> None:
    """A callback URL opened in a browser that did not start the sign-in (no flow cookie) is
    refused: an attacker cannot sign a victim into the attacker's account (login CSRF)."""
    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    async with browser_client(site.app) as victim:
        response = await victim.get(authorize.headers["location"])
    assert response.status_code == 400
    assert 'data-error="invalid_state"' in response.text
    assert provider.token_requests == []


async def test_a_replayed_state_is_refused(client: httpx.AsyncClient, provider: Provider) -> None:
    """A completed callback replayed with its original flow cookie is refused: a state is
    accepted once."""
    login = await client.get("/auth/login")
    flow_cookie = client.cookies["cognito_signin_flow"]
    authorize = await client.get(login.headers["location"])
    first = await client.get(authorize.headers["location"])
    assert first.status_code == 303

    client.cookies.set("cognito_signin_flow", flow_cookie, domain="localhost.local", path="/auth")
    replay = await client.get(authorize.headers["location"])
    assert replay.status_code == 400
    assert 'data-error="invalid_state"' in replay.text
    assert "already been completed" in replay.text
    assert len(provider.token_requests) == 1


async def test_a_replayed_code_is_refused(client: httpx.AsyncClient, provider: Provider) -> None:
    """An authorization code already exchanged is refused by the provider on a new sign-in's
    callback, and no session is set."""
    used = await sign_in(client)
    code = query_of(used.callback_url)["code"]
    client.cookies.clear()

    login = await client.get("/auth/login")
    state = query_of(login.headers["location"])["state"]
    response = await client.get("/auth/callback", params={"code": code, "state": state})
    assert response.status_code == 400
    assert 'data-error="token_refused"' in response.text
    assert "cognito_access" not in cookies_set(response)
    assert [r["grant_type"] for r in provider.token_requests] == ["authorization_code"] * 2


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"error": "access_denied"}, "provider_error"),
        ({"code": None}, "invalid_request"),
        ({"code": "x" * 2000}, "invalid_request"),
        ({"state": None}, "invalid_state"),
        ({"state": "short"}, "invalid_state"),
    ],
    ids=["provider-error", "no-code", "huge-code", "no-state", "malformed-state"],
)
async def test_a_bad_callback_is_refused(
    client: httpx.AsyncClient, provider: Provider, change: dict[str, Any], code: str
) -> None:
    """Each malformed or refused callback gets 400 with its own code and never a session."""
    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    params: dict[str, Any] = query_of(authorize.headers["location"])
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    response = await client.get("/auth/callback", params=params)
    assert response.status_code == 400
    assert f'data-error="{code}"' in response.text
    assert "cognito_access" not in cookies_set(response)


async def test_a_tampered_or_stale_flow_cookie_is_refused(
    client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """A flow cookie altered by the browser, or older than the login timeout, is refused."""
    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    callback = authorize.headers["location"]
    original = client.cookies["cognito_signin_flow"]
    tampered = original[:-6] + ("AAAAAA" if not original.endswith("AAAAAA") else "BBBBBB")
    client.cookies.set("cognito_signin_flow", tampered, domain="localhost.local", path="/auth")
    assert (await client.get(callback)).status_code == 400

    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    clock.advance(601)
    response = await client.get(authorize.headers["location"])
    assert response.status_code == 400
    assert 'data-error="invalid_state"' in response.text
    assert provider.token_requests == []


@pytest.mark.parametrize(
    ("id_claims", "access_claims", "omit_id_token"),
    [
        ({"nonce": "another-sign-in"}, {}, False),
        ({"nonce": None}, {}, False),
        ({"aud": "otherclient"}, {}, False),
        ({"sub": "someone-else"}, {}, False),
        ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, {}, False),
        ({"token_use": "access"}, {}, False),
        ({}, {"client_id": "otherclient"}, False),
        ({}, {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, False),
        ({}, {"token_use": "id"}, False),
        ({}, {}, True),
    ],
    ids=[
        "wrong-nonce",
        "no-nonce",
        "id-token-for-other-client",
        "id-token-for-other-user",
        "wrong-at-hash",
        "id-token-not-id",
        "access-token-for-other-client",
        "access-token-from-other-pool",
        "access-token-not-access",
        "no-id-token",
    ],
)
async def test_tokens_from_the_token_endpoint_are_verified(
    issuer: LocalIssuer,
    client: httpx.AsyncClient,
    provider: Provider,
    monkeypatch: pytest.MonkeyPatch,
    id_claims: dict[str, Any],
    access_claims: dict[str, Any],
    omit_id_token: bool,
) -> None:
    """The token endpoint's answer is checked with our verifier (issuer, client, token_use,
    nonce, at_hash, same subject) and refused when any part is wrong."""
    real_id_token, real_access_token = provider.id_token, provider.access_token

    def id_token(user: str, access_token: str, nonce: str | None) -> str | None:
        token = real_id_token(user, access_token, nonce)
        if token is None or omit_id_token:
            return None
        claims = _claims_of(token)
        for key, value in id_claims.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        return issuer.sign(claims)

    def access_token(user: str, scope: str) -> str:
        return issuer.sign({**_claims_of(real_access_token(user, scope)), **access_claims})

    monkeypatch.setattr(provider, "id_token", id_token)
    monkeypatch.setattr(provider, "access_token", access_token)
    flow = await sign_in(client)
    assert flow.callback.status_code == 400
    assert 'data-error="invalid_token"' in flow.callback.text
    assert "cognito_access" not in cookies_set(flow.callback)


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def test_a_confidential_client_authenticates_at_the_token_endpoint(
    issuer: LocalIssuer, provider: Provider, clock: FakeClock
) -> None:
    """With COGNITO_CLIENT_SECRET the code exchange, renewal and revocation use HTTP Basic
    client authentication, and a wrong secret is refused."""
    provider.client.client_secret = "the-client-secret"
    site = build_site(
        issuer, provider.url, clock, settings_overrides={"client_secret": "the-client-secret"}
    )
    async with browser_client(site.app) as client:
        assert (await sign_in(client)).callback.status_code == 303
        clock.advance(2 * 3600)
        assert (await client.get("/api/me")).status_code == 200
        logout = await client.post("/auth/logout", headers={"origin": ORIGIN})
        assert logout.status_code == 303
        assert len(provider.revoked) == 1

    wrong = build_site(issuer, provider.url, clock, settings_overrides={"client_secret": "wrong"})
    async with browser_client(wrong.app) as client:
        flow = await sign_in(client)
    assert flow.callback.status_code == 400
    assert 'data-error="token_refused"' in flow.callback.text


async def test_pages_redirect_to_sign_in_and_apis_get_401(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """Without a session, a browser GET of a page is sent to sign in with `next`; API calls,
    other methods and non-HTML clients get the middleware's 401."""
    page = await client.get("/account?x=1", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=/account%3Fx%3D1"
    api = await client.get("/api/me")
    assert api.status_code == 401
    assert api.json()["error"] == "missing_token"
    post = await client.post("/account", headers=HTML)
    assert post.status_code == 401


async def test_the_sign_in_routes_answer_only_their_methods(
    client: httpx.AsyncClient, provider: Provider
) -> None:
    """GET /logout and POST /login are not routes (405); unknown paths are 404."""
    assert (await client.get("/auth/logout")).status_code == 405
    assert (await client.post("/auth/login", headers={"origin": ORIGIN})).status_code == 405
    assert (await client.get("/auth/nothing")).status_code == 404


async def test_no_token_secret_reaches_the_logs(
    client: httpx.AsyncClient,
    provider: Provider,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With every logger at DEBUG, the site's records never contain the code, the PKCE verifier,
    the access or the refresh token (the provider's and the test browser's own records are
    not the site's and are left out)."""
    caplog.set_level(logging.DEBUG)
    flow = await sign_in(client)
    clock.advance(2 * 3600)
    await client.get("/api/me")
    await client.post("/auth/logout", headers={"origin": ORIGIN})

    secrets = [query_of(flow.callback_url)["code"], *provider.refresh_tokens]
    secrets += [r["code_verifier"] for r in provider.token_requests if "code_verifier" in r]
    secrets.append(cookies_set(flow.callback)["cognito_access"].split(";")[0].split("=", 1)[1])
    outside = ("httpx", "httpcore", "authlib.oauth2", "uvicorn")
    site_records = [r for r in caplog.records if not r.name.startswith(outside)]
    assert any(r.name == "cognito_asgi.hosted_ui" for r in site_records)
    for record in site_records:
        text = record.getMessage()
        assert not any(secret in text for secret in secrets), record.name


async def test_the_memory_replay_store_is_bounded_and_forgets_expired_states() -> None:
    """A state is accepted once within its lifetime; the store keeps at most max_entries."""
    now = [0.0]
    store = MemoryReplayStore(max_entries=3, clock=lambda: now[0])
    assert await store.add("a", 10)
    assert not await store.add("a", 10)
    for key in ("b", "c", "d"):
        assert await store.add(key, 10)
    assert len(store) == 3
    now[0] = 11
    assert await store.add("b", 10)
    assert len(store) == 1


async def test_concurrent_requests_share_one_renewal(
    client: httpx.AsyncClient, provider: Provider, clock: FakeClock
) -> None:
    """Several requests arriving together with one expired session make one refresh call."""
    await sign_in(client)
    clock.advance(2 * 3600)
    responses = []

    async def fetch() -> None:
        responses.append(await client.get("/api/me"))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(fetch)
    assert [r.status_code for r in responses] == [200] * 5
    assert [r["grant_type"] for r in provider.token_requests].count("refresh_token") == 1


@pytest.mark.parametrize(
    ("fault", "status"),
    [("token-endpoint-down", 502), ("keys-unavailable", 503)],
    ids=["token-endpoint-down", "keys-unavailable"],
)
async def test_an_unavailable_provider_fails_the_callback_cleanly(
    issuer: LocalIssuer,
    client: httpx.AsyncClient,
    provider: Provider,
    clock: FakeClock,
    fault: str,
    status: int,
) -> None:
    """If the token endpoint or the pool's keys cannot be reached at the callback, the browser
    gets a clear 502/503 page and no session, never a 500."""

    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    login = await client.get("/auth/login")
    authorize = await client.get(login.headers["location"])
    with JWKSServer.running(issuer) as keys:
        keys.status = 500
        if fault == "token-endpoint-down":
            broken = build_site(issuer, provider.url, clock, transport=httpx2.MockTransport(down))
        else:
            overrides = {"jwks_json": None, "jwks_url": keys.url}
            broken = build_site(issuer, provider.url, clock, settings_overrides=overrides)
        async with browser_client(broken.app) as other:
            other.cookies = client.cookies
            response = await other.get(authorize.headers["location"])
    assert response.status_code == status
    assert 'data-error="provider_unavailable"' in response.text
    assert "cognito_access" not in cookies_set(response)
