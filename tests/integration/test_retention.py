"""Retention on moto: the settings through the admin API, and the daily job's function deleting
timeline entries, send records, audit rows and files past retention (every AWS call it makes is
checked against its role in the synthesized nested stack)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cdp.adapters.dynamodb.retention import AuditLogSweeper, CoreTableSweeper, DynamoRetentionStore
from cdp.adapters.dynamodb.send_ledger import RECORD_KEEP_SECONDS
from cdp.adapters.s3_retention import S3PrefixSweeper
from cdp.clock import SystemClock, install_time_source, iso_from_ms
from cdp.privacy.retention_job import RetentionJob
from cdp.settings import ENV_IMPORTS_BUCKET

from infra.cdp_infra.routes import PRIVACY_RETENTION
from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
PATH = "/admin/v1/privacy/retention"
DAY_MS = 86_400_000
AHEAD_DAYS = 40  # the virtual clock runs this far ahead, so files written now are 40 days old


def call(stack: Stack, method: str, body: Any = None) -> tuple[int, Any]:
    event = api_event(method, PATH, headers=BEARER, body=json.dumps(body) if body is not None else None)
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


@pytest.fixture
def job_stack(stack: Stack) -> Iterator[Stack]:
    stack.runtime.module(PRIVACY_RETENTION).build.cache_clear()
    yield stack
    stack.runtime.module(PRIVACY_RETENTION).build.cache_clear()


@pytest.fixture
def ahead() -> Iterator[int]:
    """The clock port 40 days ahead of the machine (S3 stamps LastModified with the machine's)."""
    now_ms = time.time_ns() // 1_000_000 + AHEAD_DAYS * DAY_MS
    previous = install_time_source(lambda: now_ms)
    yield now_ms
    install_time_source(previous)


def test_settings_answer_every_kind_and_change_with_compare_and_set(stack: Stack) -> None:
    status, answer = call(stack, "GET")
    assert status == 200, answer
    assert (answer["version"], answer["runs"]) == (0, [])
    assert answer["kinds"]["raw_events"]["days"] == int(stack.env("admin_api", "CDP_RAW_EVENT_TTL_DAYS"))
    assert answer["kinds"]["timeline"] | {"days": 730, "mechanism": "scheduled_job"} == answer["kinds"]["timeline"]

    status, saved = call(stack, "PUT", {"version": 0, "days": {"timeline": 400, "exports": 3}})
    assert status == 200, saved
    assert saved["version"] == 1 and saved["kinds"]["timeline"]["days"] == 400
    assert saved["kinds"]["archive"]["days"] == 400 and saved["kinds"]["exports"]["days"] == 3
    assert call(stack, "GET")[1]["kinds"]["exports"]["days"] == 3

    status, error = call(stack, "PUT", {"version": 0, "days": {"timeline": 500}})
    assert (status, error["error"]) == (409, "retention_version_conflict")
    for body, code, field in [
        ({"version": 1, "days": {"timeline": 30}}, "retention_out_of_bounds", "days.timeline"),
        ({"version": 1, "days": {"raw_events": 10}}, "retention_not_configurable", "days.raw_events"),
        ({"version": 1, "days": {"nope": 10}}, "unknown_data_kind", "days.nope"),
        ({"version": 1, "days": {"exports": "3"}}, "invalid_retention_days", "days.exports"),
        ({"version": 1, "days": {}}, "invalid_retention_days", "days"),
    ]:
        status, error = call(stack, "PUT", body)
        assert (status, error["error"], error["details"]["field"]) == (400, code, field), body
    for body, code in [
        ({"version": 1}, "invalid_retention_days"),
        ({"version": 1, "days": [1]}, "invalid_retention_days"),
        ({"version": 1, "days": {"exports": 3}, "colour": 1}, "unknown_retention_field"),
    ]:
        status, error = call(stack, "PUT", body)
        assert (status, error["error"]) == (400, code), body
    assert call(stack, "GET")[1]["version"] == 1  # nothing bad was saved


def put(stack: Stack, item: dict[str, str | int]) -> None:
    stack.client("dynamodb").put_item(
        TableName=stack.core_table,
        Item={key: ({"N": str(value)} if isinstance(value, int) else {"S": value}) for key, value in item.items()},
    )


def timeline_sk(at_ms: int, event_id: str) -> str:
    return f"EVENT#{iso_from_ms(at_ms)}#{event_id}"


def seed(stack: Stack, now_ms: int) -> None:
    put(stack, {"pk": "PROFILE#p1", "sk": "PROFILE", "doc": "{}"})
    put(stack, {"pk": "PROFILE#p1", "sk": timeline_sk(now_ms - 800 * DAY_MS, "old")})
    put(stack, {"pk": "PROFILE#p1", "sk": timeline_sk(now_ms - 100 * DAY_MS, "recent")})
    for key, age_days in (("old-send", 100), ("new-send", 5)):
        at_s = (now_ms - age_days * DAY_MS) // 1000
        put(stack, {"pk": f"SEND#{key}", "sk": "SEND", "expires_at": at_s + RECORD_KEEP_SECONDS})
    put(
        stack, {"pk": "SENDBATCH#b1", "sk": "BATCH", "expires_at": (now_ms - 50 * DAY_MS) // 1000 + RECORD_KEEP_SECONDS}
    )
    for age_days, request in ((400, "r-old"), (10, "r-new")):
        at = iso_from_ms(now_ms - age_days * DAY_MS)
        put(stack, {"pk": f"AUDIT#{at[:10]}", "sk": f"{at}#{request}", "at_ms": now_ms - age_days * DAY_MS})
        put(stack, {"pk": "AUDIT#DAYS", "sk": at[:10]})  # the audit log's index of days with rows
    bucket = stack.env(PRIVACY_RETENTION, ENV_IMPORTS_BUCKET)
    for key in ("exports/segments/s1/2026.csv", "imports/i1/rejected.csv", "imports/i1/upload.csv"):
        stack.client("s3").put_object(Bucket=bucket, Key=key, Body=b"x")


def core_keys(stack: Stack) -> set[tuple[str, str]]:
    return {(item["pk"]["S"], item["sk"]["S"]) for item in stack.scan(stack.core_table)}


def test_the_job_deletes_what_is_past_retention_and_the_report_shows_it(job_stack: Stack, ahead: int) -> None:
    stack = job_stack
    seed(stack, ahead)
    assert call(stack, "PUT", {"version": 0, "days": {"send_records": 60, "import_files": 30}})[0] == 200

    answer = stack.invoke(PRIVACY_RETENTION, {})
    assert answer["status"] == "finished", answer
    kinds = answer["kinds"]
    assert {kind: kinds[kind]["removed"] for kind in kinds} == {
        "audit_log": 1,
        "exports": 1,
        "import_files": 2,
        "timeline": 1,
        "send_records": 1,
    }
    assert kinds["timeline"]["oldest_kept"] == iso_from_ms(ahead - 100 * DAY_MS)
    assert kinds["send_records"]["cutoff"] == iso_from_ms(ahead - 60 * DAY_MS)
    keys = core_keys(stack)
    assert ("PROFILE#p1", "PROFILE") in keys  # the profile document stays
    assert ("PROFILE#p1", timeline_sk(ahead - 100 * DAY_MS, "recent")) in keys
    assert ("PROFILE#p1", timeline_sk(ahead - 800 * DAY_MS, "old")) not in keys
    recent_day, old_day = iso_from_ms(ahead - 10 * DAY_MS)[:10], iso_from_ms(ahead - 400 * DAY_MS)[:10]
    assert {key for key in keys if key[0].startswith("SEND")} == {("SEND#new-send", "SEND"), ("SENDBATCH#b1", "BATCH")}
    # (The admin writes of this test are audited too: today's rows are not the seeded ones.)
    assert (f"AUDIT#{recent_day}", f"{iso_from_ms(ahead - 10 * DAY_MS)}#r-new") in keys
    assert ("AUDIT#DAYS", recent_day) in keys
    assert not {key for key in keys if old_day in key[0] or key == ("AUDIT#DAYS", old_day)}
    assert kinds["audit_log"]["oldest_kept"] == iso_from_ms(ahead - 10 * DAY_MS)
    bucket = stack.env(PRIVACY_RETENTION, ENV_IMPORTS_BUCKET)
    assert stack.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    # The same day again: nothing more is done; the report lists the run.
    assert stack.invoke(PRIVACY_RETENTION, {}) == answer
    status, report = call(stack, "GET")
    assert status == 200 and report["runs"] == [answer]


def test_a_run_in_small_pages_resumes_across_invocations(stack: Stack, ahead: int) -> None:
    ddb = stack.client("dynamodb")
    for number in range(7):
        put(stack, {"pk": f"PROFILE#p{number}", "sk": timeline_sk(ahead - (700 + 10 * number) * DAY_MS, f"e{number}")})
    bucket = stack.env(PRIVACY_RETENTION, ENV_IMPORTS_BUCKET)
    for number in range(5):
        stack.client("s3").put_object(Bucket=bucket, Key=f"exports/segments/s/{number}.csv", Body=b"x")
    store = DynamoRetentionStore(ddb, stack.core_table)
    sweepers = [
        S3PrefixSweeper(stack.client("s3"), bucket, "exports/", "exports", page_keys=2),
        CoreTableSweeper(ddb, stack.core_table, page_items=2),
    ]
    invocations = 0
    run = None
    while run is None or not run.finished:
        run = RetentionJob(store, sweepers, SystemClock(), raw_event_ttl_days=30).run(lambda: 0)
        invocations += 1
        assert invocations < 20
    assert invocations >= 7  # one page per invocation: 3 listing pages, 4 scan pages
    assert run.kinds["exports"].removed == 5
    # 700..760 days: the ones older than 730 (740, 750, 760) go.
    assert run.kinds["timeline"].removed == 3
    assert run.kinds["timeline"].oldest_kept_ms == ahead - 730 * DAY_MS  # exactly at the cutoff: kept
    assert len([key for key in core_keys(stack) if key[1].startswith("EVENT#")]) == 4
    assert store.recent_runs(1)[0].as_dict() == run.as_dict()
    assert datetime.fromisoformat(run.kinds["timeline"].cutoff.replace("Z", "+00:00")) == datetime.fromtimestamp(
        (ahead - 730 * DAY_MS) / 1000, tz=UTC
    )


def test_the_audit_log_is_swept_a_page_of_days_at_a_time(stack: Stack, ahead: int) -> None:
    for age_days in (500, 450, 400, 366, 365, 364, 3):
        at = iso_from_ms(ahead - age_days * DAY_MS)
        put(stack, {"pk": f"AUDIT#{at[:10]}", "sk": f"{at}#r{age_days}"})
        put(stack, {"pk": "AUDIT#DAYS", "sk": at[:10]})
    ddb = stack.client("dynamodb")
    sweeper = AuditLogSweeper(ddb, stack.core_table, days_per_page=2)
    store = DynamoRetentionStore(ddb, stack.core_table)
    runs = 0
    run = None
    while run is None or not run.finished:
        run = RetentionJob(store, [sweeper], SystemClock(), raw_event_ttl_days=30).run(lambda: 0)
        runs += 1
    assert runs == 3  # days up to the cutoff's, two a page
    assert run.kinds["audit_log"].removed == 4 and run.kinds["audit_log"].oldest_kept_ms == ahead - 365 * DAY_MS
    left = sorted(sk for pk, sk in core_keys(stack) if pk == "AUDIT#DAYS")
    assert left == sorted(iso_from_ms(ahead - days * DAY_MS)[:10] for days in (365, 364, 3))
