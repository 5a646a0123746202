"""Export (right of access) on the local stack: Amy of scenario S1, with her store, web and LINE
data joined by two merges, exported through the admin API; the files downloaded from their links."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, LINE_CHANNEL, Stack, now_ms, unique
from tests.e2e.test_scenario_s1 import STORE, _link, _phone
from tests.fixtures.line_events import follow, text_message, user_id, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _amy(stack: Stack) -> dict[str, Any]:
    """S1 steps 1-4: the POS member, her web browsing (merged at login) and her LINE friend
    (merged by the account link)."""
    member, (phone, _) = unique("M1"), _phone()
    email, browser, u1 = f"{unique('amy')}@example.com", unique("browser"), user_id(unique("s1-u1"))
    identify = {"userId": member, "traits": {"name": "Amy Chen", "phone": phone}, "context": STORE}
    assert stack.segment("identify", identify).status_code == 200
    order = {"userId": member, "event": "Order Completed", "properties": {"revenue": 5000}, "context": STORE}
    assert stack.segment("track", order).status_code == 200
    stack.drain()
    assert stack.segment("page", {"anonymousId": browser, "name": "New Arrivals"}).status_code == 200
    stack.drain()
    assert stack.segment("identify", {"userId": member, "anonymousId": browser, "traits": {"email": email}}).status_code == 200  # fmt: skip
    stack.drain()
    start = now_ms()
    followed = stack.line(
        [
            follow(source=user_source(u1), timestamp=start),
            text_message("請問有新品嗎？", source=user_source(u1), timestamp=start + 1500),
        ]
    )
    assert followed.status_code == 200
    stack.drain()
    friend = stack.lookup("line", u1)["profile_id"]
    linked = _link(stack, u1, member)
    assert stack.line([linked]).status_code == 200
    stack.drain()
    amy = stack.lookup("line", u1)
    assert amy["profile_id"] != friend
    return {"profile": amy, "friend": friend, "member": member, "email": email, "line": f"{LINE_CHANNEL}:{u1}"}


def _export(stack: Stack, profile_id: str, key: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    path = stack.url(f"/admin/v1/profiles/{profile_id}/export")
    job = stack.http.post(path, headers={**ADMIN, "Idempotency-Key": key}, timeout=30)
    assert job.status_code == 202, job.text
    again = stack.http.post(path, headers={**ADMIN, "Idempotency-Key": key}, timeout=30)
    assert (again.status_code, again.json()["job_id"]) == (200, job.json()["job_id"])
    view: dict[str, Any] = job.json()
    for _ in range(120):
        view = stack.http.get(stack.url(view["status_url"]), headers=ADMIN, timeout=30).json()
        if view["status"] != "running":
            break
        time.sleep(0.25)
    return view, time.monotonic() - started


def test_amy_exported_lists_her_store_web_and_line_data_and_both_merges(stack: Stack) -> None:
    amy = _amy(stack)
    profile_id = amy["profile"]["profile_id"]

    # she agrees to email under the text of December, through the admin API
    consent = {"channel": "email", "granted": True, "textVersion": "2026-12"}
    recorded = stack.http.post(stack.url(f"/admin/v1/profiles/{profile_id}/consent"), json=consent, headers=ADMIN)
    assert recorded.status_code == 202, recorded.text
    stack.drain()
    history = stack.http.get(stack.url(f"/admin/v1/profiles/{amy['friend']}/consent"), headers=ADMIN).json()
    assert history["profile_id"] == profile_id
    assert [(h["key"], h["granted"], h["text_version"], h["source"]) for h in history["history"]] == [
        ("email:marketing", True, "2026-12", "partner:admin-consent")
    ]

    # an export asked for by the LINE friend's old id is Amy's whole person
    view, seconds = _export(stack, amy["friend"], unique("export"))

    assert view["status"] == "done", view
    assert view["profile_id"] == profile_id
    print(f"export of Amy: {seconds:.2f} s, {view['counts']}")
    document = requests.get(view["files"]["json"]["url"], timeout=10).json()
    timeline = document["timeline"]
    assert {e["channel"] for e in timeline} >= {"pos", "web", "line"}
    assert {"Order Completed", "LINE Followed", "LINE Message Received", "LINE Account Linked"} <= {
        e.get("event") for e in timeline
    }
    assert any(e["type"] == "page" for e in timeline)
    identifiers = {(i["type"], i["value"]) for i in document["identifiers"]}
    assert {("member_id", amy["member"]), ("email", amy["email"]), ("line", amy["line"])} <= identifiers
    assert {m["status"] for m in document["merges"]} == {"merged"} and len(document["merges"]) == 2
    assert amy["friend"] in {m["loser"] for m in document["merges"]}
    assert len(document["raw_events"]) == len(timeline)  # all within their TTL
    assert document["consent"]["history"] == history["history"]
    assert document["profile"]["line"]["status"] == "friend"
    table = requests.get(view["files"]["csv"]["url"], timeout=10)
    assert table.status_code == 200 and table.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.content.decode("utf-8-sig"))))
    assert [row["event_id"] for row in rows] == [e["eventId"] for e in timeline]

    missing = stack.http.post(stack.url("/admin/v1/profiles/p_nobody/export"), headers=ADMIN, timeout=30)
    assert (missing.status_code, missing.json()["error"]) == (404, "profile_not_found")
