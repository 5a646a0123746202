"""Retention on the local stack: an order older than the timeline's retention leaves the
timeline and the archive when the clock passes the cutoff and the daily job runs, the profile
keeps what it folded in (orders, LTV), and the settings' answer reports the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PATH = "/admin/v1/privacy/retention"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=60)


def _preview_count(stack: Stack, rule: dict[str, Any], *, until: Callable[[int], bool]) -> int:
    """The archive trails the table by the archiver's batching window: poll the preview."""
    deadline = time.monotonic() + 60
    while True:
        stack.drain()
        preview = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": rule, "sample": 1})
        assert preview.status_code == 200, preview.text
        count: int = preview.json()["count"]
        if until(count) or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def test_an_order_past_the_timeline_retention_is_removed_and_reported(clock: Stack) -> None:
    stack = clock
    settings = _admin(stack, "GET", PATH)
    assert settings.status_code == 200, settings.text
    days = settings.json()["kinds"]["timeline"]["days"]
    member = unique("ret")
    now = stack.clock_now()
    old, recent = f"{member}-old", f"{member}-recent"
    # Two hours inside the retention now; past it once the clock moves three hours.
    for message_id, at, revenue in ((old, now - timedelta(days=days) + timedelta(hours=2), 1200), (recent, now, 300)):
        sent = stack.segment(
            "track",
            {
                "userId": member,
                "event": "Order Completed",
                "messageId": message_id,
                "timestamp": _iso(at),
                "properties": {"revenue": revenue, "currency": "TWD", "store_id": message_id},
            },
        )
        assert sent.status_code == 200, sent.text
    stack.drain()
    before = stack.lookup("member_id", member)
    assert before["computed_traits"]["ltv"] == 1500
    profile_id = before["profile_id"]
    timeline = _admin(stack, "GET", f"/admin/v1/profiles/{profile_id}/timeline?limit=50").json()["events"]
    assert {entry["messageId"] for entry in timeline} >= {old, recent}

    # The archive (what previews and scheduled segments read) has the old order too.
    old_order = {"event": {"name": "Order Completed", "where": [{"property": "store_id", "op": "eq", "value": old}]}}
    assert _preview_count(stack, old_order, until=lambda count: count == 1) == 1

    stack.move_clock(advance="PT3H")
    fired = stack.http.post(stack.url("/_local/schedules/run"), params={"name": "retention-daily"}, timeout=300)
    assert fired.status_code == 200, fired.text
    [run] = fired.json()["fired"]
    assert run["error"] is None, run
    result = run["result"]
    assert result["status"] == "finished" and result["kinds"]["timeline"]["removed"] >= 1
    stack.drain()

    timeline = _admin(stack, "GET", f"/admin/v1/profiles/{profile_id}/timeline?limit=50").json()["events"]
    assert [entry["messageId"] for entry in timeline if entry["messageId"] in (old, recent)] == [recent]
    after = stack.lookup("member_id", member)
    # The profile is the folded state: the removed order still counts in its orders and LTV.
    assert (
        after["computed_traits"]["ltv"] == 1500
        and after["computed_traits"]["orders"] == before["computed_traits"]["orders"]
    )

    # The timeline's removal reached the archive through the core table's stream.
    assert _preview_count(stack, old_order, until=lambda count: count == 0) == 0

    report = _admin(stack, "GET", PATH).json()
    [shown] = [entry for entry in report["runs"] if entry["run_id"] == result["run_id"]]
    assert shown == result
    assert shown["kinds"]["timeline"]["cutoff"] <= _iso(stack.clock_now() - timedelta(days=days))
