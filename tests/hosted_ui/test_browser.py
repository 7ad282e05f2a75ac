"""The Hosted UI sign-in in headless Chromium: a person clicks through the whole flow."""

from __future__ import annotations

import shutil

import pytest

from cognito_asgi.testing import LocalIssuer
from tests.conftest import CHROMIUM_ARGS, require_program
from tests.hosted_ui.conftest import FakeClock, build_site, make_provider
from tests.hosted_ui.provider import bound_socket, serve, url_of


@pytest.mark.browser
def test_sign_in_and_out_through_the_hosted_ui_in_chromium(issuer: LocalIssuer) -> None:
    """Clicking "Sign in with the Hosted UI", completing the provider's form, the browser lands
    signed in on the protected page; "Sign out" ends the session at both ends."""
    require_program("chromium", "apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright

    clock = FakeClock()
    site_socket, provider_socket = bound_socket(), bound_socket()
    origin = url_of(site_socket)
    provider = make_provider(issuer, origin, clock, interactive=True)
    with serve(provider.app, provider_socket) as provider_url:
        provider.url = provider_url
        site = build_site(issuer, provider_url, clock, origin=origin)
        with serve(site.app, site_socket), sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.goto(f"{origin}/welcome")
                page.get_by_text("Sign in with the Hosted UI").click()
                page.wait_for_url(f"{provider_url}/oauth2/authorize?**")
                page.get_by_label("Username").fill("alice")
                page.get_by_label("Password").fill("wrong")
                page.get_by_role("button", name="Sign in").click()
                expect(page.get_by_role("alert")).to_contain_text("Incorrect")
                page.get_by_label("Username").fill("alice")
                page.get_by_label("Password").fill(provider.users["alice"])
                page.get_by_role("button", name="Sign in").click()

                page.wait_for_url(f"{origin}/account")
                expect(page.locator("#signed-in")).to_have_text("Signed in as alice")
                cookies = {c["name"]: c for c in page.context.cookies(origin)}
                assert cookies["cognito_access"]["httpOnly"] is True
                assert cookies["cognito_access"]["sameSite"] == "Lax"
                assert cookies["cognito_refresh"]["httpOnly"] is True
                assert page.evaluate("document.cookie") == ""
                me = page.request.get(f"{origin}/api/me")
                assert me.status == 200
                assert me.json()["username"] == "alice"

                page.get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{origin}/signed-out")
                expect(page.locator("#signed-out")).to_have_text("Signed out")
                assert len(provider.revoked) == 1
                assert page.request.get(f"{origin}/api/me").status == 401
                page.goto(f"{origin}/account")
                page.wait_for_url(f"{provider_url}/oauth2/authorize?**")
            finally:
                browser.close()
