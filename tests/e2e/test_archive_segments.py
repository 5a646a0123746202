"""The archive path over HTTP on the local stack: profile and timeline changes reach the Parquet
archive through the core table's stream; preview, search and the data-health report read it; a
scheduled recompute (EventBridge Scheduler, fired by the local stack) moves people into a
time-based segment that no event changed ("bought before, but not in the last 30 days")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> Any:
    return stack.http.request(method, stack.url(path), json=body, params=params, headers=ADMIN, timeout=60)


def _iso(days_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _customer(stack: Stack, member: str, name: str, order_days_ago: float | None, tags: list[str]) -> None:
    assert stack.segment("identify", {"userId": member, "traits": {"name": name}, "timestamp": _iso(60)}).ok
    if order_days_ago is not None:
        order = {
            "userId": member,
            "event": "Order Completed",
            "properties": {"revenue": 1800, "order_id": unique("o")},
            "context": {"channel": "pos"},
            "timestamp": _iso(order_days_ago),
        }
        assert stack.segment("track", order).ok
    for tag in tags:
        assert stack.segment("track", {"userId": member, "event": "Tag Added", "properties": {"tag": tag}}).ok


def _wait_for_archive(stack: Stack, rule: dict[str, Any], expected: int) -> dict[str, Any]:
    """The archive trails the table by the archiver's batching window: poll the preview."""
    deadline = time.monotonic() + 60
    while True:
        stack.drain()
        preview = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": rule, "sample": 5})
        assert preview.status_code == 200, preview.text
        body: dict[str, Any] = preview.json()
        if body["count"] >= expected or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def test_preview_search_health_and_a_scheduled_time_based_segment(stack: Stack) -> None:
    run = unique("arc")
    lapsed, recent, never = f"{run}-lapsed", f"{run}-recent", f"{run}-never"
    _customer(stack, lapsed, f"{run} 林小姐", order_days_ago=40, tags=["interest:shoes"])
    _customer(stack, recent, f"{run} 陳先生", order_days_ago=3, tags=[])
    _customer(stack, never, f"{run} 王小姐", order_days_ago=None, tags=["interest:bags"])
    mine = {"attribute": {"field": "traits.name", "op": "starts_with", "value": run}}
    lapsed_rule = {
        "and": [
            mine,
            {"event": {"name": "Order Completed"}},
            {"not": {"event": {"name": "Order Completed", "within": {"last": {"days": 30}}}}},
        ]
    }
    preview = _wait_for_archive(stack, lapsed_rule, expected=1)
    assert preview["count"] == 1 and preview["archive_as_of"] and preview["as_of"] == preview["archive_as_of"]
    [sample] = preview["sample"]
    assert sample["name"] == f"{run} 林小姐" and sample["tags"] == ["interest:shoes"]
    lapsed_id = stack.lookup("member_id", lapsed)["profile_id"]
    assert sample["profile_id"] == lapsed_id

    # the hourly snapshot refresh (fired like its schedule): the same answers, now from the snapshot
    refreshed = stack.http.post(stack.url("/_local/schedules/run"), params={"name": "archive-snapshot"}, timeout=300)
    [refresh] = refreshed.json()["fired"]
    assert refresh["error"] is None and refresh["result"]["snapshot"]["snapshot_id"], refresh
    from_snapshot = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": lapsed_rule, "sample": 5}).json()
    assert from_snapshot["count"] == 1 and from_snapshot["sample"] == preview["sample"]
    assert from_snapshot["as_of"] == from_snapshot["archive_as_of"] >= preview["as_of"]

    bad = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": {"and": [{"tag": {}}]}})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_segment_rule"

    found = _admin(stack, "GET", "/admin/v1/profiles/search", name_prefix=run).json()
    assert len(found["profiles"]) == 3
    by_tag = _admin(stack, "GET", "/admin/v1/profiles/search", name_prefix=run, tag="interest:bags").json()
    assert [p["name"] for p in by_tag["profiles"]] == [f"{run} 王小姐"]
    by_id = _admin(stack, "GET", "/admin/v1/profiles/search", identifier=f"member_id:{recent}").json()
    assert [p["profile_id"] for p in by_id["profiles"]] == [stack.lookup("member_id", recent)["profile_id"]]

    health = _admin(stack, "GET", "/admin/v1/reports/data-health")
    assert health.status_code == 200, health.text
    report = health.json()
    assert report["profiles"] >= 3 and report["identifiers"]["member_id"]["present"] >= 3
    assert set(report["tag_coverage"]) == {"friends", "tagged", "rate", "groups"}

    segment_id = unique("lapsed").lower()
    created = _admin(
        stack,
        "POST",
        "/admin/v1/segments",
        {"id": segment_id, "name": "買過但 30 天沒買", "rule": lapsed_rule, "refresh_minutes": 60},
    )
    assert created.status_code == 201, created.text
    assert created.json()["refresh_minutes"] == 60
    fired = stack.http.post(stack.url("/_local/schedules/run"), params={"name": segment_id}, timeout=120).json()
    [run_result] = fired["fired"]
    assert run_result["error"] is None, run_result
    [report_] = run_result["result"]["reports"]
    assert report_["entered"] == 1 and report_["members_after"] == 1
    stack.drain()
    members = _admin(stack, "GET", f"/admin/v1/segments/{segment_id}/members").json()["members"]
    assert [m["profile_id"] for m in members] == [lapsed_id]
    history = _admin(stack, "GET", f"/admin/v1/segments/{segment_id}/history").json()
    assert [s["members"] for s in history["sizes"]] == [1]
    assert [(c["profile_id"], c["action"]) for c in history["changes"]] == [(lapsed_id, "entered")]
    entered = [e["detail"]["data"] for e in stack.published("segment.entered")]
    assert [(e["profileId"], e["reason"]) for e in entered if e["segmentId"] == segment_id] == [
        (lapsed_id, "evaluated")
    ]

    again = _admin(stack, "POST", f"/admin/v1/segments/{segment_id}/recompute")
    assert again.status_code == 202
    stack.drain()
    history = _admin(stack, "GET", f"/admin/v1/segments/{segment_id}/history").json()
    assert [s["members"] for s in history["sizes"]] == [1, 1] and len(history["changes"]) == 1

    timeline = _admin(stack, "GET", f"/admin/v1/profiles/{lapsed_id}/timeline", limit="2").json()
    assert len(timeline["events"]) == 2 and timeline["next"]
    assert timeline["segment_history"][0]["segment_id"] == segment_id
    older = _admin(stack, "GET", f"/admin/v1/profiles/{lapsed_id}/timeline", before=timeline["next"]).json()
    assert older["events"] and older["events"][0]["timestamp"] <= timeline["events"][-1]["timestamp"]

    archived = _admin(stack, "DELETE", f"/admin/v1/segments/{segment_id}")
    assert archived.status_code == 200
    gone = stack.http.post(stack.url("/_local/schedules/run"), params={"name": segment_id}, timeout=60).json()
    assert gone["fired"] == []


def test_a_query_asked_to_run_as_a_job_answers_202_and_its_result_is_polled(stack: Stack) -> None:
    run = unique("job")
    _customer(stack, f"{run}-a", f"{run} 林小姐", order_days_ago=3, tags=[])
    rule = {"attribute": {"field": "traits.name", "op": "starts_with", "value": run}}
    at_once = _wait_for_archive(stack, rule, expected=1)
    assert at_once["count"] == 1  # a small archive answers at once

    asked = stack.http.post(
        stack.url("/admin/v1/segments/preview"),
        json={"rule": rule, "sample": 5},
        headers={**ADMIN, "Prefer": "respond-async"},
        timeout=60,
    )
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert job["status"] == "running" and job["status_url"] == f"/admin/v1/jobs/{job['job_id']}"
    deadline = time.monotonic() + 60
    while job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
        polled = _admin(stack, "GET", job["status_url"])
        assert polled.status_code == 200, polled.text
        job = polled.json()
    assert job["status"] == "done", job
    assert job["result"]["count"] == 1 and job["result"]["sample"] == at_once["sample"]

    missing = _admin(stack, "GET", "/admin/v1/jobs/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "job_not_found"
    assert missing.json()["request_id"]
