"""Real-time segments over HTTP on the local stack: S1 step 6's VIP segment.

"Spent more than NT$3,000 in the last 30 days AND clicked a LINE push": a member who bought in
store enters the segment as soon as the click on the tracked link in her LINE message arrives,
and `segment.entered` is published.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VIP_RULE = {
    "and": [
        {"event": {"name": "Order Completed", "within": {"last": {"days": 30}},
                   "aggregate": "sum", "property": "revenue", "op": "gt", "value": 3000}},
        {"event": {"name": "Link Clicked", "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}},
    ]
}  # fmt: skip


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    response = stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=30)
    return response


def test_the_vip_segment_is_entered_in_real_time_when_the_line_click_arrives(stack: Stack) -> None:
    segment_id = unique("vip-preview").lower()
    created = _admin(
        stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": "VIP 新品搶先看", "rule": VIP_RULE}
    )
    assert created.status_code == 201, created.text
    invalid = _admin(
        stack, "POST", "/admin/v1/segments", {"id": unique("bad"), "name": "x", "rule": {"and": [{"event": {}}]}}
    )
    assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_segment_rule"
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s (CDP_SEGMENT_DEFINITIONS_CACHE_SECONDS)

    member = unique("M-VIP")
    order = {
        "userId": member,
        "event": "Order Completed",
        "properties": {"revenue": 5000},
        "context": {"channel": "pos"},
    }
    assert stack.segment("track", order).status_code == 200
    stack.drain()
    profile = stack.lookup("member_id", member)
    memberships = _admin(stack, "GET", f"/admin/v1/profiles/{profile['profile_id']}/segments").json()
    assert segment_id not in {m["segment_id"] for m in memberships["segments"]}

    # The LINE push carried her personal tracked link; she taps it.
    link = _admin(stack, "POST", "/admin/v1/links", {"url": "https://shop.example.com/new", "src": "line-push"}).json()
    personal = _admin(
        stack,
        "POST",
        f"/admin/v1/links/{link['code']}/personal",
        {"profile_id": profile["profile_id"], "channel": "line"},
    ).json()
    path = "/r/" + personal["url"].split("/r/", 1)[1]
    tapped = stack.http.get(stack.url(path), allow_redirects=False, timeout=30)
    assert tapped.status_code == 302 and tapped.headers["Location"].startswith("https://shop.example.com/new")
    stack.drain()

    memberships = _admin(stack, "GET", f"/admin/v1/profiles/{profile['profile_id']}/segments").json()
    assert segment_id in {m["segment_id"] for m in memberships["segments"]}
    entered = [
        e for e in stack.published("segment.entered")
        if e["detail"]["data"].get("segmentId") == segment_id and e["detail"]["data"].get("profileId") == profile["profile_id"]
    ]  # fmt: skip
    assert len(entered) == 1
    members = _admin(stack, "GET", f"/admin/v1/segments/{segment_id}/members").json()
    assert profile["profile_id"] in {m["profile_id"] for m in members["members"]}
    view = stack.lookup("member_id", member)  # the 360 view lists the person's segments
    assert segment_id in {m["segment_id"] for m in view["segments"]}
    assert view["timeline_url"] == f"/admin/v1/profiles/{profile['profile_id']}/timeline"
