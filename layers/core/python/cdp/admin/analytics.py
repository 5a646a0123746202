"""Questions about many people at once, answered from the Parquet archive (cdp.archive) with
DuckDB: segment preview, profile search, the data-health report; plus segment history, the
"recompute now" button and a profile's paginated timeline.

The archive trails the live table by the archiver's batching window (seconds to a minute): every
answer says `archive_as_of`. In-segment conditions read the live memberships.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.s3_archive import S3Archive
from cdp.admin.context import admin_context, json_object_body
from cdp.admin.profiles import owner_of
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound, StoreUnavailable
from cdp.profiles.tags import tag_problem
from cdp.profiles.views import current_profile
from cdp.segments.rules import NAME_PATTERN, Rule, parse_rule, reads
from cdp.segments.store import STATUS_ARCHIVED, member_ids
from cdp.settings import SegmentAnalyticsSettings

if TYPE_CHECKING:
    import duckdb

router = Router()  # type: ignore[no-untyped-call]

DEFAULT_SAMPLE, MAX_SAMPLE = 20, 100
DEFAULT_PAGE, MAX_PAGE = 50, 200
HISTORY_LIMIT = 100
_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?")


@functools.cache
def _settings() -> SegmentAnalyticsSettings:
    return SegmentAnalyticsSettings.from_env()


def _segments() -> DynamoSegmentStore:
    return DynamoSegmentStore(client("dynamodb"), admin_context().settings.core_table)


def _now() -> datetime:
    return datetime.fromtimestamp(SystemClock().now_ms() / 1000, tz=UTC)


def _open(rule: Rule | None, now: datetime) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    from cdp.archive.duck import open_archive  # DuckDB loads only for the routes that query the archive

    settings = _settings()
    if not settings.archive_bucket:
        raise StoreUnavailable(
            "the profile archive is not configured on this deployment", code="archive_not_configured"
        )
    archive = S3Archive(client("s3"), settings.archive_bucket, Path(settings.archive_cache_dir))
    files, as_of = archive.fetch()
    pairs: list[tuple[str, str]] = []
    if rule is not None:
        store = _segments()
        for segment_id in sorted(reads(rule).segments):
            pairs.extend((segment_id, profile_id) for profile_id in member_ids(store, segment_id))
    db = open_archive(files, now, memberships=pairs)
    return db, as_of.astimezone(UTC).isoformat().replace("+00:00", "Z") if as_of else None


def _json_body() -> dict[str, Any]:
    return json_object_body(router)


def _bounded(name: str, raw: Any, default: int, maximum: int) -> int:
    if raw is None:
        return default
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str) and raw.isdigit():
        value = int(raw)
    if value is None or not 1 <= value <= maximum:
        raise BadRequest(f"`{name}` is a whole number from 1 to {maximum}", code=f"invalid_{name}")
    return value


@router.post("/admin/v1/segments/preview")
def preview_segment() -> dict[str, Any]:
    """{"rule": {...}, "sample": 1-100}: how many people match now and who, without saving."""
    body = _json_body()
    unknown = sorted(set(body) - {"rule", "sample"})
    if unknown:
        raise BadRequest(f"unknown field `{unknown[0]}`", code="unknown_preview_field")
    if "rule" not in body:
        raise BadRequest("`rule` is required", code="invalid_segment_rule", details={"path": "", "reason": "missing"})
    from cdp.archive.queries import preview

    rule = parse_rule(body["rule"])
    size = _bounded("sample", body.get("sample"), DEFAULT_SAMPLE, MAX_SAMPLE)
    now = _now()
    db, as_of = _open(rule, now)
    try:
        result = preview(db, rule, now, sample_size=size)
    finally:
        db.close()
    return {**result.as_dict(), "evaluated_at": iso_from_ms(int(now.timestamp() * 1000)), "archive_as_of": as_of}


@router.get("/admin/v1/profiles/search")
def search_profiles() -> dict[str, Any]:
    """By identifier (`identifier=email:amy@example.com`, answered live), or from the archive by
    `name_prefix`, `tag` (repeatable) and `trait.<name>=<value>` (all must hold); `limit`, `after`."""
    query = router.current_event.query_string_parameters or {}
    identifier = query.get("identifier")
    if identifier:
        return _search_identifier(identifier)
    conditions: list[dict[str, Any]] = []
    if query.get("name_prefix"):
        conditions.append({"attribute": {"field": "traits.name", "op": "starts_with", "value": query["name_prefix"]}})
    tags = (router.current_event.multi_value_query_string_parameters or {}).get("tag") or []
    for tag in tags:
        problem = tag_problem(tag)
        if problem:
            raise BadRequest(f"`tag`: {problem}", code="invalid_tag")
        conditions.append({"tag": {"name": tag}})
    for key, value in sorted(query.items()):
        if key.startswith("trait."):
            conditions.append(_trait_condition(key.removeprefix("trait."), value))
    unknown = sorted(
        k for k in query if k not in {"name_prefix", "tag", "limit", "after"} and not k.startswith("trait.")
    )
    if unknown:
        raise BadRequest(f"unknown search parameter `{unknown[0]}`", code="unknown_search_parameter")
    if not conditions:
        raise BadRequest(
            "search by identifier, name_prefix, tag or trait.<name>", code="empty_search", details={"path": ""}
        )
    from cdp.archive.queries import search

    rule = parse_rule({"and": conditions})
    limit = _bounded("limit", query.get("limit"), DEFAULT_PAGE, MAX_PAGE)
    now = _now()
    db, as_of = _open(rule, now)
    try:
        page, cursor = search(db, rule, now, limit=limit, after=query.get("after") or None)
    finally:
        db.close()
    return {"profiles": page, "next": cursor, "archive_as_of": as_of}


def _search_identifier(raw: str) -> dict[str, Any]:
    id_type, colon, value = raw.partition(":")
    if not colon:
        raise BadRequest("`identifier` is <type>:<value>, e.g. email:amy@example.com", code="invalid_identifier")
    try:
        profile_id = owner_of(id_type, value)
    except NotFound:
        return {"profiles": [], "next": None, "archive_as_of": None}
    profile = current_profile(admin_context().store, profile_id)
    name = profile.traits.get("name")
    summary = {
        "profile_id": profile.profile_id,
        "name": name.value if name else None,
        "line_status": profile.line_status,
        "tags": sorted(profile.tags),
        "ltv": None,
        "channel_mix": profile.channel_mix(),
    }
    return {"profiles": [summary], "next": None, "archive_as_of": None}


def _trait_condition(name: str, value: str) -> dict[str, Any]:
    if not NAME_PATTERN.fullmatch(name):
        raise BadRequest(f"`trait.{name}` is not a trait name", code="invalid_trait_name")
    candidates: list[Any] = [value]
    if _NUMBER.fullmatch(value):
        candidates.append(float(value) if "." in value else int(value))
    if value in ("true", "false"):
        candidates.append(value == "true")
    return {"attribute": {"field": f"traits.{name}", "op": "in", "value": candidates}}


@router.get("/admin/v1/reports/data-health")
def data_health_report() -> dict[str, Any]:
    """Tag coverage of reachable LINE friends (overall and per tag group) and identifier gaps."""
    from cdp.archive.queries import data_health

    now = _now()
    db, as_of = _open(None, now)
    try:
        report = data_health(db)
    finally:
        db.close()
    return {**report, "archive_as_of": as_of}


@router.get("/admin/v1/reports/customer-groups")
def customer_groups_report() -> dict[str, Any]:
    """Buyers and revenue per channel group and per RFM group (scored daily)."""
    from cdp.archive.queries import customer_groups

    db, as_of = _open(None, _now())
    try:
        report = customer_groups(db)
    finally:
        db.close()
    return {**report, "archive_as_of": as_of}


@router.get("/admin/v1/segments/<segment_id>/history")
def segment_history(segment_id: str) -> dict[str, Any]:
    """Size after each scheduled recompute (newest first) and the latest entries and exits."""
    store = _segments()
    definition = store.get(segment_id)
    if definition is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    limit = _bounded("limit", router.current_event.get_query_string_value("limit"), 50, HISTORY_LIMIT)
    return {
        "segment_id": segment_id,
        "members": store.count_members(segment_id),
        "sizes": [sample.as_dict() for sample in store.sizes(segment_id, limit=limit)],
        "changes": [change.as_dict() for change in store.changes(segment_id, limit=limit)],
    }


@router.post("/admin/v1/segments/<segment_id>/recompute")
def recompute_now(segment_id: str) -> tuple[dict[str, Any], int]:
    """Start the scheduled recompute for this segment now (asynchronously): 202."""
    definition = _segments().get(segment_id)
    if definition is None:
        raise NotFound(f"no segment {segment_id}", code="segment_not_found")
    if definition.status == STATUS_ARCHIVED:
        raise Conflict(f"segment {segment_id} is archived", code="segment_archived")
    function = _settings().recompute_function
    if not function:
        raise StoreUnavailable(
            "segment recompute is not configured on this deployment", code="recompute_not_configured"
        )
    try:
        client("lambda").invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps({"segment_id": segment_id}).encode()
        )
    except Exception as exc:  # botocore's errors: the caller may simply press again
        raise StoreUnavailable("could not start the recompute; try again", code="recompute_unavailable") from exc
    return {"segment_id": segment_id, "status": "started", "rule_version": definition.version}, 202


@router.get("/admin/v1/profiles/<profile_id>/timeline")
def profile_timeline(profile_id: str) -> dict[str, Any]:
    """The person's events across LINE, web, store and CRM, newest first; `limit`, `before`."""
    context = admin_context()
    profile = current_profile(context.store, profile_id)
    limit = _bounded("limit", router.current_event.get_query_string_value("limit"), DEFAULT_PAGE, MAX_PAGE)
    before = router.current_event.get_query_string_value("before") or None
    if before is not None and not before.startswith("EVENT#"):
        raise BadRequest("`before` is the `next` of the previous page", code="invalid_cursor")
    events, cursor = context.store.timeline_before(profile.profile_id, limit=limit, before=before)
    history = _segments().profile_changes(profile.profile_id, limit=HISTORY_LIMIT)
    return {
        "profile_id": profile.profile_id,
        "events": events,
        "next": cursor,
        "segment_history": [change.as_dict() for change in history],
    }
