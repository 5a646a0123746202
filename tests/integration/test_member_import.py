"""Member CSV import on moto: admin API upload -> worker -> raw events, progress, rejected rows, reruns."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from botocore.awsrequest import AWSResponse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.imports import DynamoImportStore
from cdp.adapters.lambda_invoke import LambdaImportStarter
from cdp.events.raw import partner_event_id
from cdp.imports.model import ChunkCommit, ScanCheckpoint
from cdp.imports.uploads import MAX_BODY_BYTES, MAX_INLINE_BODY_BYTES
from cdp.settings import ENV_MEMBER_IMPORT_FUNCTION

from infra.local import aws_calls
from infra.local.lambda_runtime import LambdaContext
from tests.integration.conftest import ADMIN_TOKEN, RawStream, Stack, api_event, response_json

CSV_TEXT = (
    "\ufeff會員編號,手機,Email,姓名,生日,門市,consent_line,consent_email,consent_sms\r\n"
    "IT-M001,0912-345-601,amy@example.com,林小美,1990/05/07,台北信義店,是,yes,0\r\n"
    ",0912345602,,No Id,,,,,\r\n"
    'IT-M003,12345,bob@example.com,"Chen, Bob",,,,,\r\n'
    "IT-M001,0912345605,,Duplicate,,,,,\r\n"
    "IT-M005,0912345606,,王大明,2030-01-01,S2,n,,\r\n"
)


@dataclass
class StartCalls:
    calls: list[tuple[str, str]]  # (function, import id)


@pytest.fixture
def started(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[StartCalls]:
    """Record worker starts instead of invoking Lambda: each test runs the worker itself."""
    recorded = StartCalls([])

    def start(self: LambdaImportStarter, import_id: str) -> None:
        recorded.calls.append((self._function, import_id))

    monkeypatch.setattr(LambdaImportStarter, "start", start)
    build = stack.runtime.module("member_import").build
    build.cache_clear()  # a warm worker from another test holds clients of another moto account
    yield recorded
    build.cache_clear()


class CountdownContext(LambdaContext):
    """A Lambda context whose remaining time runs out after `checks` calls."""

    def __init__(self, checks: int) -> None:
        super().__init__(function_name="cdp-local-member_import", timeout_seconds=900)
        self.left = checks

    def get_remaining_time_in_millis(self) -> int:
        self.left -= 1
        return 600_000 if self.left >= 0 else 5_000


def admin(
    stack: Stack,
    method: str,
    path: str,
    *,
    resource: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    event = api_event(
        method,
        path,
        resource=resource,
        body=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", **(headers or {})},
        path_parameters=path_parameters,
    )
    response: dict[str, Any] = stack.invoke("admin_api", event)
    return response


def response_header(response: dict[str, Any], name: str) -> str:
    """Powertools answers REST proxy events with multiValueHeaders."""
    values = (response.get("multiValueHeaders") or {}).get(name) or [(response.get("headers") or {}).get(name)]
    return str(values[0])


def upload(stack: Stack, body: bytes, content_type: str = "text/csv; charset=utf-8", **headers: str) -> dict[str, Any]:
    return admin(
        stack,
        "POST",
        "/admin/v1/imports/members",
        resource="/admin/v1/imports/members",
        body=body,
        headers={"Content-Type": content_type, **headers},
    )


def status(stack: Stack, import_id: str) -> dict[str, Any]:
    response = admin(
        stack,
        "GET",
        f"/admin/v1/imports/{import_id}",
        resource="/admin/v1/imports/{id}",
        path_parameters={"id": import_id},
    )
    assert response["statusCode"] == 200, response
    body: dict[str, Any] = response_json(response)
    return body


def run_worker(stack: Stack, import_id: str, context: LambdaContext | None = None) -> dict[str, Any]:
    handler = stack.runtime.module("member_import").lambda_handler
    result: dict[str, Any] = handler({"importId": import_id}, context or LambdaContext(function_name="worker"))
    return result


def import_items(stack: Stack, import_id: str) -> dict[str, dict[str, Any]]:
    return {pk: item for pk, item in stack.raw_items().items() if f"#{import_id}:" in pk}


def test_upload_runs_to_completion_with_events_progress_and_rejected_rows(
    stack: Stack, started: StartCalls, raw_stream: RawStream
) -> None:
    # Given a CSV with good rows, a row without member_id, a bad phone, a duplicate and a future birthday
    response = upload(stack, CSV_TEXT.encode())
    # Then the upload is accepted for processing and the worker is started
    assert response["statusCode"] == 202, response
    accepted = response_json(response)
    import_id = accepted["import_id"]
    assert (accepted["status"], accepted["rows_total"]) == ("queued", 5)
    assert response_header(response, "Location") == f"/admin/v1/imports/{import_id}"
    worker_arn = stack.env("admin_api", ENV_MEMBER_IMPORT_FUNCTION)
    assert started.calls == [(worker_arn, import_id)]
    assert worker_arn.endswith(":function:cdp-local-member_import")

    # When the worker runs
    outcome = run_worker(stack, import_id)
    assert (outcome["status"], outcome["rows_done"], outcome["continued"]) == ("completed", 5, False)

    # Then the status says what happened
    done = status(stack, import_id)
    assert done["status"] == "completed"
    assert (done["rows_total"], done["rows_done"], done["rows_accepted"]) == (5, 5, 3)
    assert (done["rows_rejected"], done["rows_with_warnings"]) == (2, 2)
    assert done["progress"] == 1.0
    assert done["columns"]["member_id"] == "會員編號"
    assert done["rejected_rows_url"] == f"/admin/v1/imports/{import_id}/rejected"

    # And every good row is one raw identify event, stamped with the import's time
    items = import_items(stack, import_id)
    assert set(items) == {partner_event_id("member-import", f"{import_id}:{row}") for row in (2, 4, 6)}
    first = items[partner_event_id("member-import", f"{import_id}:2")]
    assert (first["origin"]["S"], first["source"]["S"]) == ("partner", "member-import")
    assert first["received_at"]["S"] == done["created_at"]
    payload = json.loads(first["payload"]["S"])
    assert payload["userId"] == "IT-M001"
    assert payload["traits"] == {
        "phone": "+886912345601",
        "email": "amy@example.com",
        "name": "林小美",
        "birthday": "1990-05-07",
        "store": "台北信義店",
    }
    assert payload["context"]["consent"] == {"line:marketing": True, "email:marketing": True, "sms:marketing": False}
    assert payload["context"]["import"] == {"id": import_id, "row": 2}

    # And the rejected rows download through a presigned URL
    response = admin(
        stack,
        "GET",
        f"/admin/v1/imports/{import_id}/rejected",
        resource="/admin/v1/imports/{id}/rejected",
        path_parameters={"id": import_id},
    )
    assert response["statusCode"] == 303, response
    location = response_header(response, "Location")
    assert response_json(response)["url"] == location
    assert f"imports/{import_id}/rejected.csv" in location and "X-Amz-Signature" in location
    download = requests.get(location, timeout=10)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == f'attachment; filename="{import_id}-rejected.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["row", "outcome", "reasons", "details", *CSV_TEXT.splitlines()[0].lstrip("\ufeff").split(",")]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [
        ("3", "rejected", "missing_member_id"),
        ("4", "accepted_with_warnings", "invalid_phone"),
        ("5", "rejected", "duplicate_member_id_in_file"),
        ("6", "accepted_with_warnings", "invalid_birthday"),
    ]
    assert rows[2][4:6] == ["IT-M003", "12345"]

    # And the event processor turns the identify into a profile readable through the admin API
    processed = stack.invoke("event_processor", {"Records": raw_stream.new_records()})
    assert processed["batchItemFailures"] == []
    event = api_event(
        "GET",
        "/admin/v1/profiles/lookup",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        query={"type": "phone", "value": "0912345601"},
    )
    profile = response_json(stack.invoke("admin_api", event))
    assert profile["traits"]["name"] == "林小美"
    assert {i["type"]: i["value"] for i in profile["identifiers"]}["member_id"] == "IT-M001"


def test_a_long_file_continues_across_invocations_and_reruns_never_double_count(
    stack: Stack, started: StartCalls
) -> None:
    # Given 1,200 rows (three chunks of 500), every tenth one without a member_id
    lines = ["member_id,phone,name"]
    for i in range(1200):
        lines.append(f"{'' if i % 10 == 0 else f'IT-L{i:05d}'},09{10000000 + i:08d},Member {i}")
    import_id = response_json(upload(stack, "\n".join(lines).encode()))["import_id"]

    # When the first invocation has time for one chunk only
    first = run_worker(stack, import_id, CountdownContext(checks=1))
    # Then it commits that chunk and asks for a fresh invocation of itself
    assert (first["status"], first["continued"], first["chunks"], first["rows_done"]) == ("running", True, 1, 500)
    continuation = started.calls[-1]
    assert continuation == (LambdaContext(function_name="cdp-local-member_import").invoked_function_arn, import_id)
    middle = status(stack, import_id)
    assert (middle["status"], middle["rows_done"], middle["rows_rejected"], middle["progress"]) == (
        "running",
        500,
        50,
        round(500 / 1200, 4),
    )
    assert len(import_items(stack, import_id)) == 450

    # When the continuation runs (from the checkpoint), and then a duplicate delivery of it
    second = run_worker(stack, import_id, CountdownContext(checks=100))
    again = run_worker(stack, import_id)
    # Then the import completes once, with exact counts
    assert (second["status"], second["chunks"]) == ("completed", 2)
    assert (again["status"], again["chunks"]) == ("completed", 0)
    done = status(stack, import_id)
    assert (done["rows_done"], done["rows_accepted"], done["rows_rejected"]) == (1200, 1080, 120)
    items = import_items(stack, import_id)
    assert len(items) == 1080
    assert {json.loads(item["payload"]["S"])["traits"]["name"] for item in items.values()} >= {
        "Member 1",
        "Member 1199",
    }


def test_a_chunk_committed_twice_on_dynamodb_counts_once(stack: Stack, started: StartCalls) -> None:
    import_id = response_json(upload(stack, b"member_id\nIT-A\nIT-B\n"))["import_id"]
    store = DynamoImportStore(client("dynamodb"), stack.core_table)
    assert store.transition(import_id, expected="queued", status="running", now="2026-11-23T00:00:00.000Z")
    record = store.get(import_id)
    assert record is not None and record.next_row is None
    scan = ScanCheckpoint(
        rows_total=2, header=("member_id",), next_row=2, byte_offset=10, duplicates_key=None, details={}
    )
    assert store.save_scan(import_id, scan, "2026-11-23T00:00:01.000Z")
    assert not store.save_scan(import_id, scan, "2026-11-23T00:00:02.000Z")  # once
    commit = ChunkCommit(
        start_row=2, next_row=4, byte_offset=20, accepted=1, rejected=1, with_warnings=0, wrote_part=True
    )
    assert store.commit_chunk(import_id, commit, "2026-11-23T00:00:03.000Z")
    assert not store.commit_chunk(import_id, commit, "2026-11-23T00:00:04.000Z")
    assert not store.finish(import_id, status="completed", now="2026-11-23T00:00:05.000Z", at_row=2)
    assert store.finish(import_id, status="completed", now="2026-11-23T00:00:05.000Z", at_row=4)
    final = store.get(import_id)
    assert final is not None
    assert (final.status, final.rows_done, final.rows_accepted, final.rows_rejected) == ("completed", 2, 1, 1)
    assert (final.next_row, final.byte_offset, final.issue_parts, final.scanned) == (4, 20, (2,), True)
    assert not store.commit_chunk(import_id, commit, "2026-11-23T00:00:06.000Z")  # finished: no more writes


def test_a_gzip_body_is_accepted(stack: Stack, started: StartCalls) -> None:
    response = upload(stack, gzip.compress(CSV_TEXT.encode()), **{"Content-Encoding": "gzip"})
    assert response["statusCode"] == 202, response
    import_id = response_json(response)["import_id"]
    assert run_worker(stack, import_id)["status"] == "completed"
    assert status(stack, import_id)["rows_accepted"] == 3


def test_a_body_too_big_to_hold_is_refused_with_a_pointer_to_the_presigned_upload(
    stack: Stack, started: StartCalls
) -> None:
    body = gzip.compress(b"member_id\n" + b"M1\n" * (9 * 1024 * 1024))  # ~27 MB once decompressed
    response = upload(stack, body, **{"Content-Encoding": "gzip"})
    assert response["statusCode"] == 413, response
    error = response_json(response)
    assert error["error"] == "file_too_large"
    assert "presigned" in error["message"]
    assert started.calls == []


def test_an_inline_body_over_what_lambda_accepts_is_413_with_a_pointer_to_the_presigned_upload(
    stack: Stack, started: StartCalls
) -> None:
    # Under the 25 MB decompressed limit, but over what a 6 MB Lambda request holds once base64-encoded
    rows = (MAX_INLINE_BODY_BYTES // 12) + 1
    body = b"member_id\n" + b"".join(b"M%010d\n" % row for row in range(rows))
    assert MAX_INLINE_BODY_BYTES < len(body) < MAX_BODY_BYTES

    response = upload(stack, body)

    assert response["statusCode"] == 413, response
    error = response_json(response)
    assert error["error"] == "inline_upload_too_large"
    assert '{"upload": "presigned"}' in error["message"]
    assert error["details"]["limit_bytes"] == MAX_INLINE_BODY_BYTES
    assert started.calls == []
    # the limit is what fits in Lambda's 6 MB request once base64-encoded, with room for headers
    assert (MAX_INLINE_BODY_BYTES + 2) // 3 * 4 + 64 * 1024 <= 6 * 1024 * 1024


def test_the_two_step_presigned_upload(stack: Stack, started: StartCalls) -> None:
    response = admin(
        stack,
        "POST",
        "/admin/v1/imports/members",
        resource="/admin/v1/imports/members",
        body=json.dumps({"upload": "presigned"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response["statusCode"] == 201, response
    created = response_json(response)
    import_id = created["import_id"]
    assert created["status"] == "awaiting_upload"
    assert created["start_url"] == f"/admin/v1/imports/{import_id}/start"
    start_path = {"resource": "/admin/v1/imports/{id}/start", "path_parameters": {"id": import_id}}
    early = admin(stack, "POST", created["start_url"], **start_path)  # type: ignore[arg-type]
    assert (early["statusCode"], response_json(early)["error"]) == (409, "upload_missing")

    put = requests.put(
        created["upload"]["url"], data=CSV_TEXT.encode(), headers=created["upload"]["headers"], timeout=10
    )
    assert put.status_code == 200
    response = admin(stack, "POST", created["start_url"], **start_path)  # type: ignore[arg-type]
    assert response["statusCode"] == 202, response
    assert response_json(response)["status"] == "queued"
    assert started.calls[-1][1] == import_id
    assert run_worker(stack, import_id)["status"] == "completed"
    done = status(stack, import_id)
    assert (done["rows_total"], done["rows_accepted"], done["file_bytes"]) == (5, 3, len(CSV_TEXT.encode()))
    again = admin(stack, "POST", created["start_url"], **start_path)  # type: ignore[arg-type]
    assert (again["statusCode"], response_json(again)["error"]) == (409, "import_already_started")


def test_a_presigned_file_with_too_many_rows_fails_before_any_row(stack: Stack, started: StartCalls) -> None:
    created = response_json(
        admin(
            stack,
            "POST",
            "/admin/v1/imports/members",
            resource="/admin/v1/imports/members",
            body=b'{"upload":"presigned"}',
            headers={"Content-Type": "application/json"},
        )
    )
    body = ("member_id\n" + "".join(f"M{i}\n" for i in range(100_001))).encode()
    assert requests.put(created["upload"]["url"], data=body, headers={"Content-Type": "text/csv"}, timeout=30).ok
    import_id = created["import_id"]
    path = {"resource": "/admin/v1/imports/{id}/start", "path_parameters": {"id": import_id}}
    assert admin(stack, "POST", created["start_url"], **path)["statusCode"] == 202  # type: ignore[arg-type]
    assert run_worker(stack, import_id)["status"] == "failed"
    failed = status(stack, import_id)
    assert failed["error"]["code"] == "too_many_rows"
    assert failed["rows_done"] == 0 and import_items(stack, import_id) == {}


def test_the_import_stays_queued_when_the_worker_cannot_be_started(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A function that does not exist: Lambda's Invoke fails, the upload is still kept and queued.
    # (Not the stack's configuration, so its calls are not held against the admin role's policy.)
    monkeypatch.setenv(ENV_MEMBER_IMPORT_FUNCTION, "arn:aws:lambda:ap-northeast-1:123456789012:function:missing")
    stack.runtime.module("admin_api").build.cache_clear()
    with aws_calls.unchecked():
        response = upload(stack, CSV_TEXT.encode())
    assert response["statusCode"] == 202, response
    import_id = response_json(response)["import_id"]
    assert status(stack, import_id)["status"] == "queued"
    path = {"resource": "/admin/v1/imports/{id}/start", "path_parameters": {"id": import_id}}
    with aws_calls.unchecked():
        retry = admin(stack, "POST", f"/admin/v1/imports/{import_id}/start", **path)  # type: ignore[arg-type]
    assert (retry["statusCode"], response_json(retry)["status"]) == (202, "queued")
    stack.runtime.module("admin_api").build.cache_clear()


@pytest.mark.parametrize(
    ("body", "content_type", "status_code", "error"),
    [
        (b"", "text/csv", 400, "empty_file"),
        (b"phone,email\n0912345678,a@example.com\n", "text/csv", 400, "missing_member_id_column"),
        (b"member_id,phone,mobile\nM1,1,2\n", "text/csv", 400, "duplicate_column"),
        (b"PK\x03\x04\x14\x00\x06\x00", "application/octet-stream", 400, "not_csv"),
        ("會員編號\nM1\n".encode("big5"), "text/csv", 400, "invalid_encoding"),
        (b"member_id\nM1\n", "image/png", 415, "unsupported_media_type"),
        (b'{"rows": []}', "application/json", 400, "invalid_import_request"),
        (b"member_id\nM1\n", "application/json", 400, "invalid_json"),
    ],
    ids=["empty", "no-member-id", "duplicate-column", "xlsx", "big5", "png", "json-not-presigned", "json-invalid"],
)
def test_files_that_cannot_be_imported_are_refused_with_a_code(
    stack: Stack, started: StartCalls, body: bytes, content_type: str, status_code: int, error: str
) -> None:
    response = upload(stack, body, content_type)
    assert response["statusCode"] == status_code, response
    assert response_json(response)["error"] == error
    assert started.calls == []
    assert stack.client("s3").list_objects_v2(Bucket=stack.env("admin_api", "CDP_IMPORTS_BUCKET")).get("KeyCount") == 0


def test_unknown_imports_unfinished_rejections_and_the_token(stack: Stack, started: StartCalls) -> None:
    unknown = "imp_" + "0" * 32
    response = admin(
        stack, "GET", f"/admin/v1/imports/{unknown}", resource="/admin/v1/imports/{id}", path_parameters={"id": unknown}
    )
    assert (response["statusCode"], response_json(response)["error"]) == (404, "import_not_found")
    import_id = response_json(upload(stack, CSV_TEXT.encode()))["import_id"]
    response = admin(
        stack,
        "GET",
        f"/admin/v1/imports/{import_id}/rejected",
        resource="/admin/v1/imports/{id}/rejected",
        path_parameters={"id": import_id},
    )
    assert (response["statusCode"], response_json(response)["error"]) == (409, "import_not_completed")
    event = api_event(
        "POST",
        "/admin/v1/imports/members",
        body=CSV_TEXT.encode(),
        headers={"Content-Type": "text/csv", "Authorization": "Bearer wrong"},
    )
    response = stack.invoke("admin_api", event)
    assert (response["statusCode"], response_json(response)["error"]) == (401, "invalid_admin_token")


def test_a_plain_text_body_is_read_too(stack: Stack, started: StartCalls) -> None:
    event = api_event(
        "POST",
        "/admin/v1/imports/members",
        body=CSV_TEXT.encode(),
        headers={"Content-Type": "text/csv", "Authorization": f"Bearer {ADMIN_TOKEN}"},
        base64_body=False,
    )
    plain = stack.invoke("admin_api", event)
    assert plain["statusCode"] == 202, plain
    assert response_json(plain)["rows_total"] == 5


def test_a_missing_upload_answered_403_as_s3_does_without_list_bucket_is_409_not_503(
    stack: Stack, started: StartCalls
) -> None:
    # In AWS the admin function has s3:GetObject on uploads but no s3:ListBucket: S3 then answers a
    # HeadObject of a key that does not exist with 403 (moto answers 404; make it answer like S3).
    class _Empty:
        def stream(self) -> Iterator[bytes]:
            yield b""

    def forbidden(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 403, {"x-amz-request-id": "R1"}, _Empty())

    response = admin(
        stack,
        "POST",
        "/admin/v1/imports/members",
        resource="/admin/v1/imports/members",
        body=json.dumps({"upload": "presigned"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    created = response_json(response)
    events = client("s3").meta.events
    events.register("before-send.s3.HeadObject", forbidden)
    try:
        early = admin(
            stack,
            "POST",
            created["start_url"],
            resource="/admin/v1/imports/{id}/start",
            path_parameters={"id": created["import_id"]},
        )
    finally:
        events.unregister("before-send.s3.HeadObject", forbidden)

    assert (early["statusCode"], response_json(early)["error"]) == (409, "upload_missing")
    assert started.calls == []
