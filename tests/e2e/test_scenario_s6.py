"""S6 over HTTP on the local stack: RFM scores and named groups from the scheduled run, and
buyers by channel group (online only / offline only / omnichannel) with revenue per person."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.profiles.rfm import rfm_group

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GROUPS = {"champions", "loyal", "potential", "new", "at_risk", "hibernating", "lost", "none"}


def _admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> Any:
    return stack.http.request(method, stack.url(path), json=body, params=params, headers=ADMIN, timeout=60)


def _order(stack: Stack, member: str, revenue: int, channel: str, days_ago: int) -> None:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    body = {
        "userId": member,
        "event": "Order Completed",
        "properties": {"revenue": revenue, "order_id": unique("o")},
        "context": {"channel": channel},
        "timestamp": at,
    }
    assert stack.segment("track", body).ok


def test_rfm_groups_and_channel_groups(stack: Stack) -> None:
    run = unique("s6")
    people = {
        "omni": [(4200, "web", 2), (3900, "pos", 10), (2500, "web", 40)],
        "web": [(800, "web", 5)],
        "store": [(1200, "pos", 200)],
        "lapsed": [(300, "pos", 330)],
    }
    for who, orders in people.items():
        first_channel = orders[-1][1]  # signed up where they first bought
        identify = {"userId": f"{run}-{who}", "traits": {"name": f"{run} {who}"}, "context": {"channel": first_channel}}
        assert stack.segment("identify", identify).ok
        for revenue, channel, days_ago in orders:
            _order(stack, f"{run}-{who}", revenue, channel, days_ago)
    mine = {"attribute": {"field": "traits.name", "op": "starts_with", "value": run}}
    deadline = time.monotonic() + 60
    while True:  # the archive trails the table by a moment
        stack.drain()
        preview = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": mine}).json()
        if preview["count"] == len(people) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert preview["count"] == len(people)

    fired = stack.http.post(stack.url("/_local/schedules/run"), params={"name": "rfm-daily"}, timeout=120).json()
    [rfm_run] = fired["fired"]
    assert rfm_run["error"] is None, rfm_run
    report = rfm_run["result"]
    assert report["window_days"] == 365 and report["written"] >= len(people)
    stack.drain()

    scores = {}
    for who in people:
        profile = stack.lookup("member_id", f"{run}-{who}")
        rfm = profile["computed_traits"]["rfm"]
        assert rfm["group"] in GROUPS and rfm["window_days"] == 365
        assert all(1 <= rfm[k] <= 5 for k in ("r", "f", "m")), rfm
        scores[who] = rfm
        assert profile["trait_sources"]["rfm_group"]["source"].endswith("computed-rfm")
    # relative order holds whatever else the shared stack holds
    assert scores["omni"]["f"] >= scores["web"]["f"] and scores["omni"]["m"] >= scores["lapsed"]["m"]
    assert scores["omni"]["r"] >= scores["store"]["r"] >= scores["lapsed"]["r"]
    # Quintiles are of the whole stack, which other tests fill (some while its clock runs ahead):
    # each group follows from its scores, and the lapsed buyer is never among the best.
    assert all(rfm["group"] == rfm_group(rfm["r"], rfm["f"], rfm["m"]) for rfm in scores.values()), scores
    assert scores["lapsed"]["group"] not in {"champions", "loyal"}

    again = stack.http.post(stack.url("/_local/schedules/run"), params={"name": "rfm-daily"}, timeout=120).json()
    assert again["fired"][0]["result"]["written"] == 0  # same day, same scores: nothing new

    champions = {
        "and": [mine, {"attribute": {"field": "computed.rfm.group", "op": "eq", "value": scores["omni"]["group"]}}]
    }
    deadline = time.monotonic() + 60
    while True:
        stack.drain()
        found = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": champions}).json()
        if found["count"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert f"{run} omni" in {p["name"] for p in found["sample"]}

    groups = _admin(stack, "GET", "/admin/v1/reports/customer-groups").json()
    channel = groups["channel_groups"]
    assert {"omnichannel", "online_only", "offline_only"} <= set(channel)
    mix = {who: stack.lookup("member_id", f"{run}-{who}")["computed_traits"]["channel_mix"] for who in people}
    assert mix == {"omni": "omnichannel", "web": "online_only", "store": "offline_only", "lapsed": "offline_only"}
    for figures in channel.values():
        assert figures["revenue_per_person"] == round(figures["revenue"] / figures["people"], 2)
    assert sum(g["people"] for g in groups["rfm_groups"].values()) == sum(g["people"] for g in channel.values())
