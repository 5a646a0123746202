"""The audit log: what is recorded for which request, the record's fields, the query's filters and
cursor, and the admin functions' hook (recorded after the answer, never failing it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import cdp_api.app as app_module
import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from cdp.access.audit import (
    AuditQuery,
    AuditRecord,
    Cursor,
    action_of,
    build_query,
    record_of,
)
from cdp.access.principal import BOOTSTRAP, Principal
from cdp.clock import install_time_source
from cdp.errors import BadRequest, NotFound
from cdp_api.app import AdminFunction

from tests.fakes import FakeAuditLog

NOW_MS = 1_796_000_000_000  # 2026-11-30T00:53:20Z
VIEWER = Principal(subject="u-viewer", role="viewer", kind="user", name="viewer@brand.example")
MARKETER = Principal(subject="u-marketer", role="marketer", kind="user", name="mkt@brand.example")
ADMIN_USER = Principal(subject="u-admin", role="admin", kind="user", name="admin@brand.example")


def _event(
    method: str,
    path: str,
    resource: str,
    *,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "path": path,
        "resource": resource,
        "headers": {"Authorization": "Bearer x", "User-Agent": "curl/8.5", "Content-Type": "application/json"},
        "queryStringParameters": query,
        "pathParameters": path_parameters,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "requestId": "req-1",
            "resourcePath": resource,
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "curl/8.5"},
        },
    }


# --- what is recorded ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "route", "revealed", "expected"),
    [
        ("POST", "/admin/v1/segments", False, "write"),
        ("PUT", "/admin/v1/identity/rules", False, "write"),
        ("DELETE", "/admin/v1/segments/{id}", False, "write"),
        ("GET", "/admin/v1/segments/{id}", False, None),
        ("GET", "/admin/v1/imports/{id}/rejected", False, "download"),
        ("GET", "/admin/v1/profiles/{id}", True, "pii.reveal"),
        ("GET", "/admin/v1/profiles/{id}", False, None),
    ],
)
def test_writes_downloads_and_reveals_are_recorded_plain_reads_are_not(
    method: str, route: str, revealed: bool, expected: str | None
) -> None:
    assert action_of(method, route, revealed=revealed) == expected


def test_a_record_holds_who_what_when_where_and_never_the_body() -> None:
    event = _event(
        "POST",
        "/admin/v1/profiles/p-1/consent",
        "/admin/v1/profiles/{id}/consent",
        path_parameters={"id": "p-1"},
        body=json.dumps({"email": "amy@example.com", "phone": "+886912345678"}),
    )
    record = record_of(event, principal=ADMIN_USER, status=202, action="write", at_ms=NOW_MS)
    assert record.as_dict() == {
        "at": "2026-11-30T00:53:20.000Z",
        "request_id": "req-1",
        "action": "write",
        "method": "POST",
        "route": "/admin/v1/profiles/{id}/consent",
        "status": 202,
        "actor": {"subject": "u-admin", "kind": "user", "role": "admin", "name": "admin@brand.example"},
        "targets": {"id": "p-1"},
        "source_ip": "203.0.113.9",
        "user_agent": "curl/8.5",
    }
    stored = json.dumps(record.stored())
    assert "amy@example.com" not in stored and "912345678" not in stored
    assert AuditRecord.from_stored(json.loads(stored)) == record


# --- the query -------------------------------------------------------------------------------
def _query(**overrides: Any) -> AuditQuery:
    arguments: dict[str, Any] = {
        "now_ms": NOW_MS,
        "retention_days": 30,
        "actor": None,
        "action": None,
        "route": None,
        "target": None,
        "from_time": None,
        "to_time": None,
        "limit": 50,
    }
    return build_query(**{**arguments, **overrides})


def test_the_query_defaults_to_the_retention_period_up_to_now() -> None:
    query = _query()
    assert (query.from_ms, query.to_ms) == (NOW_MS + 1 - 30 * 86_400_000, NOW_MS + 1)


def test_an_action_is_a_kind_a_method_or_a_method_and_route() -> None:
    assert _query(action="download").action == "download"
    assert (_query(action="post").method, _query(action="post").route) == ("POST", None)
    query = _query(action="DELETE /admin/v1/segments/{id}")
    assert (query.method, query.route) == ("DELETE", "/admin/v1/segments/{id}")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"from_time": "yesterday"}, "invalid_time"),
        ({"to_time": "2026-12-01T00:00:00"}, "invalid_time"),
        ({"from_time": "2026-12-02T00:00:00Z", "to_time": "2026-12-01T00:00:00Z"}, "invalid_time_range"),
        ({"action": "FETCH"}, "invalid_action"),
        ({"action": "POST segments"}, "invalid_action"),
        ({"action": "POST /admin/v1/a", "route": "/admin/v1/b"}, "invalid_action"),
    ],
)
def test_bad_filters_answer_400_with_a_code(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(BadRequest) as refused:
        _query(**overrides)
    assert refused.value.code == code


def test_filters_match_actor_by_subject_or_name_target_among_the_path_ids() -> None:
    record = record_of(
        _event("PUT", "/admin/v1/segments/s-1", "/admin/v1/segments/{id}", path_parameters={"id": "s-1"}),
        principal=MARKETER,
        status=200,
        action="write",
        at_ms=NOW_MS,
    )
    assert _query(actor="u-marketer").matches(record) and _query(actor="mkt@brand.example").matches(record)
    assert not _query(actor="u-admin").matches(record)
    assert _query(target="s-1").matches(record) and not _query(target="s-2").matches(record)
    assert _query(action="PUT /admin/v1/segments/{id}").matches(record)
    assert not _query(action="download").matches(record)
    assert not _query(to_time="2026-11-30T00:53:20Z").matches(record)  # `to` is exclusive


def test_a_cursor_round_trips_and_a_forged_one_answers_400() -> None:
    cursor = Cursor("2026-11-30", "2026-11-30T00:53:20.000Z#req-1")
    assert Cursor.decode(cursor.encode()) == cursor
    for forged in ("nonsense", Cursor("2026-13-01", None).encode(), "eyJkIjoxfQ"):
        with pytest.raises(BadRequest) as refused:
            Cursor.decode(forged)
        assert refused.value.code == "invalid_cursor"


# --- the hook in the admin functions ---------------------------------------------------------
@dataclass
class _Context:
    log: FakeAuditLog

    def audit_log(self) -> FakeAuditLog:
        return self.log


router = Router()  # type: ignore[no-untyped-call]
PROFILE = {
    "profile_id": "p-1",
    "identifiers": [{"type": "phone", "value": "+886912345678", "added_at": "2026-01-01T00:00:00Z"}],
    "traits": {"email": "amy.lin@example.com", "name": "Amy"},
}


@router.post("/admin/v1/segments")
def create_segment() -> tuple[dict[str, Any], int]:
    return {"segment_id": "s-1"}, 201


@router.delete("/admin/v1/segments/<segment_id>")
def delete_segment(segment_id: str) -> dict[str, Any]:
    raise NotFound(f"no segment {segment_id}", code="segment_not_found")


@router.get("/admin/v1/profiles/<profile_id>/export/<job_id>")
def export_job(profile_id: str, job_id: str) -> dict[str, Any]:
    if job_id == "running":
        return {"job_id": job_id, "status": "running"}
    return {"job_id": job_id, "status": "done", "files": {"document": {"url": "https://s3.example/x?sig=1"}}}


@router.get("/admin/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    return {**PROFILE, "profile_id": profile_id}


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> FakeAuditLog:
    fake = FakeAuditLog()
    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)
    previous = install_time_source(lambda: NOW_MS)
    yield fake
    install_time_source(previous)


def _call(log: FakeAuditLog, event: dict[str, Any], principal: Principal = BOOTSTRAP) -> dict[str, Any]:
    original = app_module.authenticate
    app_module.authenticate = lambda _authorization: principal  # the principal sign-in would set
    try:
        return AdminFunction((router,), lambda: _Context(log))(event, None)  # type: ignore[arg-type,return-value]
    finally:
        app_module.authenticate = original


def _profile_event(query: dict[str, str] | None = None) -> dict[str, Any]:
    return _event(
        "GET", "/admin/v1/profiles/p-1", "/admin/v1/profiles/{id}", path_parameters={"id": "p-1"}, query=query
    )


def test_a_write_is_recorded_with_its_status_success_or_refusal(log: FakeAuditLog) -> None:
    created = _call(log, _event("POST", "/admin/v1/segments", "/admin/v1/segments", body="{}"))
    assert created["statusCode"] == 201
    refused = _event("DELETE", "/admin/v1/segments/s-9", "/admin/v1/segments/{id}", path_parameters={"id": "s-9"})
    refused["requestContext"]["requestId"] = "req-2"
    assert _call(log, refused)["statusCode"] == 404
    recorded = sorted((r.method, r.route, r.status, r.targets.get("id"), r.actor) for r in log.records.values())
    assert recorded == [
        ("DELETE", "/admin/v1/segments/{id}", 404, "s-9", "bootstrap"),
        ("POST", "/admin/v1/segments", 201, None, "bootstrap"),
    ]


def test_a_plain_read_by_a_machine_is_neither_masked_nor_recorded(log: FakeAuditLog) -> None:
    answer = _call(log, _profile_event())
    assert json.loads(answer["body"])["traits"]["email"] == "amy.lin@example.com"
    assert log.records == {}


def test_a_failed_record_leaves_the_answer_and_is_logged_and_counted(
    log: FakeAuditLog, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    log.fail = True
    answer = _call(log, _event("POST", "/admin/v1/segments", "/admin/v1/segments", body="{}"))
    assert answer["statusCode"] == 201
    assert log.failures == 2  # one retry
    (failed,) = [entry for entry in caplog.records if entry.getMessage() == "audit record not stored"]
    kept = failed.__dict__["audit_record"]
    assert kept["route"] == "/admin/v1/segments" and kept["status"] == 201 and kept["actor"]["name"] == ""
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["AuditWriteFailed"] for m in metrics if "AuditWriteFailed" in m] == [[1.0]] or [
        m["AuditWriteFailed"] for m in metrics if "AuditWriteFailed" in m
    ] == [1.0]


def test_a_viewer_gets_phones_and_emails_masked_and_cannot_reveal(log: FakeAuditLog) -> None:
    view = json.loads(_call(log, _profile_event(), VIEWER)["body"])
    assert view["identifiers"][0]["value"] == "+*********678"
    assert view["traits"] == {"email": "a***@example.com", "name": "Amy"}
    refused = _call(log, _profile_event({"reveal": "true"}), VIEWER)
    body = json.loads(refused["body"])
    assert (refused["statusCode"], body["error"], body["details"]) == (
        403,
        "forbidden",
        {"required_role": "marketer"},
    )
    (attempt,) = log.records.values()  # the refused reveal is on record
    assert (attempt.action, attempt.status, attempt.actor) == ("pii.reveal", 403, "u-viewer")


@pytest.mark.parametrize("principal", [MARKETER, ADMIN_USER])
def test_users_see_masked_answers_unless_they_reveal_which_is_recorded(log: FakeAuditLog, principal: Principal) -> None:
    masked = json.loads(_call(log, _profile_event(), principal)["body"])
    assert masked["traits"]["email"] == "a***@example.com" and log.records == {}
    revealed = json.loads(_call(log, _profile_event({"reveal": "true"}), principal)["body"])
    assert revealed["identifiers"][0]["value"] == "+886912345678"
    (record,) = log.records.values()
    assert (record.action, record.status, record.actor, record.targets) == (
        "pii.reveal",
        200,
        principal.subject,
        {"id": "p-1"},
    )


def test_a_pii_download_needs_the_marketer_role(log: FakeAuditLog) -> None:
    event = _event(
        "GET", "/admin/v1/imports/i-1/rejected", "/admin/v1/imports/{id}/rejected", path_parameters={"id": "i-1"}
    )
    answer = _call(log, event, VIEWER)
    assert answer["statusCode"] == 403
    (record,) = log.records.values()
    assert (record.action, record.status) == ("download", 403)


def test_an_export_is_recorded_when_it_hands_out_its_link_not_while_it_runs(log: FakeAuditLog) -> None:
    def poll(job: str) -> dict[str, Any]:
        event = _event(
            "GET",
            f"/admin/v1/profiles/p-1/export/{job}",
            "/admin/v1/profiles/{id}/export/{job}",
            path_parameters={"id": "p-1", "job": job},
        )
        event["requestContext"]["requestId"] = f"req-{job}"
        return _call(log, event, ADMIN_USER)

    assert poll("running")["statusCode"] == 200 and log.records == {}
    assert poll("done")["statusCode"] == 200
    (record,) = log.records.values()
    assert (record.action, record.targets) == ("download", {"id": "p-1", "job": "done"})


def test_a_deployment_without_its_settings_still_answers_and_logs_the_record(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cdp.settings import ENV_CORE_TABLE, SettingsError

    def unconfigured() -> Any:
        raise SettingsError(f"missing required environment variable {ENV_CORE_TABLE}", setting=ENV_CORE_TABLE)

    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)
    event = _event("POST", "/admin/v1/segments", "/admin/v1/segments", body="{}")
    answer = AdminFunction((router,), unconfigured)(event, None)
    assert answer["statusCode"] == 201
    assert [r.getMessage() for r in caplog.records].count("audit record not stored") == 1
