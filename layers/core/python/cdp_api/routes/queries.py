"""Questions about many people at once, answered from the Parquet archive (cdp.archive) with
DuckDB: segment preview, profile search, the data-health and customer-group reports.

The archive trails the live table by the archiver's batching window (seconds to a minute): every
answer says `as_of` (and `archive_as_of`, the same). Queries read the archive's snapshot plus
the changes since it (cdp.archive.snapshot). In-segment conditions read the live memberships.

API Gateway ends a request at 29 s. While the archive is at most `CDP_QUERY_SYNC_MAX_BYTES` of
Parquet (256 MiB by default, a few seconds of DuckDB) a query answers at once; above it, or when
the caller sends `Prefer: respond-async`, it answers 202 with a job, which this same function
runs (invoked asynchronously) and `GET /admin/v1/jobs/{id}` reports, result included.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cdp.archive.jobs import JOB_TTL_SECONDS, STATUS_RUNNING, QueryJob, job_url, runs_async
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, CdpError, NotFound, StoreUnavailable
from cdp.observability import logger
from cdp.profiles.tags import tag_problem
from cdp.profiles.views import current_profile
from cdp.segments.rules import NAME_PATTERN, Rule, parse_rule, reads
from cdp.segments.store import member_ids

from cdp_api.context import admin_context, serving_function
from cdp_api.docs import errors, ok
from cdp_api.models import SegmentPreview
from cdp_api.routes.profiles import owner_of

if TYPE_CHECKING:
    import duckdb

router = Router()  # type: ignore[no-untyped-call]

DEFAULT_PAGE, MAX_PAGE = 50, 200
_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?")
SEARCH_PARAMETERS = {"identifier", "name_prefix", "tag", "limit", "after"}
ACCEPTED = ok(202, "Accepted as a job: poll `status_url`", "QueryJob")


def _now() -> datetime:
    return datetime.fromtimestamp(SystemClock().now_ms() / 1000, tz=UTC)


def _open(rule: Rule | None, now: datetime) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """`profiles`, `events` and `segment_members` over the archive's snapshot and the changes
    since it (cdp.archive.snapshot), and the newest change they include (ISO-8601 UTC)."""
    from cdp.archive.snapshot import open_view  # DuckDB loads only when a query runs

    context = admin_context()
    view = context.archive().fetch_view()
    pairs: list[tuple[str, str]] = []
    if rule is not None:
        store = context.segments()
        for segment_id in sorted(reads(rule).segments):
            pairs.extend((segment_id, profile_id) for profile_id in member_ids(store, segment_id))
    db = open_view(view, now, memberships=pairs)
    as_of = view.as_of
    return db, as_of.astimezone(UTC).isoformat().replace("+00:00", "Z") if as_of else None


# --- the queries, each from a JSON request (what a job stores) -----------------------------
def _preview(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.archive.queries import preview

    rule = parse_rule(request["rule"])
    now = _now()
    db, as_of = _open(rule, now)
    try:
        result = preview(db, rule, now, sample_size=request["sample"])
    finally:
        db.close()
    return {
        **result.as_dict(),
        "evaluated_at": iso_from_ms(int(now.timestamp() * 1000)),
        "archive_as_of": as_of,
        "as_of": as_of,
    }


def _search(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.archive.queries import search

    rule = parse_rule(request["rule"])
    now = _now()
    db, as_of = _open(rule, now)
    try:
        page, cursor = search(db, rule, now, limit=request["limit"], after=request.get("after"))
    finally:
        db.close()
    return {"profiles": page, "next": cursor, "archive_as_of": as_of, "as_of": as_of}


def _data_health(_request: dict[str, Any]) -> dict[str, Any]:
    from cdp.archive.queries import data_health

    db, as_of = _open(None, _now())
    try:
        report = data_health(db)
    finally:
        db.close()
    return {**report, "archive_as_of": as_of, "as_of": as_of}


def _customer_groups(_request: dict[str, Any]) -> dict[str, Any]:
    from cdp.archive.queries import customer_groups

    db, as_of = _open(None, _now())
    try:
        report = customer_groups(db)
    finally:
        db.close()
    return {**report, "archive_as_of": as_of, "as_of": as_of}


QUERIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "segment_preview": _preview,
    "profile_search": _search,
    "data_health": _data_health,
    "customer_groups": _customer_groups,
}


def _answer(kind: str, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """At once while the archive is small, else (or when asked) as a job."""
    context = admin_context()
    prefer = (router.current_event.get_header_value("prefer") or "").lower()
    size = context.archive().query_bytes()
    if not runs_async(size, sync_max_bytes=context.analytics.query_sync_max_bytes, requested="respond-async" in prefer):
        return QUERIES[kind](request), 200
    job = QueryJob(
        job_id=uuid.uuid4().hex,
        kind=kind,
        request=request,
        status=STATUS_RUNNING,
        created_at=iso_from_ms(SystemClock().now_ms()),
    )
    jobs = context.query_jobs()
    jobs.create(job, expires_at=SystemClock().now_ms() // 1000 + JOB_TTL_SECONDS)
    try:
        context.lambda_client().invoke(
            FunctionName=serving_function(),
            InvocationType="Event",
            Payload=json.dumps({"query_job": job.job_id}).encode(),
        )
    except Exception as exc:  # botocore's errors: record why, the caller may ask again
        failure = {"error": "job_not_started", "message": "the query could not be started; try again"}
        jobs.finish(job.job_id, at=iso_from_ms(SystemClock().now_ms()), error=failure)
        raise StoreUnavailable("the query could not be started; try again", code="job_not_started") from exc
    return job.view(), 202


def _at() -> str:
    return iso_from_ms(SystemClock().now_ms())


def run_job(job_id: str) -> None:
    """The asynchronous half: run a stored query once and store its answer (or its error)."""
    jobs = admin_context().query_jobs()
    job = jobs.get(job_id)
    if job is None or job.status != STATUS_RUNNING:
        return  # expired, or a redelivery of a finished job
    try:
        result = QUERIES[job.kind](job.request)
    except CdpError as error:
        body = {"error": error.code, "message": error.message, "status": error.status}
        jobs.finish(job_id, at=_at(), error=body)
        return
    except Exception:
        logger.exception("query job failed", extra={"job_id": job_id, "kind": job.kind})
        jobs.finish(job_id, at=_at(), error={"error": "query_failed", "message": "the query failed", "status": 500})
        return
    jobs.finish(job_id, at=_at(), result=result)


# --- routes --------------------------------------------------------------------------------
@router.post("/admin/v1/segments/preview", responses={**ok(200, "Who matches now", "SegmentPreviewResult"), **ACCEPTED})
def preview_segment(request: Annotated[SegmentPreview, Body()]) -> tuple[dict[str, Any], int]:
    """{"rule": {...}, "sample": 1-100}: how many people match now and who, without saving."""
    parse_rule(request.rule)  # refuse a bad rule now, not in a job
    return _answer("segment_preview", {"rule": request.rule, "sample": request.sample})


@router.get("/admin/v1/profiles/search", responses={**ok(200, "A page of people", "ProfileSearchResult"), **ACCEPTED})
def search_profiles(
    identifier: Annotated[str | None, Query(description="<type>:<value>, answered live")] = None,
    name_prefix: Annotated[str | None, Query(description="the start of the person's name")] = None,
    tag: Annotated[list[str] | None, Query(description="a tag the person has (repeatable)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size")] = DEFAULT_PAGE,
    after: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> tuple[dict[str, Any], int]:
    """By identifier (`identifier=email:amy@example.com`, answered live), or from the archive by
    `name_prefix`, `tag` (repeatable) and `trait.<name>=<value>` (all must hold); `limit`, `after`."""
    query = router.current_event.query_string_parameters or {}
    unknown = sorted(k for k in query if k not in SEARCH_PARAMETERS and not k.startswith("trait."))
    if unknown:
        raise BadRequest(f"unknown search parameter `{unknown[0]}`", code="unknown_search_parameter")
    if identifier:
        return _search_identifier(identifier), 200
    conditions: list[dict[str, Any]] = []
    if name_prefix:
        conditions.append({"attribute": {"field": "traits.name", "op": "starts_with", "value": name_prefix}})
    for name in tag or []:
        problem = tag_problem(name)
        if problem:
            raise BadRequest(f"`tag`: {problem}", code="invalid_tag")
        conditions.append({"tag": {"name": name}})
    for key, value in sorted(query.items()):
        if key.startswith("trait."):
            conditions.append(_trait_condition(key.removeprefix("trait."), value))
    if not conditions:
        raise BadRequest(
            "search by identifier, name_prefix, tag or trait.<name>", code="empty_search", details={"path": ""}
        )
    rule = {"and": conditions}
    parse_rule(rule)
    return _answer("profile_search", {"rule": rule, "limit": limit, "after": after or None})


def _search_identifier(raw: str) -> dict[str, Any]:
    id_type, colon, value = raw.partition(":")
    if not colon:
        raise BadRequest("`identifier` is <type>:<value>, e.g. email:amy@example.com", code="invalid_identifier")
    try:
        profile_id = owner_of(id_type, value)
    except NotFound:
        return {"profiles": [], "next": None, "archive_as_of": None, "as_of": None}
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
    return {"profiles": [summary], "next": None, "archive_as_of": None, "as_of": None}


def _trait_condition(name: str, value: str) -> dict[str, Any]:
    if not NAME_PATTERN.fullmatch(name):
        raise BadRequest(f"`trait.{name}` is not a trait name", code="invalid_trait_name")
    candidates: list[Any] = [value]
    if _NUMBER.fullmatch(value):
        candidates.append(float(value) if "." in value else int(value))
    if value in ("true", "false"):
        candidates.append(value == "true")
    return {"attribute": {"field": f"traits.{name}", "op": "in", "value": candidates}}


@router.get("/admin/v1/reports/data-health", responses={**ok(200, "The report", "DataHealthReport"), **ACCEPTED})
def data_health_report() -> tuple[dict[str, Any], int]:
    """Tag coverage of reachable LINE friends (overall and per tag group) and identifier gaps."""
    return _answer("data_health", {})


@router.get(
    "/admin/v1/reports/customer-groups", responses={**ok(200, "The report", "CustomerGroupsReport"), **ACCEPTED}
)
def customer_groups_report() -> tuple[dict[str, Any], int]:
    """Buyers and revenue per channel group and per RFM group (scored daily)."""
    return _answer("customer_groups", {})


@router.get("/admin/v1/jobs/<job_id>", responses={**ok(200, "The job", "QueryJob"), **errors(404)})
def get_job(job_id: str) -> dict[str, Any]:
    """A query job: `running`, then `done` with `result` (the synchronous answer's body) or
    `failed` with `error`; kept for a day."""
    job = admin_context().query_jobs().get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise NotFound(f"no job {job_id}", code="job_not_found")
    return job.view()


__all__ = ["QUERIES", "job_url", "router", "run_job"]
