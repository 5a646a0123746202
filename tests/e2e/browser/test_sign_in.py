"""Signing in to the console in Chromium: the first load (navigation timing), the token kept in
the tab only, and a wrong token answered in a marketer's words."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Console
from tests.e2e.conftest import ADMIN_TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# errors.js, invalid_admin_token (en)
WRONG_TOKEN_WORDS = "Your sign-in has expired or the token is wrong. Please sign in again."


def test_sign_in_loads_the_console_and_keeps_the_token_in_the_tab_only(console: Console) -> None:
    # Given a browser that never saw the console (a fresh context: nothing cached)
    console.page.goto(console.url)
    expect(console.page.get_by_test_id("signin-form")).to_be_visible()

    # Then its first load is measured the way the browser saw it
    timing: dict[str, Any] = console.page.evaluate(
        """() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const paint = performance.getEntriesByName('first-contentful-paint')[0];
            const bytes = performance.getEntriesByType('resource').reduce((n, r) => n + (r.transferSize || 0), nav.transferSize || 0);
            return {dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
                    first_contentful_paint_ms: paint ? paint.startTime : null, transferred_bytes: bytes};
        }"""
    )
    assert timing["load_ms"] > 0
    console.note(
        "console first load (local, Chromium, cold cache)",
        f"DOMContentLoaded {timing['dom_content_loaded_ms']:.0f} ms, load {timing['load_ms']:.0f} ms, "
        f"first contentful paint {timing['first_contentful_paint_ms'] or 0:.0f} ms, "
        f"{timing['transferred_bytes'] / 1024:.0f} KiB",
    )
    print(f"console first load: {timing}")
    console.shot("sign-in")

    # When the marketer signs in with the admin token
    console.sign_in()

    # Then the console opens on the dashboard with every page in the nav
    expect(console.page.get_by_test_id("page-dashboard")).to_be_visible()
    for page_id in ("dashboard", "people", "segments", "reports", "links", "imports", "campaigns", "journeys", "settings"):  # fmt: skip
        expect(console.page.get_by_test_id(f"nav-{page_id}")).to_be_visible()
    # And the token is kept for this tab only: sessionStorage, never localStorage or a cookie
    stored = console.page.evaluate("() => [Object.values(sessionStorage), Object.values(localStorage)]")
    assert ADMIN_TOKEN in stored[0] and ADMIN_TOKEN not in stored[1]
    assert all(ADMIN_TOKEN not in cookie["value"] for cookie in console.page.context.cookies())
    # And a new tab of the same browser must sign in again
    other = console.page.context.new_page()
    other.goto(console.url)
    expect(other.get_by_test_id("signin-form")).to_be_visible()
    other.close()

    # And the console speaks Traditional Chinese when asked
    console.page.get_by_test_id("language-select").select_option("zh-TW")
    expect(console.page.get_by_test_id("nav-reports")).to_have_text("報表")
    console.open("reports")
    expect(console.page.get_by_test_id("reports-tab-funnel")).to_have_text("轉換漏斗")
    console.shot("reports-zh-TW")
    console.page.get_by_test_id("language-select").select_option("en")
    expect(console.page.get_by_test_id("nav-reports")).to_have_text("Reports")

    # When they sign out, the token is gone
    console.page.get_by_test_id("signout").click()
    expect(console.page.get_by_test_id("signin-form")).to_be_visible()
    assert ADMIN_TOKEN not in console.page.evaluate("() => Object.values(sessionStorage)")


def test_a_wrong_token_is_answered_in_words_a_marketer_understands(console: Console) -> None:
    console.page.goto(console.url)
    console.page.get_by_test_id("signin-token").fill("not-the-token")
    console.page.get_by_test_id("signin-submit").click()

    error = console.page.get_by_test_id("signin-error")
    expect(error).to_have_attribute("data-error-code", "invalid_admin_token")
    expect(error).to_contain_text(WRONG_TOKEN_WORDS)
    text = error.inner_text()
    assert "{" not in text and "invalid_admin_token" not in text  # never the raw JSON or the code
    expect(console.page.get_by_test_id("nav")).to_have_count(0)
    console.shot("sign-in-wrong-token")
