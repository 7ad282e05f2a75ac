"""The demo's sign-in page in headless Chromium, against the demo server and its emulator, and
with the Hosted UI against the test OAuth provider."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from cognito_asgi._demo import build_demo_app
from cognito_asgi.accounts import SQLUserStore, UserRecord
from cognito_asgi.hosted_ui import HostedUISettings
from cognito_asgi.testing import LocalIssuer
from tests.conftest import CHROMIUM_ARGS, IN_CI, require_program
from tests.examples.demo_process import REPO, DemoProcess, run_demo
from tests.hosted_ui.provider import Provider, bound_socket, serve, url_of

pytestmark = pytest.mark.browser

SDK = REPO / "examples/static_site/node_modules/amazon-cognito-identity-js/dist"
PASSWORD = "Correct-horse-9"
# Each step waits at most this long for the page to react (a bound, not a measurement).
STEP_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def chromium() -> str:
    path = require_program("chromium", "apt-get install chromium")
    if not (SDK / "amazon-cognito-identity.min.js").is_file():
        message = "the page's npm packages are missing; run npm ci in examples/static_site"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def demo(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    # Every test signs up from 127.0.0.1: lift the default limit of 10 sign-ups a minute.
    limit = {"COGNITO_ACCOUNTS_RATE_LIMIT": "200/minute"}
    with run_demo(tmp_path_factory.mktemp("demo"), extra_env=limit) as process:
        yield process


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def fresh_page(browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (empty storage), with console errors collected."""
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" else None,
    )
    opened.errors = errors
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def page(browser: Any, demo: DemoProcess) -> Iterator[Any]:
    with fresh_page(browser) as opened:
        yield opened


def unique_email(label: str) -> str:
    return f"{label}-{time.monotonic_ns()}@example.com"


def sign_up_by_api(demo: DemoProcess, name: str, email: str) -> dict[str, Any]:
    response = httpx.post(
        demo.url + "/accounts", json={"name": name, "email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def sign_in(page: Any, email: str, password: str) -> None:
    page.fill("#signin-email", email)
    page.fill("#signin-password", password)
    page.click("#signin-submit")


def fake_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'nope'})}.{part(claims)}.c2ln"


def test_sign_up_sign_in_reload_and_sign_out(page: Any, demo: DemoProcess, tmp_path: Path) -> None:
    """A person signs up, signs in with the email, sees their record, stays signed in across a
    reload and signs out; the password goes only to the sign-up POST and to Cognito."""
    email = unique_email("ada")
    posted: list[tuple[str, str]] = []

    def note(request: Any) -> None:
        if PASSWORD in (request.post_data or ""):
            target = request.headers.get("x-amz-target", "")
            posted.append((request.url.removeprefix(demo.url), target))

    page.on("request", note)
    page.goto(demo.url)
    page.wait_for_selector("#signup-form", state="visible")
    assert page.title() == "cognito-asgi demo"
    assert page.is_hidden("#hosted-ui-signin")  # no Hosted UI configured

    page.fill("#signup-name", "Ada Lovelace")
    page.fill("#signup-email", email)
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-submit")
    page.wait_for_selector("#notice:has-text('Account created')")
    assert page.input_value("#signin-email") == email

    page.fill("#signin-password", PASSWORD)
    page.click("#signin-submit")
    page.wait_for_selector("#signed-in", state="visible")
    assert page.text_content("#record-email") == email
    assert page.text_content("#record-name") == "Ada Lovelace"
    assert page.text_content("#greeting-name") == "Ada Lovelace"
    record_id = page.text_content("#record-id")
    assert record_id
    assert len(record_id) >= 32
    page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)

    page.reload()
    page.wait_for_selector("#signed-in", state="visible")
    assert page.text_content("#record-id") == record_id

    page.click("#signout")
    page.wait_for_selector("#signin-form", state="visible")
    assert page.text_content("#notice") == "You are signed out."
    stored = page.evaluate("Object.keys(window.localStorage)")
    assert not [key for key in stored if key.endswith(("accessToken", "refreshToken"))]
    page.reload()
    page.wait_for_selector("#signin-form", state="visible")
    assert page.is_hidden("#signed-in")

    assert posted == [
        ("/accounts", ""),
        ("/cognito", "AWSCognitoIdentityProviderService.InitiateAuth"),
    ]
    assert page.errors == []


def test_wrong_password_shows_an_error(page: Any, demo: DemoProcess, tmp_path: Path) -> None:
    """A wrong password leaves the person signed out with a readable error."""
    email = unique_email("grace")
    sign_up_by_api(demo, "Grace Hopper", email)
    page.goto(demo.url)
    page.wait_for_selector("#signin-form", state="visible")
    sign_in(page, email, "Wrong-horse-9")
    page.wait_for_selector("#signin-error", state="visible")
    assert page.text_content("#signin-error") == "Incorrect email or password."
    assert page.is_hidden("#signed-in")
    page.screenshot(path=str(tmp_path / "wrong-password.png"), full_page=True)

    sign_in(page, email.upper(), PASSWORD)  # emails are case-insensitive in this pool
    page.wait_for_selector("#signed-in", state="visible")
    assert page.is_hidden("#signin-error")


def test_duplicate_email_shows_the_conflict(page: Any, demo: DemoProcess, tmp_path: Path) -> None:
    """Signing up with an email that already has an account says so at the email field."""
    email = unique_email("alan")
    sign_up_by_api(demo, "Alan Turing", email)
    page.goto(demo.url)
    page.wait_for_selector("#signup-form", state="visible")
    page.fill("#signup-name", "Someone Else")
    page.fill("#signup-email", email.upper())
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-submit")
    page.wait_for_selector("#signup-email-error", state="visible")
    assert "already exists" in (page.text_content("#signup-email-error") or "")
    assert page.get_attribute("#signup-email", "aria-invalid") == "true"
    assert page.is_hidden("#signed-in")
    page.screenshot(path=str(tmp_path / "duplicate.png"), full_page=True)


def test_field_errors_are_shown_beside_their_fields(
    page: Any, demo: DemoProcess, tmp_path: Path
) -> None:
    """The API's field errors (a malformed email, then a password the pool's policy refuses)
    are shown as sentences under their own fields, and cleared on the next attempt."""
    page.goto(demo.url)
    page.wait_for_selector("#signup-form", state="visible")
    page.fill("#signup-name", "Bad Input")
    page.fill("#signup-email", "not-an-email")
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-submit")
    page.wait_for_selector("#signup-email-error", state="visible")
    assert page.text_content("#signup-email-error") == "Email is not a valid email address."
    assert page.is_hidden("#signup-password-error")
    assert page.is_hidden("#signup-error")

    page.fill("#signup-email", unique_email("weak"))
    page.fill("#signup-password", "short")
    page.click("#signup-submit")
    page.wait_for_selector("#signup-password-error", state="visible")
    assert page.is_hidden("#signup-email-error")
    message = page.text_content("#signup-password-error") or ""
    assert message[:1].isupper()
    assert message.endswith(".")
    assert "short" not in message  # the password itself is never echoed
    page.screenshot(path=str(tmp_path / "field-errors.png"), full_page=True)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param("expired", id="expired-and-unrefreshable"),
        pytest.param("refused-by-api", id="unexpired-but-refused-by-the-api"),
    ],
)
def test_a_dead_session_shows_the_sign_in_form(page: Any, demo: DemoProcess, damage: str) -> None:
    """Stored tokens that are expired and cannot be refreshed, or that the API refuses, lead
    back to the sign-in form, with the stored session forgotten."""
    email = unique_email("kay")
    sign_up_by_api(demo, "Kay", email)
    page.goto(demo.url)
    page.wait_for_selector("#signin-form", state="visible")
    sign_in(page, email, PASSWORD)
    page.wait_for_selector("#signed-in", state="visible")

    now = int(time.time())
    exp = now - 3600 if damage == "expired" else now + 3600
    token = fake_jwt({"exp": exp, "iat": now - 7200, "token_use": "access", "username": "x"})
    page.evaluate(
        """([token, expired]) => {
            for (const key of Object.keys(localStorage)) {
                if (key.endsWith('.accessToken') || key.endsWith('.idToken')) {
                    localStorage.setItem(key, token);
                }
                if (expired && key.endsWith('.refreshToken')) {
                    localStorage.setItem(key, 'revoked-refresh-token');
                }
            }
        }""",
        [token, damage == "expired"],
    )
    page.reload()
    page.wait_for_selector("#signin-form", state="visible")
    assert page.is_hidden("#signed-in")
    if damage == "refused-by-api":
        assert "expired" in (page.text_content("#notice") or "")
    stored = page.evaluate("Object.keys(window.localStorage)")
    assert not [key for key in stored if key.endswith("accessToken")]


HOSTED_PASSWORD = "Correct-Horse-9"


async def add_record(database_url: str, record: UserRecord) -> None:
    store = SQLUserStore(database_url)
    try:
        await store.insert_pending(record)
        assert await store.activate(record.id)
    finally:
        await store.aclose()


def sign_in_at_provider(page: Any, provider_url: str, username: str) -> None:
    page.wait_for_url(f"{provider_url}/oauth2/authorize?**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(HOSTED_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_sign_in_and_out_through_the_hosted_ui(
    browser: Any, issuer: LocalIssuer, tmp_path: Path
) -> None:
    """With Hosted UI settings the demo page offers "Sign in with the Hosted UI": after the
    provider's form the page shows the user's record, read from /accounts/me with the HttpOnly
    session cookie, and "Sign out" revokes the session and returns to the signed-out page; a
    user without a record is told so and can still sign out."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'users.sqlite3'}"
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    # The provider's user "alice" is the Cognito username, hence the record id; "bob" has none.
    alice = UserRecord(
        id="alice", name="Alice Liddell", email="alice@example.com", created_at=created
    )
    # Playwright's sync API runs an event loop in this thread: seed from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(anyio.run, add_record, database, alice).result()

    site_socket, provider_socket = bound_socket(), bound_socket()
    origin = url_of(site_socket)
    provider = Provider(
        issuer,
        redirect_uris=[f"{origin}/auth/callback"],
        logout_uris=[f"{origin}/"],
        interactive=True,
        users={"alice": HOSTED_PASSWORD, "bob": HOSTED_PASSWORD},
    )
    with serve(provider.app, provider_socket) as provider_url:
        provider.url = provider_url
        app = build_demo_app(
            issuer.settings(accounts_database_url=database),
            static_dir=REPO / "examples" / "static_site",
            hosted_ui=HostedUISettings(
                domain=provider_url,
                redirect_uri=f"{origin}/auth/callback",
                session_secret="a-demo-session-secret-of-at-least-32-characters",
            ),
        )
        with serve(app, site_socket, lifespan="on"), fresh_page(browser) as page:
            page.goto(origin)
            page.wait_for_selector("#signin-form", state="visible")
            button = page.locator("#hosted-ui-signin")
            assert button.is_visible()
            assert button.text_content() == "Sign in with the Hosted UI"
            assert button.get_attribute("href") == "/auth/login"
            served = page.request.get(f"{origin}/")
            policy = served.headers["content-security-policy"]
            assert "script-src 'self';" in policy
            assert f"form-action 'self' {provider_url};" in policy
            config = page.request.get(f"{origin}/config.json").json()
            assert config["hostedUi"] == {"login": "/auth/login", "logout": "/auth/logout"}
            page.screenshot(path=str(tmp_path / "hosted-ui-signed-out.png"), full_page=True)

            button.click()
            sign_in_at_provider(page, provider_url, "alice")
            page.wait_for_url(f"{origin}/")
            page.wait_for_selector("#signed-in", state="visible")
            assert page.text_content("#record-id") == "alice"
            assert page.text_content("#record-name") == "Alice Liddell"
            assert page.text_content("#record-email") == "alice@example.com"
            assert "Hosted UI" in (page.text_content("#signed-in-how") or "")
            cookies = {c["name"]: c for c in page.context.cookies(origin)}
            assert cookies["cognito_access"]["httpOnly"] is True
            assert cookies["cognito_refresh"]["httpOnly"] is True
            assert page.evaluate("document.cookie") == ""
            page.screenshot(path=str(tmp_path / "hosted-ui-signed-in.png"), full_page=True)

            with page.expect_navigation(url=f"{origin}/"):
                page.click("#signout")
            page.wait_for_selector("#signin-form", state="visible")
            assert page.is_hidden("#signed-in")
            assert page.is_visible("#hosted-ui-signin")
            assert len(provider.revoked) == 1
            assert len(provider.logouts) == 1
            assert page.request.get(f"{origin}/accounts/me").status == 401

            page.click("#hosted-ui-signin")
            sign_in_at_provider(page, provider_url, "bob")
            page.wait_for_url(f"{origin}/")
            page.wait_for_selector("#hosted-ui-signout", state="visible")
            assert "no account" in (page.text_content("#notice") or "")
            assert page.is_hidden("#hosted-ui-signin")
            assert page.is_hidden("#hosted-ui-hint")
            assert page.is_hidden("#signed-in")
            page.screenshot(path=str(tmp_path / "hosted-ui-no-record.png"), full_page=True)
            with page.expect_navigation(url=f"{origin}/"):
                page.get_by_role("button", name="Sign out of the Hosted UI").click()
            page.wait_for_selector("#hosted-ui-signin", state="visible")
            assert len(provider.revoked) == 2
            # The only console errors are the browser's notes of the expected 401 and 404.
            assert [e for e in page.errors if "status of 40" not in e] == []
