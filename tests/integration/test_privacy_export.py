"""Consent history and the person export through the admin handler on moto (core table, raw
events table, imports bucket), the job run as the admin function's own invocation."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import pytest
from cdp.adapters.lambda_invoke import LambdaExportStarter
from cdp.errors import StoreUnavailable

from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import (
    ADMIN_TOKEN,
    LINE_CHANNEL,
    WRITE_KEY,
    RawStream,
    Stack,
    api_event,
    response_json,
)

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
LINE_USER = line_events.user_id("amy-export")


def call(
    stack: Stack, method: str, path: str, resource: str, params: dict[str, str], body: Any = None, **headers: str
) -> tuple[int, Any]:
    event = api_event(
        method,
        path,
        resource=resource,
        headers={**BEARER, **headers},
        path_parameters=params,
        body=json.dumps(body) if body is not None else None,
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def ingest(stack: Stack, *events: dict[str, Any]) -> None:
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
    for event in events:  # one request each: the stream then applies them in this order
        response = stack.invoke(
            "ingest", api_event("POST", "/v1/batch", body=json.dumps({"batch": [event]}), headers=auth)
        )
        assert response_json(response)["accepted"] == 1


@pytest.fixture
def amy(stack: Stack, raw_stream: RawStream) -> str:
    """Amy: a POS member who agreed to email under the text of March, bought, and follows on LINE
    (a profile of her own until a merge)."""
    ingest(
        stack,
        {
            "type": "identify",
            "userId": "M-2001",
            "messageId": "exp-identify-1",
            "timestamp": "2024-05-01T09:00:00Z",
            "traits": {"phone": "0912-000-111", "email": "amy.export@example.com", "name": "林小美"},
            "context": {"channel": "pos", "consent": {"email:marketing": True}, "consentTextVersion": "2024-03"},
        },
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "M-2001",
            "messageId": "exp-order-1",
            "timestamp": "2024-05-01T09:05:00Z",
            "properties": {"revenue": 1200, "currency": "TWD"},
            "context": {"channel": "pos"},
        },
    )
    body, signature = signed_delivery(
        CHANNEL_SECRET, [line_events.follow(source=line_events.user_source(LINE_USER), timestamp=BASE_TIMESTAMP_MS)]
    )
    webhook = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert stack.invoke("line_webhook", webhook)["statusCode"] == 200
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}
    owners = {
        item["id_type"]["S"]: item["profile_id"]["S"]
        for item in stack.scan(stack.core_table)
        if item["sk"]["S"] == "ID" and "id_type" in item
    }
    return owners["member_id"]


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The jobs the admin API starts (run here by invoking the handler, as Lambda would)."""
    jobs: list[str] = []
    monkeypatch.setattr(LambdaExportStarter, "start_export", lambda _self, job_id: jobs.append(job_id))
    return jobs


def test_consent_changes_keep_their_text_version_and_read_back_as_a_history(
    stack: Stack, raw_stream: RawStream, amy: str
) -> None:
    path, resource = f"/admin/v1/profiles/{amy}/consent", "/admin/v1/profiles/{id}/consent"
    status, recorded = call(
        stack, "POST", path, resource, {"id": amy}, {"channel": "email", "granted": False, "textVersion": "2024-05"}
    )
    assert (status, recorded["textVersion"]) == (202, "2024-05")
    bad, refused = call(
        stack, "POST", path, resource, {"id": amy}, {"channel": "email", "granted": True, "textVersion": 5}
    )
    assert (bad, refused["error"]) == (400, "invalid_consent_text_version")
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}

    status, answer = call(stack, "GET", path, resource, {"id": amy})

    assert status == 200, answer
    assert [(h["key"], h["granted"], h["text_version"], h["source"]) for h in answer["history"]] == [
        ("email:marketing", True, "2024-03", "partner:default"),
        ("email:marketing", False, "2024-05", "partner:admin-consent"),
    ]
    assert answer["history"][0]["event_channel"] == "pos"
    missing, body = call(stack, "GET", "/admin/v1/profiles/p_nobody/consent", resource, {"id": "p_nobody"})
    assert (missing, body["error"]) == (404, "profile_not_found")


def test_an_export_job_writes_the_person_and_their_timeline_and_links_them(
    stack: Stack, amy: str, started: list[str]
) -> None:
    path, resource = f"/admin/v1/profiles/{amy}/export", "/admin/v1/profiles/{id}/export"
    status, job = call(stack, "POST", path, resource, {"id": amy}, **{"Idempotency-Key": "req-1"})
    assert status == 202, job
    assert job["status"] == "running" and started == [job["job_id"]]
    retry_status, retry = call(stack, "POST", path, resource, {"id": amy}, **{"Idempotency-Key": "req-1"})
    assert (retry_status, retry["job_id"]) == (200, job["job_id"])

    stack.invoke("admin_api", {"profile_export": job["job_id"]})

    job_resource = "/admin/v1/profiles/{id}/export/{job}"
    status, done = call(stack, "GET", job["status_url"], job_resource, {"id": amy, "job": job["job_id"]})
    assert status == 200, done
    assert (done["status"], done["progress"]["stage"], done["error"]) == ("done", "done", None)
    assert done["counts"]["timeline_events"] == 2 and done["counts"]["raw_events"] == 2
    assert "X-Amz-Signature=" in done["files"]["json"]["url"]
    bucket = stack.env("admin_api", "CDP_IMPORTS_BUCKET")
    s3 = stack.client("s3")
    document = json.loads(
        s3.get_object(Bucket=bucket, Key=f"exports/people/{amy}/{job['job_id']}/person.json")["Body"].read()
    )
    assert document["profile_id"] == amy
    assert {(i["type"], i["value"]) for i in document["identifiers"]} >= {
        ("member_id", "M-2001"),
        ("phone", "+886912000111"),
        ("email", "amy.export@example.com"),
    }
    assert [h["text_version"] for h in document["consent"]["history"]] == ["2024-03"]
    assert document["consent"]["in_force"]["email:marketing"]["text_version"] == "2024-03"
    assert {e["payload"]["messageId"] for e in document["raw_events"]} == {"exp-identify-1", "exp-order-1"}
    table = s3.get_object(Bucket=bucket, Key=f"exports/people/{amy}/{job['job_id']}/timeline.csv")["Body"].read()
    rows = list(csv.DictReader(io.StringIO(table.decode("utf-8-sig"))))
    assert [row["event"] or row["type"] for row in rows] == ["identify", "Order Completed"]

    others = [
        ("/admin/v1/profiles/p_nobody/export", resource, {"id": "p_nobody"}, "POST", "profile_not_found"),
        (
            f"/admin/v1/profiles/{amy}/export/exp-x",
            job_resource,
            {"id": amy, "job": "exp-x"},
            "GET",
            "export_not_found",
        ),
    ]
    for other_path, other_resource, params, method, code in others:
        status, refused = call(stack, method, other_path, other_resource, params)
        assert (status, refused["error"]) == (404, code)


def test_an_export_that_could_not_start_is_503_and_a_retry_with_the_same_key_starts_it(
    stack: Stack, amy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(_self: LambdaExportStarter, _job_id: str) -> None:
        raise StoreUnavailable("the function could not be invoked")

    monkeypatch.setattr(LambdaExportStarter, "start_export", unavailable)
    path, resource = f"/admin/v1/profiles/{amy}/export", "/admin/v1/profiles/{id}/export"
    status, refused = call(stack, "POST", path, resource, {"id": amy}, **{"Idempotency-Key": "req-2"})
    assert (status, refused["error"]) == (503, "job_not_started")

    started: list[str] = []
    monkeypatch.setattr(LambdaExportStarter, "start_export", lambda _self, job_id: started.append(job_id))
    status, job = call(stack, "POST", path, resource, {"id": amy}, **{"Idempotency-Key": "req-2"})
    assert (status, job["status"], started) == (202, "running", [job["job_id"]])
    status, again = call(stack, "POST", path, resource, {"id": amy}, **{"Idempotency-Key": "req-2"})
    assert (status, again["job_id"], started) == (200, job["job_id"], [job["job_id"]])
