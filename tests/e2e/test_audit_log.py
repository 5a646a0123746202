"""The audit log over HTTP on the local stack: admin writes (successful and refused), downloads and
PII reveals are listed by GET /admin/v1/audit with who, what, when, from where and the request id;
plain reads and requests that never signed in are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "User-Agent": "audit-e2e/1.0"}


def admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return stack.http.request(
        method, stack.url(path), json=body, params=params, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS
    )


def audit(stack: Stack, **filters: str) -> list[dict[str, Any]]:
    """Every page of the filtered log, newest first."""
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        response = admin(stack, "GET", "/admin/v1/audit", **filters, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        records.extend(page["records"])
        cursor = page["next"]
        if cursor is None:
            return records


def test_writes_refusals_and_reveals_are_recorded_and_listed_newest_first(stack: Stack) -> None:
    segment_id = unique("audit").lower()
    rule = {"reachable": {"channel": "line"}}
    created = admin(stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": "Audited", "rule": rule})
    assert created.status_code == 201, created.text
    edited = admin(
        stack, "PUT", f"/admin/v1/segments/{segment_id}", {"name": "Audited twice", "rule": rule, "version": 1}
    )
    assert edited.status_code == 200, edited.text
    assert admin(stack, "GET", f"/admin/v1/segments/{segment_id}").status_code == 200  # a plain read
    refused = admin(stack, "PUT", f"/admin/v1/segments/{segment_id}", {"name": ""})
    assert refused.status_code == 400
    unsigned = stack.http.delete(stack.url(f"/admin/v1/segments/{segment_id}"), timeout=HTTP_TIMEOUT_SECONDS)
    assert unsigned.status_code == 401  # never signed in: not the log's business

    records = audit(stack, target=segment_id)
    assert [(r["method"], r["route"], r["status"]) for r in records] == [
        ("PUT", "/admin/v1/segments/{id}", 400),
        ("PUT", "/admin/v1/segments/{id}", 200),
    ]
    refusal = records[0]
    assert refusal["request_id"] == refused.json()["request_id"]
    assert refusal["actor"] == {
        "subject": "bootstrap",
        "kind": "bootstrap",
        "role": "admin",
        "name": "bootstrap admin token",
    }
    assert refusal["source_ip"] == "127.0.0.1" and refusal["user_agent"] == "audit-e2e/1.0"
    assert refusal["action"] == "write" and refusal["targets"] == {"id": segment_id}
    at = datetime.fromisoformat(refusal["at"].replace("Z", "+00:00"))
    assert abs(at - datetime.now(UTC)) < timedelta(minutes=5)

    creations = audit(stack, action="POST /admin/v1/segments", **{"from": records[-1]["at"][:10] + "T00:00:00Z"})
    assert any(r["status"] == 201 for r in creations)
    assert admin(stack, "DELETE", f"/admin/v1/segments/{segment_id}").status_code == 200
    assert [r["method"] for r in audit(stack, target=segment_id)][:1] == ["DELETE"]


def test_a_reveal_is_recorded_with_the_profile_it_showed(stack: Stack) -> None:
    member = unique("M")
    traits = {"email": f"{unique('reveal')}@example.com", "phone": "0912-000-111"}
    assert stack.segment("identify", {"userId": member, "traits": traits}).status_code == 200
    stack.drain()
    profile_id = stack.lookup("member_id", member)["profile_id"]
    shown = admin(stack, "GET", f"/admin/v1/profiles/{profile_id}", reveal="true")
    assert shown.status_code == 200
    # The bootstrap token is a machine: its answers are unmasked, asked or not
    assert shown.json()["traits"]["email"] == traits["email"]
    (record,) = audit(stack, target=profile_id, action="pii.reveal")
    assert (record["route"], record["status"], record["targets"]) == (
        "/admin/v1/profiles/{id}",
        200,
        {"id": profile_id},
    )
    assert audit(stack, target=profile_id, action="write") == []


def test_a_download_of_rejected_rows_is_recorded(stack: Stack) -> None:
    csv_file = f"member_id,phone\r\n{unique('csv')},0912-000-222\r\n,not-a-phone\r\n"
    headers = {**ADMIN, "Content-Type": "text/csv"}
    imported = stack.http.post(
        stack.url("/admin/v1/imports/members"), data=csv_file.encode(), headers=headers, timeout=HTTP_TIMEOUT_SECONDS
    )
    assert imported.status_code == 202, imported.text
    import_id = imported.json()["import_id"]
    stack.drain()
    rejected = stack.http.get(
        stack.url(f"/admin/v1/imports/{import_id}/rejected"),
        headers=ADMIN,
        allow_redirects=False,
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert rejected.status_code == 303, rejected.text
    records = audit(stack, target=import_id)
    assert [(r["action"], r["method"], r["route"], r["status"]) for r in records][:1] == [
        ("download", "GET", "/admin/v1/imports/{id}/rejected", 303)
    ]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "last week"}, "invalid_time"),
        ({"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, "invalid_time_range"),
        ({"action": "FETCH"}, "invalid_action"),
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"limit": "201"}, "invalid_limit"),
    ],
)
def test_bad_filters_answer_400_with_a_code(stack: Stack, params: dict[str, str], code: str) -> None:
    response = admin(stack, "GET", "/admin/v1/audit", **params)
    assert response.status_code == 400 and response.json()["error"] == code
