"""Segment exports over HTTP on the local stack: LINE friends become a LINE audience; a hashed CSV download."""

from __future__ import annotations

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
FRIENDS = 52


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=60)


def test_line_friends_of_a_segment_are_exported_as_a_line_audience(stack: Stack) -> None:
    segment_id = unique("friends").lower()
    created = _admin(
        stack,
        "POST",
        "/admin/v1/segments",
        {"id": segment_id, "name": "LINE friends", "rule": {"reachable": {"channel": "line"}}},
    )
    assert created.status_code == 201, created.text
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s

    users = [f"U{uuid.uuid4().hex}" for _ in range(FRIENDS)]
    base = int(time.time() * 1000)
    events = [follow(source=user_source(user), timestamp=base + i) for i, user in enumerate(users)]
    assert stack.line(events).status_code == 200
    stack.drain()

    exported = _admin(stack, "POST", f"/admin/v1/segments/{segment_id}/exports/line-audience", {"description": "e2e"})
    assert exported.status_code == 201, exported.text
    record = exported.json()
    assert record["uploaded"] >= FRIENDS and record["members"] >= FRIENDS  # other tests' friends may be in too

    line_api_url = stack.http.get(stack.url("/_local/status"), timeout=10).json()["line_api_url"]
    group = stack.http.get(
        f"{line_api_url}/v2/bot/audienceGroup/{record['audienceGroupId']}",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=10,
    )
    assert group.status_code == 200, group.text
    assert group.json()["audienceGroup"]["audienceCount"] == record["uploaded"]

    csv_export = _admin(stack, "POST", f"/admin/v1/segments/{segment_id}/exports/hashed-csv")
    assert csv_export.status_code == 201, csv_export.text
    download = requests.get(csv_export.json()["url"], timeout=10)
    assert download.status_code == 200 and download.text.startswith("email_sha256,phone_sha256")


def test_a_segment_with_too_few_line_friends_is_refused(stack: Stack) -> None:
    segment_id = unique("nobody").lower()
    rule = {"attribute": {"field": "traits.no_such_trait", "op": "eq", "value": segment_id}}
    assert (
        _admin(stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": "none", "rule": rule}).status_code == 201
    )
    refused = _admin(stack, "POST", f"/admin/v1/segments/{segment_id}/exports/line-audience", {})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "audience_too_small"
    assert refused.json()["details"] == {"count": 0, "minimum": 50, "members": 0}
