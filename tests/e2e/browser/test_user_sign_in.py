"""Signing in to the console with a user account in Chromium: the user pool's hosted sign-in (on
the local stack, its stand-in page), back to the console with the role shown, and what a viewer
cannot do hidden."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.local.users import LOCAL_USERS, local_password
from tests.e2e.browser.conftest import Console

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _sign_in_as(console: Console, role: str) -> None:
    console.page.goto(console.url)
    console.page.get_by_test_id("signin-user").click()
    console.page.locator("input[name=username]").fill(LOCAL_USERS[role])
    console.page.locator("input[name=password]").fill(local_password())
    console.page.locator("button[type=submit]").click()
    expect(console.page.get_by_test_id("nav")).to_be_visible()


def test_a_user_signs_in_through_the_hosted_sign_in_and_sees_their_role(console: Console) -> None:
    _sign_in_as(console, "marketer")
    expect(console.page.get_by_test_id("signed-in-as")).to_contain_text(LOCAL_USERS["marketer"])
    expect(console.page.get_by_test_id("signed-in-role")).to_have_text("Marketer")
    # The ID token left the address bar, and is kept for this tab only.
    assert "id_token" not in console.page.url
    stored = console.page.evaluate("() => [Object.values(sessionStorage), Object.values(localStorage)]")
    assert any(value.startswith("eyJ") for value in stored[0]) and not any("eyJ" in v for v in stored[1])
    expect(console.open("segments").get_by_test_id("segments-new")).to_be_visible()


def test_a_viewer_does_not_see_what_their_role_cannot_do(console: Console) -> None:
    _sign_in_as(console, "viewer")
    expect(console.page.get_by_test_id("signed-in-role")).to_have_text("Viewer")
    segments = console.open("segments")
    expect(segments.locator("table, .empty").first).to_be_visible()  # the list, loaded
    expect(segments.get_by_test_id("segments-new")).to_have_count(0)
    console.shot("viewer-segments")
