"""GET /admin/v1/ingest/rejections: the recent ingest rejections, newest first (a debugger view).

SDKs ignore the per-event rejections of a 200, so a sender's mistake is only visible here: each
entry has the reason code and message, the JSON pointer of the field, the event's messageId,
type and event name, the write key's source and when it arrived; never the event's content.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.ingest_rejections import DynamoIngestRejections
from cdp.clock import SystemClock
from cdp.ingestion.rejections import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, RETENTION_DAYS

from cdp_api.context import admin_context
from cdp_api.docs import ok
from cdp_api.errors import coded

router = Router()  # type: ignore[no-untyped-call]

Limit = Annotated[int, coded("invalid_limit", f"`limit` is a whole number from 1 to {MAX_LIST_LIMIT}")]


@router.get("/admin/v1/ingest/rejections", responses=ok(200, "The recent rejections, newest first", "IngestRejections"))
def list_ingest_rejections(
    limit: Annotated[Limit, Query(ge=1, le=MAX_LIST_LIMIT, description="how many, newest first")] = DEFAULT_LIST_LIMIT,
    source: Annotated[str | None, Query(description="only this write key's source")] = None,
) -> dict[str, Any]:
    """200 {"rejections": [...], "retention_days"}."""
    log = DynamoIngestRejections(client("dynamodb"), admin_context().settings.core_table)
    # Filtering by source reads up to the maximum and keeps that source's entries.
    found = log.recent(now_ms=SystemClock().now_ms(), limit=MAX_LIST_LIMIT if source else limit)
    if source:
        found = [rejection for rejection in found if rejection.source == source][:limit]
    return {"rejections": [rejection.as_dict() for rejection in found], "retention_days": RETENTION_DAYS}
