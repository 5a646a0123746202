"""One test per remaining console page in Chromium: links and QR codes, settings, campaigns and
journeys (each checked against the API), the dashboard, and an API error in a page shown in a
marketer's words."""

from __future__ import annotations

import re
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.browser.conftest import Console, data_pixels
from tests.e2e.browser.seed import ADMIN, Person, admin_get, admin_post, tag
from tests.e2e.conftest import HTTP_TIMEOUT_SECONDS, Stack, unique
from tests.e2e.journey_helpers import definition, published_journey, template, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _number(text: str) -> int:
    return int(text.strip().replace(",", ""))


def test_links_create_a_link_download_its_qr_code_and_count_clicks(console: Console, stack: Stack) -> None:
    code = unique("poster").lower()
    console.sign_in()
    main = console.open("links")
    main.get_by_test_id("links-url").fill("https://shop.example.com/新品")
    main.get_by_test_id("links-src").fill("qr-poster")
    main.get_by_test_id("links-code").fill(code)
    main.get_by_test_id("links-submit").click()

    # The QR code of the new link is shown and downloads as SVG
    expect(main.get_by_test_id("links-qr")).to_contain_text(code)
    expect(main.get_by_test_id("links-qr-image")).to_be_visible()
    with console.page.expect_download() as download:
        main.get_by_test_id("links-qr-download").click()
    assert download.value.suggested_filename == f"qr-{code}.svg"
    assert "<svg" in download.value.path().read_text(encoding="utf-8")

    # It is listed with no clicks; a click on its public URL counts once it is reloaded
    row = main.get_by_test_id("links-table-row").filter(has_text=f"/r/{code}")
    expect(row.locator('td[data-col="clicks"]')).to_have_text("0")
    link = admin_get(stack, f"/admin/v1/links/{code}")
    followed = requests.get(link["public_url"], allow_redirects=False, timeout=HTTP_TIMEOUT_SECONDS)
    assert followed.status_code in (301, 302, 303, 307), followed.text
    console.page.reload()
    row = console.page.get_by_test_id("links-table-row").filter(has_text=f"/r/{code}")
    expect(row.locator('td[data-col="clicks"]')).to_have_text("1")
    assert admin_get(stack, f"/admin/v1/links/{code}")["clicks"]["total"] == 1
    console.shot("links")


def test_settings_show_the_rules_in_force_and_save_with_the_version_read(console: Console, stack: Stack) -> None:
    identity = admin_get(stack, "/admin/v1/identity/rules")
    tags = admin_get(stack, "/admin/v1/tags/rules")
    console.sign_in()
    main = console.open("settings")
    expect(main.get_by_test_id("settings-identity-priority")).to_have_value(", ".join(identity["priority"]))
    if tags["keywords"]:
        expect(main.get_by_test_id("settings-tags-table-row")).to_have_count(len(tags["keywords"]))
    expect(main.get_by_test_id("settings-replies-channel").first).to_be_visible()
    console.shot("settings")

    # Saving the identity rules as they are writes a new version of the same rules
    main.get_by_test_id("settings-identity-save").click()
    expect(main.get_by_test_id("settings-identity-saved")).to_contain_text(f"version {identity['version'] + 1}")
    saved = admin_get(stack, "/admin/v1/identity/rules")
    assert saved["version"] == identity["version"] + 1
    assert {k: v for k, v in saved.items() if k != "version"} == {k: v for k, v in identity.items() if k != "version"}


def test_campaigns_list_and_the_pre_send_check_with_quota_and_cost(console: Console, stack: Stack, amy: Person) -> None:
    # A segment of Amy alone: her cohort's tag, added once the segment exists (members join as
    # their profiles change)
    cohort = unique("cohort").lower()
    segment_id = unique("seg").lower()
    admin_post(stack, "/admin/v1/segments", {"id": segment_id, "name": segment_id, "rule": {"tag": {"name": cohort}}})
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s
    tag(stack, amy.profile_id, cohort)
    stack.drain()
    template_id = template(stack, "coupon", "首購 8 折優惠券")
    name = unique("首購 8 折")
    created = admin_post(
        stack,
        "/admin/v1/campaigns",
        {"name": name, "segment_id": segment_id, "template_id": template_id, "channels": ["line"]},
    )

    console.sign_in()
    main = console.open("campaigns")
    main.get_by_test_id("campaigns-row-link").filter(has_text=name).click()
    expect(main.get_by_test_id("campaigns-detail")).to_contain_text(name)
    main.get_by_test_id("campaigns-preflight-run").click()
    figures = main.get_by_test_id("campaigns-preflight-figures")
    expect(figures).to_be_visible()
    preflight = admin_post(stack, f"/admin/v1/campaigns/{created['campaign_id']}/preflight", {})
    shown = _number(main.get_by_test_id("campaigns-preflight-audience-value").inner_text())
    assert shown == preflight["audience"] == 1
    assert _number(main.get_by_test_id("campaigns-preflight-line-messages-value").inner_text()) == preflight["line"]["messages"]  # fmt: skip
    expect(main.get_by_test_id("campaigns-preflight-cost-value")).to_contain_text(re.compile(r"\d"))
    expect(main.get_by_test_id("campaigns-preflight-quota-value")).not_to_be_empty()
    expect(main.get_by_test_id("campaigns-report-sent")).to_be_visible()
    console.shot("campaigns-preflight")


def test_journeys_draw_the_journey_as_a_graph_with_per_node_counts(console: Console, stack: Stack) -> None:
    reminder = template(stack, "cart-reminder", "購物車還有商品喔")
    document = definition("s2-cart-abandonment", {"cart-reminder": reminder})
    document["name"] = unique("Cart reminder")
    with published_journey(stack, document) as journey_id:
        # A shopper leaves a cart: the run waits at the first node for an order
        shopper = unique("shopper")
        cart = {"cart_id": unique("cart"), "sku": "DRESS-7"}
        added = {"userId": shopper, "event": "Product Added", "properties": cart, "context": {"channel": "web"}}
        assert stack.segment("track", added).status_code == 200
        # Executions run on threads of their own: a drain does not wait for them.
        report = wait_for(
            stack,
            lambda: (
                (found := admin_get(stack, f"/admin/v1/journeys/{journey_id}/report"))["nodes"]["wait_order"]["entered"]
                and found
            ),
            "the run at its first node",
        )
        assert report["nodes"]["wait_order"]["entered"] == 1

        console.sign_in()
        main = console.open("journeys")
        main.get_by_test_id("journeys-row-link").filter(has_text=document["name"]).click()
        graph = main.get_by_test_id("journeys-graph")
        expect(graph).to_be_visible()
        nodes = main.get_by_test_id("journeys-node")
        expect(nodes).to_have_count(len(document["nodes"]))
        for node, figures in report["nodes"].items():
            shown = main.locator(f'[data-testid="journeys-node"][data-node="{node}"]')
            expect(shown).to_have_attribute("data-entered", str(figures["entered"]))
            expect(shown).to_have_attribute("data-waiting", str(figures["waiting_now"]))
        expect(main.get_by_test_id("journeys-edge")).to_have_count(3)  # received, timed_out, next
        expect(main.get_by_test_id("journeys-runs-value")).to_have_text(str(report["runs"]["total"]))
        console.shot("journeys-graph")


def test_the_dashboard_draws_its_kpis_and_trends(console: Console, stack: Stack, amy: Person) -> None:
    console.sign_in()
    main = console.open("dashboard")
    for chart in ("dashboard-audience-chart", "dashboard-revenue-chart"):
        drawn = main.get_by_test_id(chart)
        expect(drawn).to_have_attribute("data-rendered", "true")
        assert data_pixels(drawn) > 0, f"{chart} shows no data"
    overview = stack.http.get(stack.url("/admin/v1/reports/overview"), headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS)
    assert overview.status_code == 200, overview.text
    assert overview.json()["kpis"]["friends"]["value"] >= 1
    console.shot("dashboard")


def test_an_api_error_in_a_page_is_shown_in_a_marketers_words(console: Console) -> None:
    console.sign_in()
    main = console.open("campaigns", "no-such-campaign")
    error = main.get_by_test_id("campaigns-detail-error")
    expect(error).to_have_attribute("data-error-code", "campaign_not_found")
    expect(error).to_contain_text("This campaign could not be found.")
    assert "{" not in error.inner_text()
    console.shot("error-campaign-not-found")
