"""The demo's sign-in page in headless Chromium, against the demo server and its emulator."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI, require_program
from tests.examples.demo_process import REPO, DemoProcess, run_demo

pytestmark = pytest.mark.browser

SDK = REPO / "examples/static_site/node_modules/amazon-cognito-identity-js/dist"
PASSWORD = "Correct-horse-9"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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


@pytest.fixture
def page(browser: Any, demo: DemoProcess) -> Iterator[Any]:
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
