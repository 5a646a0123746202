"""GET /admin/v1/audit: the audit log, newest first, filtered and paged (cdp.access.audit)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from cdp.access.audit import DEFAULT_PAGE, MAX_PAGE, Cursor, build_query
from cdp.clock import SystemClock

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded

router = Router()  # type: ignore[no-untyped-call]

Limit = Annotated[int, coded("invalid_limit", f"`limit` is a whole number from 1 to {MAX_PAGE}")]


@router.get(
    "/admin/v1/audit",
    responses={**ok(200, "Audit records, newest first", "AuditLogPage"), **errors(400)},
)
def list_audit(
    actor: Annotated[str | None, Query(description="the principal's subject or name")] = None,
    action: Annotated[
        str | None,
        Query(description="write, download, pii.reveal, a method (POST), or `METHOD /admin/v1/route/{id}`"),
    ] = None,
    route: Annotated[str | None, Query(description="a route template, e.g. /admin/v1/segments/{id}")] = None,
    target: Annotated[str | None, Query(description="an id in the request's path (a profile id, ...)")] = None,
    from_time: Annotated[str | None, Query(alias="from", description="ISO-8601, inclusive")] = None,
    to_time: Annotated[str | None, Query(alias="to", description="ISO-8601, exclusive; default now")] = None,
    limit: Annotated[Limit, Query(ge=1, le=MAX_PAGE, description="records per page")] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="the `next` of the previous page")] = None,
) -> dict[str, Any]:
    """200 {"records": [...], "next", "retention_days"}; `next` is null on the last page. A page
    may hold fewer records than `limit` (each page reads a bounded part of the log) while `next`
    is not null."""
    context = admin_context()
    retention_days = context.settings.audit_retention_days
    query = build_query(
        now_ms=SystemClock().now_ms(),
        retention_days=retention_days,
        actor=actor,
        action=action,
        route=route,
        target=target,
        from_time=from_time,
        to_time=to_time,
        limit=limit,
    )
    page = context.audit_log().page(query, Cursor.decode(cursor) if cursor else None)
    return {
        "records": [record.as_dict() for record in page.records],
        "next": page.cursor.encode() if page.cursor is not None else None,
        "retention_days": retention_days,
    }
