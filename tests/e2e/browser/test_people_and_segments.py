"""The marketer's first tasks in Chromium: find Amy by the phone the store knows, see her 360 with
three channels, and build a segment whose live count changes while the rule is edited."""

from __future__ import annotations

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Console
from tests.e2e.browser.seed import Person, admin_get, admin_post, member, tag
from tests.e2e.conftest import Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_find_amy_by_phone_and_see_her_360_with_three_channels(console: Console, stack: Stack, amy: Person) -> None:
    # She agreed to email under the text of December (recorded through the admin API)
    consent = {"channel": "email", "granted": True, "textVersion": "2026-12"}
    admin_post(stack, f"/admin/v1/profiles/{amy.profile_id}/consent", consent)
    stack.drain()
    console.sign_in()
    main = console.open("people")
    main.get_by_test_id("people-search-mode").select_option("phone")
    main.get_by_test_id("people-search-input").fill(amy.phone)  # as the store typed it: 0912-xxx-xxx
    main.get_by_test_id("people-search-submit").click()
    found = main.get_by_test_id("people-result-link")
    expect(found).to_have_count(1)
    console.shot("people-search")
    found.click()

    view = main.get_by_test_id("person-view")
    expect(view).to_be_visible()
    expect(main.get_by_test_id("person-name")).to_contain_text(amy.name)
    # Her three channels: the store (pos), the web shop and LINE (other tests may add `crm` by
    # tagging her through the admin API): exactly the channels the API has for her
    recorded = stack.lookup("phone", amy.phone_e164)["stats"]["channels"]
    channels = main.get_by_test_id("person-channel")
    expect(channels).to_have_count(len(recorded))
    shown = {channel.get_attribute("data-channel") for channel in channels.all()}
    assert shown == set(recorded) and {"line", "pos", "web"} <= shown
    identifiers = main.get_by_test_id("person-identifiers-table")
    for value in (amy.phone_e164, amy.email, amy.member_id):
        expect(identifiers).to_contain_text(value)
    expect(main.get_by_test_id("person-line-status")).to_have_text(re.compile("friend", re.IGNORECASE))
    # Her consent history, newest first: the rows are the API's, the newest carries the text version
    history = admin_get(stack, f"/admin/v1/profiles/{amy.profile_id}/consent")["history"]
    rows = main.get_by_test_id("person-consent-history-table-row")
    expect(rows).to_have_count(len(history))
    expect(rows.first.locator("[data-col=text_version]")).to_have_text("2026-12")
    expect(rows.first.locator("[data-col=source]")).to_have_text("partner:admin-consent")
    console.shot("people-360-amy")

    # Her data exported from the page: the link gives the document of her whole person
    main.get_by_test_id("person-export-start").click()
    link = main.get_by_test_id("person-export-json")
    expect(link).to_be_visible(timeout=30_000)
    expect(main.get_by_test_id("person-export-csv")).to_be_visible()
    document = requests.get(str(link.get_attribute("href")), timeout=10).json()
    assert document["profile_id"] == amy.profile_id
    assert {"pos", "web", "line"} <= {event["channel"] for event in document["timeline"]}
    console.shot("people-360-export")


def test_a_segment_s_live_count_changes_while_the_rule_is_edited(console: Console, stack: Stack, amy: Person) -> None:
    # Given two people of one cohort: Amy (a LINE friend) and Ben (known in store only)
    cohort = unique("cohort").lower()
    tag(stack, amy.profile_id, cohort)
    tag(stack, member(stack, "Ben Lin"), cohort)
    stack.drain()

    console.sign_in()
    main = console.open("segments", "new")
    # When the marketer asks for the cohort's tag, the live count shows both
    main.get_by_test_id("rule-add").select_option("tag")
    main.get_by_test_id("rule-0-name").fill(cohort)
    count = main.get_by_test_id("segment-preview-result")
    expect(count).to_have_attribute("data-count", "2")
    console.shot("segments-builder-2")
    # And when they narrow it to LINE friends, it changes to Amy alone
    main.get_by_test_id("rule-add").select_option("identifier")
    expect(main.get_by_test_id("rule-1-type")).to_have_value("line")
    expect(count).to_have_attribute("data-count", "1")
    expect(main.get_by_test_id("segment-preview-count")).to_have_text("1")
    console.shot("segments-builder-1")

    # Then the count is the API's for the rule the builder wrote
    rule = json.loads(main.get_by_test_id("segment-rule-json").input_value())
    preview = admin_post(stack, "/admin/v1/segments/preview", {"rule": rule, "sample": 10})
    assert preview["count"] == 1 and [p["profile_id"] for p in preview["sample"]] == [amy.profile_id]
