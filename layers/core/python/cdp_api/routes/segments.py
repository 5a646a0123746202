"""Segment administration: definitions (versioned, archived rather than deleted), memberships,
size history, "recompute now", and a profile's segments and paginated timeline."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound, StoreUnavailable
from cdp.profiles.views import current_profile
from cdp.segments.rules import rule_schema
from cdp.segments.store import STATUS_ARCHIVED, SegmentDefinition

from cdp_api.context import ConfigurationMissing, admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.models import SegmentCreate, SegmentUpdate

router = Router()  # type: ignore[no-untyped-call]

HISTORY_LIMIT = 100
Status = Annotated[Literal["active", "archived"], coded("invalid_status", "`status` is one of active, archived")]


def _limit(maximum: int) -> Any:
    return coded("invalid_limit", f"`limit` is a whole number from 1 to {maximum}")


def _schedule(definition: SegmentDefinition) -> None:
    schedules = admin_context().schedules()
    if schedules is None:
        return
    if definition.status == STATUS_ARCHIVED:
        schedules.delete(definition.segment_id)
    else:
        schedules.put(definition.segment_id, definition.refresh_minutes)


def _now() -> str:
    return iso_from_ms(SystemClock().now_ms())


def _definition(segment_id: str) -> SegmentDefinition:
    definition = admin_context().segments().get(segment_id)
    if definition is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    return definition


@router.post("/admin/v1/segments", status_code=201, responses={**ok(201, "Created", "SegmentWithCount"), **errors(409)})
def create_segment(request: Annotated[SegmentCreate, Body()]) -> dict[str, Any]:
    """{"id": slug, "name": ..., "rule": {...}, "refresh_minutes": 15-10080 (default 60)}: 201,
    400 (invalid_segment_rule with the JSON pointer in details.path), 409 if the id is taken
    (archived ones included). The segment is evaluated in real time from now on, and recomputed
    over the archive on its schedule (the first run fills it with everyone who already matches)."""
    definition = SegmentDefinition.create(request.id, request.name, request.rule, _now(), request.refresh_minutes)
    if not admin_context().segments().create(definition):
        raise Conflict(f"segment {definition.segment_id} exists", code="segment_exists")
    _schedule(definition)
    return {**definition.as_dict(), "member_count": 0}


@router.get("/admin/v1/segments", responses=ok(200, "The segment definitions", "SegmentList"))
def list_segments(status: Annotated[Status | None, Query(description="active or archived")] = None) -> dict[str, Any]:
    """Every segment definition, optionally only active or archived ones."""
    definitions = [d for d in admin_context().segments().definitions() if status is None or d.status == status]
    return {"segments": [definition.as_dict() for definition in definitions]}


@router.get("/admin/v1/segments/schema", responses=ok(200, "The JSON Schema of a segment rule", "SegmentRuleSchema"))
def segment_rule_schema() -> dict[str, Any]:
    """The JSON Schema a rule is checked against (docs/segment-rules.md); the parser adds the
    limits on top (depth, node count, list and string lengths). The console's rule builder reads it."""
    return rule_schema()


@router.get(
    "/admin/v1/segments/<segment_id>",
    responses={**ok(200, "The definition and its member count", "SegmentWithCount"), **errors(404)},
)
def get_segment(segment_id: str) -> dict[str, Any]:
    """The definition and its member count."""
    definition = _definition(segment_id)
    return {**definition.as_dict(), "member_count": admin_context().segments().count_members(segment_id)}


@router.put("/admin/v1/segments/<segment_id>", responses={**ok(200, "The new version", "Segment"), **errors(404, 409)})
def update_segment(segment_id: str, request: Annotated[SegmentUpdate, Body()]) -> dict[str, Any]:
    """{"name"?, "rule"?, "refresh_minutes"?, "version": the version read}: compare-and-set, 409 when stale."""
    expected = request.version
    current = _definition(segment_id)
    if current.status == STATUS_ARCHIVED:
        raise Conflict(f"segment {segment_id} is archived", code="segment_archived")
    if current.version != expected:
        raise Conflict(f"segment {segment_id} is at version {current.version}", code="segment_version_conflict")
    sent = request.fields()
    revised = current.revised(
        sent.get("name", current.name), sent.get("rule", current.rule), _now(), request.refresh_minutes
    )
    if not admin_context().segments().replace(revised, expected_version=expected):
        raise Conflict(f"segment {segment_id} changed meanwhile; read it again", code="segment_version_conflict")
    _schedule(revised)
    return revised.as_dict()


@router.delete(
    "/admin/v1/segments/<segment_id>", responses={**ok(200, "The archived definition", "Segment"), **errors(404, 409)}
)
def archive_segment(segment_id: str) -> dict[str, Any]:
    """Archive: no longer evaluated; the id stays taken and the definition readable."""
    current = _definition(segment_id)
    if current.status == STATUS_ARCHIVED:
        _schedule(current)  # a retry after a failed unschedule
        return current.as_dict()
    archived = current.archived(_now())
    if not admin_context().segments().replace(archived, expected_version=current.version):
        raise Conflict(f"segment {segment_id} changed meanwhile; try again", code="segment_version_conflict")
    _schedule(archived)
    return archived.as_dict()


@router.get(
    "/admin/v1/segments/<segment_id>/members",
    responses={**ok(200, "A page of members", "SegmentMembers"), **errors(404)},
)
def list_members(
    segment_id: str,
    limit: Annotated[Annotated[int, _limit(500)], Query(ge=1, le=500, description="page size")] = 50,
    after: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> dict[str, Any]:
    """Members by profile id, a page at a time."""
    _definition(segment_id)
    page, cursor = admin_context().segments().members(segment_id, limit=limit, after=after or None)
    return {
        "segment_id": segment_id,
        "members": [
            {"profile_id": m.profile_id, "entered_at": m.entered_at, "rule_version": m.rule_version} for m in page
        ],
        "next": cursor,
    }


@router.get(
    "/admin/v1/profiles/<profile_id>/segments",
    responses={**ok(200, "The person's segments", "ProfileSegments"), **errors(404)},
)
def profile_segments(profile_id: str) -> dict[str, Any]:
    """The segments a person is in (following merges to the current profile)."""
    context = admin_context()
    profile = current_profile(context.store, profile_id)
    memberships = context.segments().memberships(profile.profile_id)
    return {
        "profile_id": profile.profile_id,
        "segments": [
            {"segment_id": m.segment_id, "entered_at": m.entered_at, "rule_version": m.rule_version}
            for m in memberships
        ],
    }


@router.get(
    "/admin/v1/segments/<segment_id>/history",
    responses={**ok(200, "Sizes and the latest entries and exits", "SegmentHistory"), **errors(404)},
)
def segment_history(
    segment_id: str,
    limit: Annotated[Annotated[int, _limit(HISTORY_LIMIT)], Query(ge=1, le=HISTORY_LIMIT)] = 50,
) -> dict[str, Any]:
    """Size after each scheduled recompute (newest first) and the latest entries and exits."""
    store = admin_context().segments()
    if store.get(segment_id) is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    return {
        "segment_id": segment_id,
        "members": store.count_members(segment_id),
        "sizes": [sample.as_dict() for sample in store.sizes(segment_id, limit=limit)],
        "changes": [change.as_dict() for change in store.changes(segment_id, limit=limit)],
    }


@router.post(
    "/admin/v1/segments/<segment_id>/recompute",
    status_code=202,
    responses={**ok(202, "Started", "RecomputeStarted"), **errors(404, 409)},
)
def recompute_now(segment_id: str) -> dict[str, Any]:
    """Start the scheduled recompute for this segment now (asynchronously): 202."""
    context = admin_context()
    definition = context.segments().get(segment_id)
    if definition is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    if definition.status == STATUS_ARCHIVED:
        raise Conflict(f"segment {segment_id} is archived", code="segment_archived")
    function = context.analytics.recompute_function
    if not function:
        raise ConfigurationMissing(
            "segment recompute is not configured on this deployment",
            setting="CDP_SEGMENT_RECOMPUTE_FUNCTION",
            code="recompute_not_configured",
        )
    try:
        context.lambda_client().invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps({"segment_id": segment_id}).encode()
        )
    except Exception as exc:  # botocore's errors: the caller may simply press again
        raise StoreUnavailable("could not start the recompute; try again", code="recompute_unavailable") from exc
    return {"segment_id": segment_id, "status": "started", "rule_version": definition.version}


@router.get(
    "/admin/v1/profiles/<profile_id>/timeline",
    responses={**ok(200, "A page of the timeline", "ProfileTimeline"), **errors(404)},
)
def profile_timeline(
    profile_id: str,
    limit: Annotated[Annotated[int, _limit(200)], Query(ge=1, le=200, description="page size")] = 50,
    before: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> dict[str, Any]:
    """The person's events across LINE, web, store and CRM, newest first."""
    context = admin_context()
    profile = current_profile(context.store, profile_id)
    if before and not before.startswith("EVENT#"):
        raise BadRequest("`before` is the `next` of the previous page", code="invalid_cursor")
    events, cursor = context.store.timeline_before(profile.profile_id, limit=limit, before=before or None)
    history = context.segments().profile_changes(profile.profile_id, limit=HISTORY_LIMIT)
    return {
        "profile_id": profile.profile_id,
        "events": events,
        "next": cursor,
        "segment_history": [change.as_dict() for change in history],
    }
