"""Segment administration: definitions (versioned, archived rather than deleted) and memberships."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.segment_schedules import SchedulerSegmentSchedules
from cdp.admin.context import admin_context, json_object_body
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.profiles.views import current_profile
from cdp.segments.store import STATUS_ACTIVE, STATUS_ARCHIVED, SegmentDefinition
from cdp.settings import SegmentAnalyticsSettings

router = Router()  # type: ignore[no-untyped-call]

DEFAULT_PAGE = 50
MAX_PAGE = 500
STATUSES = (STATUS_ACTIVE, STATUS_ARCHIVED)


def _store() -> DynamoSegmentStore:
    return DynamoSegmentStore(client("dynamodb"), admin_context().settings.core_table)


def _schedules() -> SchedulerSegmentSchedules | None:
    """The per-segment recompute schedules, when this deployment has the scheduler wired."""
    settings = SegmentAnalyticsSettings.from_env()
    if not (settings.schedule_group and settings.recompute_function_arn and settings.scheduler_role_arn):
        return None
    return SchedulerSegmentSchedules(
        client("scheduler"),
        group=settings.schedule_group,
        target_arn=settings.recompute_function_arn,
        role_arn=settings.scheduler_role_arn,
    )


def _schedule(definition: SegmentDefinition) -> None:
    schedules = _schedules()
    if schedules is None:
        return
    if definition.status == STATUS_ARCHIVED:
        schedules.delete(definition.segment_id)
    else:
        schedules.put(definition.segment_id, definition.refresh_minutes)


def _now() -> str:
    return iso_from_ms(SystemClock().now_ms())


def _json_body() -> dict[str, Any]:
    return json_object_body(router)


def _definition(segment_id: str) -> SegmentDefinition:
    definition = _store().get(segment_id)
    if definition is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    return definition


@router.post("/admin/v1/segments")
def create_segment() -> tuple[dict[str, Any], int]:
    """{"id": slug, "name": ..., "rule": {...}, "refresh_minutes": 15-10080 (default 60)}: 201,
    400 (invalid_segment_rule with the JSON pointer in details.path), 409 if the id is taken
    (archived ones included). The segment is evaluated in real time from now on, and recomputed
    over the archive on its schedule (the first run fills it with everyone who already matches)."""
    body = _json_body()
    unknown = sorted(set(body) - {"id", "name", "rule", "refresh_minutes"})
    if unknown:
        raise BadRequest(f"unknown field `{unknown[0]}`", code="unknown_segment_field")
    if "rule" not in body:
        raise BadRequest("`rule` is required", code="invalid_segment_rule", details={"path": "", "reason": "missing"})
    definition = SegmentDefinition.create(
        body.get("id"), body.get("name"), body["rule"], _now(), body.get("refresh_minutes")
    )
    if not _store().create(definition):
        raise Conflict(f"segment {definition.segment_id} exists", code="segment_exists")
    _schedule(definition)
    return {**definition.as_dict(), "member_count": 0}, 201


@router.get("/admin/v1/segments")
def list_segments() -> dict[str, Any]:
    status = router.current_event.get_query_string_value("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"`status` is one of {', '.join(STATUSES)}", code="invalid_status")
    definitions = [d for d in _store().definitions() if status is None or d.status == status]
    return {"segments": [definition.as_dict() for definition in definitions]}


@router.get("/admin/v1/segments/<segment_id>")
def get_segment(segment_id: str) -> dict[str, Any]:
    definition = _definition(segment_id)
    return {**definition.as_dict(), "member_count": _store().count_members(segment_id)}


@router.put("/admin/v1/segments/<segment_id>")
def update_segment(segment_id: str) -> dict[str, Any]:
    """{"name"?, "rule"?, "refresh_minutes"?, "version": the version read}: compare-and-set, 409 when stale."""
    body = _json_body()
    unknown = sorted(set(body) - {"name", "rule", "refresh_minutes", "version"})
    if unknown:
        raise BadRequest(f"unknown field `{unknown[0]}`", code="unknown_segment_field")
    expected = body.get("version")
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 1:
        raise BadRequest("`version` must be the segment version you read", code="invalid_version")
    current = _definition(segment_id)
    if current.status == STATUS_ARCHIVED:
        raise Conflict(f"segment {segment_id} is archived", code="segment_archived")
    if current.version != expected:
        raise Conflict(f"segment {segment_id} is at version {current.version}", code="segment_version_conflict")
    revised = current.revised(
        body.get("name", current.name), body.get("rule", current.rule), _now(), body.get("refresh_minutes")
    )
    if not _store().replace(revised, expected_version=expected):
        raise Conflict(f"segment {segment_id} changed meanwhile; read it again", code="segment_version_conflict")
    _schedule(revised)
    return revised.as_dict()


@router.delete("/admin/v1/segments/<segment_id>")
def archive_segment(segment_id: str) -> dict[str, Any]:
    """Archive: no longer evaluated; the id stays taken and the definition readable."""
    current = _definition(segment_id)
    if current.status == STATUS_ARCHIVED:
        _schedule(current)  # a retry after a failed unschedule
        return current.as_dict()
    archived = current.archived(_now())
    if not _store().replace(archived, expected_version=current.version):
        raise Conflict(f"segment {segment_id} changed meanwhile; try again", code="segment_version_conflict")
    _schedule(archived)
    return archived.as_dict()


@router.get("/admin/v1/segments/<segment_id>/members")
def list_members(segment_id: str) -> dict[str, Any]:
    """Members by profile id; `limit` (1-500, default 50) and `after` (the `next` of the last page)."""
    _definition(segment_id)
    raw_limit = router.current_event.get_query_string_value("limit") or str(DEFAULT_PAGE)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise BadRequest(f"`limit` is a whole number from 1 to {MAX_PAGE}", code="invalid_limit")
    after = router.current_event.get_query_string_value("after") or None
    page, cursor = _store().members(segment_id, limit=int(raw_limit), after=after)
    return {
        "segment_id": segment_id,
        "members": [
            {"profile_id": m.profile_id, "entered_at": m.entered_at, "rule_version": m.rule_version} for m in page
        ],
        "next": cursor,
    }


@router.get("/admin/v1/profiles/<profile_id>/segments")
def profile_segments(profile_id: str) -> dict[str, Any]:
    """The segments a person is in (following merges to the current profile)."""
    profile = current_profile(admin_context().store, profile_id)
    memberships = _store().memberships(profile.profile_id)
    return {
        "profile_id": profile.profile_id,
        "segments": [
            {"segment_id": m.segment_id, "entered_at": m.entered_at, "rule_version": m.rule_version}
            for m in memberships
        ],
    }
