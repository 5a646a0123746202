"""GET /admin/v1/ingest/rejections: the recent ingest rejections, newest first (a debugger view).

SDKs ignore the per-event rejections of a 200, so a sender's mistake is only visible here: each
entry has the reason code and message, the JSON pointer of the field, the event's messageId,
type and event name, the write key's source and when it arrived; never the event's content.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.ingest_rejections import DynamoIngestRejections
from cdp.admin.context import admin_context
from cdp.clock import SystemClock
from cdp.errors import BadRequest
from cdp.ingestion.rejections import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, RETENTION_DAYS

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/ingest/rejections")
def list_ingest_rejections() -> dict[str, Any]:
    """?limit=1-200 (default 50), ?source=<write key source>: 200 {"rejections": [...], "retention_days"}."""
    query = router.current_event.query_string_parameters or {}
    raw_limit = query.get("limit")
    limit = DEFAULT_LIST_LIMIT
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIST_LIMIT:
            raise BadRequest(f"`limit` is a whole number from 1 to {MAX_LIST_LIMIT}", code="invalid_limit")
        limit = int(raw_limit)
    source = query.get("source")
    log = DynamoIngestRejections(client("dynamodb"), admin_context().settings.core_table)
    # Filtering by source reads up to the maximum and keeps that source's entries.
    found = log.recent(now_ms=SystemClock().now_ms(), limit=MAX_LIST_LIMIT if source else limit)
    if source:
        found = [rejection for rejection in found if rejection.source == source][:limit]
    return {"rejections": [rejection.as_dict() for rejection in found], "retention_days": RETENTION_DAYS}
