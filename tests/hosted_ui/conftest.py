"""Fixtures for the Hosted UI tests: a provider on 127.0.0.1, a site using it, a fake clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from cognito_asgi import CognitoAuthMiddleware, CognitoUser, TokenVerifier
from cognito_asgi.hosted_ui import HostedUIApp, HostedUISettings, SessionRenewalMiddleware
from cognito_asgi.testing import LocalIssuer
from tests.hosted_ui.provider import Provider, bound_socket, serve

#: Where the site under test lives for the HTTP-client tests (served through ASGITransport).
ORIGIN = "http://localhost:8000"
SECRET = "a-session-secret-of-at-least-thirty-two-characters"


class FakeClock:
    """Shared by the provider (token times) and the site (verification, cookies, renewal)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_provider(issuer: LocalIssuer, origin: str, clock: FakeClock, **kwargs: Any) -> Provider:
    return Provider(
        issuer,
        redirect_uris=[f"{origin}/auth/callback"],
        logout_uris=[f"{origin}/signed-out"],
        clock=clock,
        **kwargs,
    )


@pytest.fixture(scope="session")
def served_provider() -> Iterator[Provider]:
    """One provider server for the session; `provider` resets it for each test."""
    provider = make_provider(LocalIssuer(), ORIGIN, FakeClock())
    with serve(provider.app, bound_socket()) as url:
        provider.url = url
        yield provider


@pytest.fixture
def provider(served_provider: Provider, issuer: LocalIssuer, clock: FakeClock) -> Provider:
    """The provider, served on 127.0.0.1, auto-approving the test user, signing with `issuer`
    and reading `clock`."""
    served_provider.reset(issuer, clock)
    return served_provider


@dataclass
class Site:
    app: ASGIApp
    hosted: HostedUIApp
    verifier: TokenVerifier


def build_site(
    issuer: LocalIssuer,
    provider_url: str,
    clock: FakeClock,
    *,
    origin: str = ORIGIN,
    settings_overrides: dict[str, Any] | None = None,
    **hosted_kwargs: Any,
) -> Site:
    """A small site: a public welcome page, a protected page and API, the sign-in routes."""
    settings = issuer.settings(**(settings_overrides or {}))
    hosted_settings = HostedUISettings(
        domain=provider_url,
        redirect_uri=f"{origin}/auth/callback",
        logout_uri=f"{origin}/signed-out",
        session_secret=SECRET,
    )
    verifier = TokenVerifier(settings, clock=clock)
    hosted = HostedUIApp(
        settings=settings,
        hosted_ui=hosted_settings,
        verifier=verifier,
        clock=clock,
        **hosted_kwargs,
    )

    async def welcome(request: Request) -> Response:
        return HTMLResponse(
            "<!doctype html><title>Welcome</title><h1>Welcome</h1>"
            '<a id="hosted-ui-signin" href="/auth/login?next=/account">'
            "Sign in with the Hosted UI</a>"
        )

    async def account(request: Request) -> Response:
        user: CognitoUser = request.user
        return HTMLResponse(
            "<!doctype html><title>Account</title>"
            f'<h1 id="signed-in">Signed in as {user.username}</h1>'
            '<form method="post" action="/auth/logout"><button type="submit">Sign out</button>'
            "</form>"
        )

    async def me(request: Request) -> Response:
        user: CognitoUser = request.user
        return JSONResponse({"username": user.username, "sub": user.sub})

    async def cookies(request: Request) -> Response:
        return JSONResponse({"cookie": request.headers.get("cookie")})

    async def signed_out(request: Request) -> Response:
        return HTMLResponse('<!doctype html><title>Bye</title><h1 id="signed-out">Signed out</h1>')

    app: ASGIApp = Starlette(
        routes=[
            Route("/welcome", welcome),
            Route("/account", account),
            Route("/api/me", me),
            Route("/api/cookies", cookies),
            Route("/signed-out", signed_out),
            Mount("/auth", app=hosted),
        ]
    )
    app = CognitoAuthMiddleware(
        app,
        verifier=verifier,
        token_cookie=hosted.token_cookie,
        public_paths=["/auth", "/welcome", "/signed-out"],
        on_error=hosted.redirect_to_sign_in,
    )
    app = SessionRenewalMiddleware(app, hosted_ui=hosted)
    return Site(app, hosted, verifier)


@pytest.fixture
def site(issuer: LocalIssuer, provider: Provider, clock: FakeClock) -> Site:
    return build_site(issuer, provider.url, clock)


def browser_client(app: ASGIApp, origin: str = ORIGIN) -> httpx.AsyncClient:
    """An HTTP client that reaches the site in-process and everything else over the network,
    keeping cookies like a browser; redirects are followed step by step by the tests."""
    return httpx.AsyncClient(
        mounts={origin: httpx.ASGITransport(app=app)},
        base_url=origin,
        follow_redirects=False,
        trust_env=False,
    )


@pytest.fixture
async def client(site: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with browser_client(site.app) as client:
        yield client
