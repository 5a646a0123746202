"""The admin's privacy pages in Chromium: the audit log lists writes just made (filtered and paged,
and left out of a viewer's nav), the retention page shows every data kind and saves a change
(refusals in words), and a person erased from their 360 page reaches `erased`."""

from __future__ import annotations

import time
from datetime import timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Console
from tests.e2e.browser.seed import ADMIN, admin_get, admin_post
from tests.e2e.conftest import HTTP_TIMEOUT_SECONDS, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

TAIPEI = timezone(timedelta(hours=8))
RETENTION = "/admin/v1/privacy/retention"


def _put_retention(stack: Stack, body: dict[str, object]) -> int:
    response = stack.http.put(stack.url(RETENTION), json=body, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS)
    return response.status_code


def test_the_audit_log_lists_writes_just_made_and_viewers_do_not_see_it(console: Console, stack: Stack) -> None:
    # A viewer's service token, then 51 revokes of it: each is a write naming the token as target
    token = admin_post(stack, "/admin/v1/tokens", {"name": unique("audit-probe"), "role": "viewer"})
    token_id = token["token"]["id"]
    console.sign_in(token["secret"])
    expect(console.page.get_by_test_id("signed-in-role")).to_have_text("Viewer")
    expect(console.page.get_by_test_id("nav-people")).to_be_visible()
    expect(console.page.get_by_test_id("nav-audit")).to_have_count(0)
    expect(console.page.get_by_test_id("nav-retention")).to_have_count(0)
    console.page.get_by_test_id("signout").click()
    revokes = 51
    for _ in range(revokes):
        response = stack.http.delete(
            stack.url(f"/admin/v1/tokens/{token_id}"), headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS
        )
        assert response.status_code == 200, response.text
    today = stack.clock_now().astimezone(TAIPEI).date().isoformat()

    console.sign_in()
    main = console.open("audit")
    expect(main.get_by_test_id("audit-table-row").first).to_be_visible()
    main.get_by_test_id("audit-target").fill(token_id)
    main.get_by_test_id("audit-from").fill(today)
    main.get_by_test_id("audit-to").fill(today)
    with console.page.expect_response(lambda r: "/admin/v1/audit?" in r.url and "target=" in r.url):
        main.get_by_test_id("audit-apply").click()
    expect(main.get_by_test_id("audit-results-state")).to_have_attribute("aria-busy", "false")
    rows = main.get_by_test_id("audit-table-row")
    newest = rows.first
    expect(newest.locator("[data-col=request]")).to_have_text("DELETE /admin/v1/tokens/{id}")
    expect(newest.locator("[data-col=targets]")).to_have_text(f"id: {token_id}")
    expect(newest.locator("[data-col=status] [data-status]")).to_have_attribute("data-status", "200")
    expect(newest.locator("[data-col=action]")).to_have_text("Change")
    expect(newest.locator("[data-col=actor]")).to_contain_text("Administrator")
    console.shot("audit-log")
    # A page holds at most 50: "more" follows the cursor until every revoke is listed
    more = main.get_by_test_id("audit-more")
    for _ in range(10):
        if more.count() == 0:
            break
        more.click()
        expect(main.locator("[data-testid=audit-more]:disabled")).to_have_count(0)  # that page is in
    expect(rows).to_have_count(revokes)
    assert "target=" in console.page.url  # the filters are in the route: the view can be linked to

    # A bad range is refused in words
    main.get_by_test_id("audit-from").fill("2026-12-31")
    main.get_by_test_id("audit-to").fill("2026-12-01")
    main.get_by_test_id("audit-apply").click()
    expect(main.get_by_test_id("audit-error")).to_contain_text('The "from" date must be before the "to" date.')


def test_the_retention_page_shows_every_kind_and_saves_a_change(console: Console, stack: Stack) -> None:
    original = admin_get(stack, RETENTION)
    exports = original["kinds"]["exports"]["days"]
    changed = 6 if exports == 7 else exports + 1
    try:
        console.sign_in()
        main = console.open("retention")
        rows = main.get_by_test_id("retention-kinds-row")
        expect(rows).to_have_count(len(original["kinds"]))
        expect(main.get_by_test_id("retention-kinds")).to_contain_text("Timeline events")
        expect(main.get_by_test_id("retention-kinds")).to_contain_text("Daily retention job")
        expect(main.get_by_test_id("retention-days-raw_events")).to_have_text(
            f"{original['kinds']['raw_events']['days']} days"
        )  # set at deploy: not an input
        days = main.get_by_test_id("retention-days-exports")
        expect(days).to_have_value(str(exports))
        console.shot("retention")

        # Out of bounds: the API's refusal, in words
        days.fill("99")
        main.get_by_test_id("retention-save").click()
        expect(main.get_by_test_id("retention-error")).to_have_text("Exported files can be kept from 1 to 7 days.")

        # Saved: the API has the new days
        days.fill(str(changed))
        main.get_by_test_id("retention-save").click()
        expect(main.get_by_test_id("retention-saved")).to_be_visible()
        assert admin_get(stack, RETENTION)["kinds"]["exports"]["days"] == changed
        expect(days).to_have_value(str(changed))

        # Someone else saves meanwhile: this page's version is stale, and it says so
        current = admin_get(stack, RETENTION)
        assert _put_retention(stack, {"version": current["version"], "days": {"exports": exports}}) == 200
        days.fill("5" if changed != 5 else "4")
        main.get_by_test_id("retention-save").click()
        expect(main.get_by_test_id("retention-error")).to_contain_text("Someone else changed the retention settings")
    finally:
        current = admin_get(stack, RETENTION)
        if current["kinds"]["exports"]["days"] != exports:
            assert _put_retention(stack, {"version": current["version"], "days": {"exports": exports}}) == 200
    assert admin_get(stack, RETENTION)["kinds"]["exports"]["days"] == exports


def test_erasing_a_person_from_the_360_page_reaches_erased(console: Console, stack: Stack) -> None:
    leaving = unique("erase-me")
    assert stack.segment("identify", {"userId": leaving, "traits": {"name": "Leaving Soon"}}).status_code == 200
    stack.drain()
    profile_id = stack.lookup("member_id", leaving)["profile_id"]

    console.sign_in()
    main = console.open("people", profile_id)
    expect(main.get_by_test_id("person-name")).to_have_text("Leaving Soon")
    main.get_by_test_id("person-erase-start").click()
    confirm = main.get_by_test_id("person-erase-confirm")
    expect(confirm).to_be_disabled()
    main.get_by_test_id("person-erase-confirm-id").fill(profile_id[:-1])  # not quite the id
    expect(confirm).to_be_disabled()
    main.get_by_test_id("person-erase-confirm-id").fill(profile_id)
    confirm.click()

    record = main.get_by_test_id("person-erase-record")
    expect(record).to_be_visible()
    started = time.monotonic()
    while record.get_attribute("data-status") == "running" and time.monotonic() - started < 120:
        stack.drain()  # the workflow waits for the streams to settle
        time.sleep(0.5)
    expect(record).to_have_attribute("data-status", "erased")
    console.note("erase_seconds", round(time.monotonic() - started, 1))
    expect(main.get_by_test_id("person-erase-status")).to_have_text("Erased")
    profile_row = main.get_by_test_id("person-erase-counts-row").filter(has_text="Profile and timeline")
    assert int(profile_row.locator("[data-col=removed]").inner_text()) >= 1
    expect(profile_row.locator("[data-col=remaining]")).to_have_text("0")
    console.shot("person-erased")
    assert admin_get(stack, f"/admin/v1/profiles/{profile_id}/erase")["status"] == "erased"
