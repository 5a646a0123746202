"""Scenario S1 steps 5 and 6 as journeys on segment entry, over HTTP on the local stack: the
fresh follower U2 enters "never purchased AND LINE reachable" and gets the first-purchase
coupon; Amy (M1, NT$5,000 in store, LINE bound) never does; after she taps a tracked link from a
LINE message she enters "spent > 3,000 in 30 days AND clicked a LINE push" in real time and gets
the VIP preview, never the coupon."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack, unique
from tests.e2e.journey_helpers import admin, definition, ended, published_journey, runs, tap, template, texts
from tests.e2e.test_campaigns import cohort_segment, follower, member_on_line, tag, taipei_at

# Journeys run on a local stack of their own (the other worker's): they are the longest e2e group.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-journeys")]

COUPON = "首購 8 折優惠券：結帳輸入 FIRST20"
PREVIEW = "Amy 您好，VIP 新品搶先看：春季新品週五開賣"
SPENT_OVER_3000 = {
    "event": {"name": "Order Completed", "within": {"last": {"days": 30}},
              "aggregate": "sum", "property": "revenue", "op": "gt", "value": 3000}
}  # fmt: skip
CLICKED_LINE = {
    "event": {"name": "Link Clicked", "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}
}


def test_s1_steps_5_and_6_as_journeys_on_segment_entry(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 14)
    cohort = unique("s1j").lower()
    amy_line, amy = member_on_line(stack, "Amy Chen", revenue=5000)
    u2_line, u2 = follower(stack, "s1j-u2")
    first_segment = cohort_segment(
        stack, cohort, {"not": {"event": {"name": "Order Completed"}}}, {"reachable": {"channel": "line"}}
    )
    vip_segment = cohort_segment(stack, cohort, SPENT_OVER_3000, CLICKED_LINE)
    ids = {
        "never-purchased-line": first_segment,
        "vip-clicked-line": vip_segment,
        "first-purchase-coupon": template(stack, "coupon", COUPON),
        "vip-preview": template(stack, "vip-preview", PREVIEW),
    }
    with (
        published_journey(stack, definition("s1-first-purchase", ids)) as first_purchase,
        published_journey(stack, definition("s1-vip-preview", ids)) as vip_preview,
    ):
        # Step 5: both join the cohort; only U2 enters the first-purchase segment and its journey.
        tag(stack, amy, cohort)
        tag(stack, u2, cohort)
        u2_run = ended(stack, first_purchase, u2)
        assert u2_run["exit_reason"] == "completed" and u2_run["sent"] == {"coupon": "sent"}
        assert texts(stack, u2_line) == [COUPON]
        assert runs(stack, first_purchase, amy) == []
        assert texts(stack, amy_line) == []

        # Step 6: a LINE message carried Amy's personal tracked link; she taps it.
        link = admin(stack, "POST", "/admin/v1/links", {"url": "https://shop.example.com/new", "src": "line-push"})
        assert link.status_code == 201, link.text
        personal = admin(
            stack, "POST", f"/admin/v1/links/{link.json()['code']}/personal", {"profile_id": amy, "channel": "line"}
        )
        assert personal.status_code in (200, 201), personal.text
        tap(stack, personal.json()["url"])
        amy_run = ended(stack, vip_preview, amy)
        assert amy_run["sent"] == {"preview": "sent"}
        assert texts(stack, amy_line) == [PREVIEW]

        # Never the coupon, and U2 (no purchase, no click) never the preview.
        stack.drain()
        assert runs(stack, first_purchase, amy) == []
        assert runs(stack, vip_preview, u2) == []
        assert texts(stack, u2_line) == [COUPON]
