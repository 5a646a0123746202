"""A synced LINE audience over HTTP on the local stack: LINE friends of a segment are exported with
`"sync": true`, more people join, the segment's schedule fires, and the newcomers are in the same
LINE audience group (seen through the LINE fake); `"sync": false` stops it."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique
from tests.fixtures.line_events import follow, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ACCESS_TOKEN = "local-dev-access-token"  # infra.local.config's default channel access token
PROVIDER = "default"  # infra.local.config's channel, which is its own provider
FIRST, LATER = 52, 3


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=60)


def _settle(stack: Stack) -> None:
    """Drain, allowing a loaded machine more than one drain's 60 s."""
    for _ in range(4):
        response = stack.http.post(stack.url("/_local/drain"), timeout=90)
        if response.status_code == 200 and response.json()["drained"] is True:
            return
    raise AssertionError(f"the stack did not settle: {response.text}")


def _join(stack: Stack, run: str, users: list[str], start: int) -> None:
    """Name the people after the run (one /v1/batch call), then make them LINE friends (one delivery)."""
    batch = [
        {
            "type": "identify",
            "userId": f"{run}-{start + i}",
            "traits": {"name": f"{run} {start + i}"},
            "context": {"externalIds": [{"type": "line", "id": f"{PROVIDER}:{user}", "collection": "users"}]},
        }
        for i, user in enumerate(users)
    ]
    assert stack.segment("batch", {"batch": batch}).ok
    _settle(stack)
    base = int(time.time() * 1000)
    assert stack.line([follow(source=user_source(u), timestamp=base + i) for i, u in enumerate(users)]).ok
    _settle(stack)


def _wait_for_archive(stack: Stack, rule: dict[str, Any], expected: int) -> None:
    """The archive trails the table: poll the preview until it sees everyone."""
    deadline = time.monotonic() + 60
    while True:
        _settle(stack)
        preview = _admin(stack, "POST", "/admin/v1/segments/preview", {"rule": rule, "sample": 1})
        assert preview.status_code == 200, preview.text  # reading while the archive is written must work
        if preview.json()["count"] >= expected:
            return
        assert time.monotonic() < deadline, preview.text
        time.sleep(0.5)


def _group(stack: Stack, group_id: int) -> dict[str, Any]:
    line_api_url = stack.http.get(stack.url("/_local/status"), timeout=10).json()["line_api_url"]
    found = stack.http.get(
        f"{line_api_url}/v2/bot/audienceGroup/{group_id}",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=10,
    )
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def _fire(stack: Stack, segment_id: str) -> dict[str, Any]:
    fired = stack.http.post(stack.url("/_local/schedules/run"), params={"name": segment_id}, timeout=120).json()
    [run_result] = fired["fired"]
    assert run_result["error"] is None, json.dumps(run_result, indent=1)
    result: dict[str, Any] = run_result["result"]
    return result


def test_newcomers_are_added_to_the_synced_line_audience_after_the_recompute(stack: Stack) -> None:
    run = unique("sync")
    segment_id = run.lower()
    rule = {
        "and": [
            {"reachable": {"channel": "line"}},
            {"attribute": {"field": "traits.name", "op": "starts_with", "value": run}},
        ]
    }
    created = _admin(stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": "LINE friends", "rule": rule})
    assert created.status_code == 201, created.text
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s

    first = [f"U{uuid.uuid4().hex}" for _ in range(FIRST)]
    _join(stack, run, first, 0)
    exported = _admin(
        stack, "POST", f"/admin/v1/segments/{segment_id}/exports/line-audience", {"sync": True, "description": run}
    )
    assert exported.status_code == 201, exported.text
    record = exported.json()
    group_id = record["audienceGroupId"]
    assert record["uploaded"] == FIRST and record["sync"]["audienceGroupId"] == group_id
    assert _group(stack, group_id)["audienceGroup"]["audienceCount"] == FIRST

    later = [f"U{uuid.uuid4().hex}" for _ in range(LATER)]
    _join(stack, run, later, FIRST)
    _wait_for_archive(stack, rule, FIRST + LATER)

    result = _fire(stack, segment_id)

    [report] = result["reports"]
    assert report["members_after"] == FIRST + LATER and report["exited"] == 0, report
    [synced] = result["audience_syncs"]
    assert synced["mode"] == "add" and synced["audience_group_id"] == group_id, synced
    assert synced["added"] >= LATER and synced["error"] is None  # entrants just before the export are re-sent
    group = _group(stack, group_id)
    assert group["audienceGroup"]["audienceCount"] == FIRST + LATER
    assert [(job["type"], job["audienceCount"]) for job in group["jobs"]] == [("DIFF_ADD", LATER)]

    stopped = _admin(stack, "POST", f"/admin/v1/segments/{segment_id}/exports/line-audience", {"sync": False})
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["stopped"]["audienceGroupId"] == group_id
    assert stopped.json()["stopped"]["lastRun"]["mode"] == "add"
    assert _fire(stack, segment_id)["audience_syncs"] == []
