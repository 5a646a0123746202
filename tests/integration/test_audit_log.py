"""The audit log on DynamoDB (moto): paging newest first across days with filters, the TTL
attribute, the archive stream skipping it, and GET /admin/v1/audit through the admin function."""

from __future__ import annotations

import json
from typing import Any

from cdp.access.audit import AuditQuery, AuditRecord, Cursor
from cdp.adapters.dynamodb.archive_stream import archive_batch
from cdp.adapters.dynamodb.audit_log import MAX_READ, DynamoAuditLog

from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json

DAY_MS = 86_400_000
START_MS = 1_796_000_000_000  # 2026-11-30T00:53:20Z
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _record(index: int, at_ms: int, actor: str) -> AuditRecord:
    return AuditRecord(
        at_ms=at_ms,
        request_id=f"req-{index:04d}",
        action="write",
        method="PUT" if index % 2 else "POST",
        route="/admin/v1/segments/{id}" if index % 2 else "/admin/v1/segments",
        status=200,
        actor=actor,
        actor_kind="user",
        actor_role="admin",
        actor_name=f"{actor}@brand.example",
        targets={"id": f"s-{index % 5}"} if index % 2 else {},
        source_ip="203.0.113.10",
        user_agent="it",
    )


def _all_pages(log: DynamoAuditLog, query: AuditQuery) -> tuple[list[AuditRecord], int]:
    found: list[AuditRecord] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        page = log.page(query, cursor)
        pages += 1
        found.extend(page.records)
        if page.cursor is None:
            return found, pages
        cursor = Cursor.decode(page.cursor.encode())  # as a client sends it back


def test_pages_come_newest_first_across_days_without_gaps_or_repeats(stack: Stack) -> None:
    log = DynamoAuditLog(stack.client("dynamodb"), stack.core_table, retention_days=30)
    # 120 records over 4 days, two actors, some in the same millisecond (ordered by request id).
    records = [
        _record(i, START_MS + (i // 30) * DAY_MS + (i % 30) * 1000 * (i % 3), "bob" if i % 4 == 1 else "amy")
        for i in range(120)
    ]
    for record in records:
        log.record(record)
    everything = AuditQuery(from_ms=START_MS - DAY_MS, to_ms=START_MS + 5 * DAY_MS, limit=25)
    found, pages = _all_pages(log, everything)
    expected = sorted(records, key=lambda r: (r.at, r.request_id), reverse=True)
    assert [r.request_id for r in found] == [r.request_id for r in expected]
    assert pages >= 5

    bobs = AuditQuery(from_ms=START_MS - DAY_MS, to_ms=START_MS + 5 * DAY_MS, actor="bob", target="s-1", limit=7)
    found, _ = _all_pages(log, bobs)
    assert [r.request_id for r in found] == [r.request_id for r in expected if bobs.matches(r)]
    assert found and all(r.actor == "bob" and r.targets == {"id": "s-1"} for r in found)

    second_day = AuditQuery(from_ms=START_MS + DAY_MS, to_ms=START_MS + 2 * DAY_MS, limit=200)
    found, _ = _all_pages(log, second_day)
    assert [r.request_id for r in found] == [r.request_id for r in expected if second_day.matches(r)]


def test_a_page_reads_a_bounded_number_of_items_then_answers_a_cursor(stack: Stack) -> None:
    log = DynamoAuditLog(stack.client("dynamodb"), stack.core_table, retention_days=30)
    for i in range(MAX_READ + 20):
        log.record(_record(i, START_MS + i, "amy"))
    nobody = AuditQuery(from_ms=START_MS, to_ms=START_MS + DAY_MS, actor="nobody", limit=10)
    first = log.page(nobody, None)
    assert first.records == [] and first.cursor is not None
    rest = log.page(nobody, first.cursor)
    assert rest.records == []


def test_items_carry_the_ttl_and_the_archive_stream_skips_them(stack: Stack) -> None:
    log = DynamoAuditLog(stack.client("dynamodb"), stack.core_table, retention_days=30)
    log.record(_record(1, START_MS, "amy"))
    items = {item["pk"]["S"]: item for item in stack.scan(stack.core_table) if item["pk"]["S"].startswith("AUDIT#")}
    assert sorted(items) == ["AUDIT#2026-11-30", "AUDIT#DAYS"]
    item = items["AUDIT#2026-11-30"]
    assert int(item["expires_at"]["N"]) == START_MS // 1000 + 30 * 86400
    assert items["AUDIT#DAYS"]["sk"]["S"] == "2026-11-30"
    assert int(items["AUDIT#DAYS"]["expires_at"]["N"]) == START_MS // 1000 + 31 * 86400
    stream_record = {
        "eventName": "INSERT",
        "dynamodb": {"Keys": {"pk": item["pk"], "sk": item["sk"]}, "NewImage": item, "SequenceNumber": "1"},
    }
    batch = archive_batch([stream_record])
    assert batch.profiles == [] and batch.events == []


def _admin(stack: Stack, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = stack.invoke("admin_api", api_event(method, path, headers=BEARER, **kwargs))
    return response["statusCode"], response_json(response)


def test_admin_writes_are_listed_by_get_audit_with_filters(stack: Stack) -> None:
    rules = {"rules": {"email": {"verified_only": False}}}
    status, _ = _admin(stack, "PUT", "/admin/v1/identity/rules", body=json.dumps(rules))
    written = status
    missing, _ = _admin(
        stack,
        "DELETE",
        "/admin/v1/segments/seg-nope",
        resource="/admin/v1/segments/{id}",
        path_parameters={"id": "seg-nope"},
    )
    _admin(stack, "GET", "/admin/v1/identity/rules")  # a plain read: not recorded

    status, page = _admin(stack, "GET", "/admin/v1/audit")
    assert status == 200 and page["next"] is None and page["retention_days"] == 365
    assert [(r["method"], r["route"], r["status"]) for r in page["records"]] == [
        ("DELETE", "/admin/v1/segments/{id}", missing),
        ("PUT", "/admin/v1/identity/rules", written),
    ]
    newest = page["records"][0]
    assert newest["actor"] == {
        "subject": "bootstrap",
        "kind": "bootstrap",
        "role": "admin",
        "name": "bootstrap admin token",
    }
    assert newest["targets"] == {"id": "seg-nope"}
    assert (newest["source_ip"], newest["user_agent"]) == ("203.0.113.10", "integration-test")
    assert newest["request_id"]

    status, page = _admin(stack, "GET", "/admin/v1/audit", query={"target": "seg-nope", "limit": "1"})
    assert [r["method"] for r in page["records"]] == ["DELETE"]
    status, page = _admin(stack, "GET", "/admin/v1/audit", query={"action": "PUT /admin/v1/identity/rules"})
    assert [r["method"] for r in page["records"]] == ["PUT"]
    status, page = _admin(stack, "GET", "/admin/v1/audit", query={"actor": "u-nobody"})
    assert page["records"] == []
    status, body = _admin(stack, "GET", "/admin/v1/audit", query={"cursor": "forged"})
    assert (status, body["error"]) == (400, "invalid_cursor")
    status, body = _admin(stack, "GET", "/admin/v1/audit", query={"limit": "0"})
    assert (status, body["error"]) == (400, "invalid_limit")
