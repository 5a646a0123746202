"""S10 over HTTP on the local stack: a marketer's reports (friends and blocks, trend, funnel by
channel group, retention, distribution, the dashboard) on events fed through the real ingest API,
checked number by number.

The events lie on two days more than a year back (`DAY`), which no other test writes to, so the
shared stack's other people do not move these numbers; the time zone moves one of them a day."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TAIPEI = ZoneInfo("Asia/Taipei")
DAY = datetime.now(TAIPEI).date() - timedelta(days=383)


def _at(day: date, hh: int, mm: int) -> str:
    local = datetime(day.year, day.month, day.day, hh, mm, tzinfo=TAIPEI)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _track(stack: Stack, member: str, event: str, at: str, channel: str, **properties: Any) -> None:
    body = {
        "userId": member,
        "event": event,
        "properties": properties,
        "context": {"channel": channel},
        "timestamp": at,
    }
    response = stack.segment("track", body)
    assert response.ok, response.text


def _report(stack: Stack, name: str, **params: Any) -> dict[str, Any]:
    response = stack.http.get(stack.url(f"/admin/v1/reports/{name}"), params=params, headers=ADMIN, timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_reports_of_friends_trend_funnel_retention_and_distribution(stack: Stack) -> None:
    run = unique("s10")
    amy, bo, cy, di = (f"{run}-{who}" for who in ("amy", "bo", "cy", "di"))
    next_day = DAY + timedelta(days=1)
    # Amy: a friend, then the whole funnel on the web in 25 minutes
    _track(stack, amy, "LINE Followed", _at(DAY, 10, 0), "line")
    _track(stack, amy, "Product Viewed", _at(DAY, 10, 5), "web")
    _track(stack, amy, "Product Added", _at(DAY, 10, 10), "web")
    _track(stack, amy, "Checkout Started", _at(DAY, 10, 20), "web")
    _track(stack, amy, "Order Completed", _at(DAY, 10, 30), "web", revenue=1000, order_id=unique("o"))
    # Bo: a friend who blocks the next day; buys in the store without adding to a cart
    _track(stack, bo, "LINE Followed", _at(DAY, 11, 0), "line")
    _track(stack, bo, "Product Viewed", _at(DAY, 12, 0), "pos")
    _track(stack, bo, "Order Completed", _at(DAY, 12, 30), "pos", revenue=500, order_id=unique("o"))
    _track(stack, bo, "LINE Unfollowed", _at(next_day, 9, 0), "line")
    # Cy: unblocks at 07:00 in Taipei, which is still the day before in UTC
    _track(stack, cy, "LINE Followed", _at(DAY, 7, 0), "line", isUnblocked=True)
    # Di: looks at a product from a LINE message, nothing more
    _track(stack, di, "Product Viewed", _at(DAY, 13, 0), "line")

    days = {"from": DAY.isoformat(), "to": next_day.isoformat()}
    deadline = time.monotonic() + 90
    while True:  # the archive trails the table by a moment
        stack.drain()
        orders = _report(stack, "trend", **days, by="channel", event="Order Completed")
        if orders["total"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert orders["buckets"] == [DAY.isoformat(), next_day.isoformat()]
    assert {s["key"]: s["values"] for s in orders["series"]} == {"web": [1, 0], "pos": [1, 0]}

    friends = _report(stack, "friends", **days)
    first, second = friends["days"]
    start = first["friends_start"]
    assert (first["new_friends"], first["unblocks"], first["blocks"], first["net_growth"]) == (2, 1, 0, 3)
    assert (second["new_friends"], second["unblocks"], second["blocks"], second["net_growth"]) == (0, 0, 1, -1)
    assert second["friends_start"] == start + 3 and second["block_rate"] == round(1 / (start + 3), 4)
    assert friends["totals"]["net_growth"] == 2 and friends["totals"]["blocks"] == 1
    in_utc = _report(stack, "friends", **days, tz="UTC")
    assert in_utc["days"][0]["unblocks"] == 0  # Cy's unblock was on the day before, in UTC

    funnel = _report(stack, "funnel", **{"from": DAY.isoformat(), "to": DAY.isoformat()})
    people = {group: [step["people"] for step in figures["steps"]] for group, figures in funnel["groups"].items()}
    assert people == {
        "all": [3, 1, 1, 1],
        "online": [1, 1, 1, 1],
        "offline": [1, 0, 0, 0],
        "line": [1, 0, 0, 0],
        "other": [0, 0, 0, 0],
    }
    online = funnel["groups"]["online"]["steps"]
    assert [step["median_seconds"] for step in online] == [None, 300.0, 600.0, 600.0]
    assert funnel["groups"]["all"]["steps"][1]["conversion"] == round(1 / 3, 4)

    monday = (DAY - timedelta(days=DAY.weekday())).isoformat()  # cohorts are listed by their first day
    retention = _report(stack, "retention", **{**days, "from": monday}, period="week", periods=2)
    cohorts = {c["cohort"]: c for c in retention["cohorts"]}
    assert (cohorts[monday]["size"], cohorts[monday]["retained"][0], cohorts[monday]["repeat_buyers"]) == (2, 2, 0)
    assert retention["repeat_purchase"] == {"buyers": 2, "repeat_buyers": 0, "rate": 0.0}

    revenue = _report(stack, "distribution", **days, field="properties.revenue", event="Order Completed", bins=5)
    assert (revenue["kind"], revenue["count"], revenue["min"], revenue["max"]) == ("numeric", 2, 500.0, 1000.0)
    assert sum(b["count"] for b in revenue["bins"]) == 2

    overview = _report(stack, "overview", **days)
    assert overview["days"] == [DAY.isoformat(), next_day.isoformat()]
    assert overview["kpis"]["buyers"]["trend"] == [2, 0] and overview["kpis"]["revenue"]["value"] == 1500.0
    assert overview["kpis"]["friends"]["trend"] == [start + 3, start + 2]

    nothing = _report(stack, "trend", **days, event="No Such Event")
    assert nothing["total"] == 0
    bad = stack.http.get(
        stack.url("/admin/v1/reports/friends"), params={"tz": "Mars/Olympus"}, headers=ADMIN, timeout=60
    )
    assert (bad.status_code, bad.json()["error"], bad.json()["details"]["field"]) == (400, "invalid_parameter", "tz")
