"""Accept Segment/RudderStack-format calls: authenticate, validate per event, store each once.

Good events are stored even when others in the same batch are rejected; the response lists
rejections per index so the sender can fix exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, CdpError, Unauthorized
from cdp.events.raw import RawEvent, partner_event_id
from cdp.events.segment import InvalidEvent, parse_request, validate_event
from cdp.ingestion.channels import WriteKeys
from cdp.ingestion.rejections import MAX_RECORDED_PER_REQUEST, IngestRejection, RejectionLog, describe
from cdp.observability import logger
from cdp.ports import Clock, RawEventStore


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    error: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index, "error": self.error, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


@dataclass(slots=True)
class PartnerCallResult:
    source: str
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    recorded: list[IngestRejection] = field(default_factory=list)  # what the rejections log was given

    def as_dict(self) -> dict[str, Any]:
        return {
            "success": not self.rejected,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [rejection.as_dict() for rejection in self.rejected],
        }


def accept_partner_call(
    *,
    call: str,
    body: bytes,
    header_write_key: str | None,
    write_keys: WriteKeys,
    store: RawEventStore,
    clock: Clock,
    rejections: RejectionLog | None = None,
) -> PartnerCallResult:
    """Rejections from a known source are recorded in `rejections` (best effort; see
    cdp.ingestion.rejections); strangers' bodies are never recorded."""
    # A key in the header is checked before the body is parsed: strangers get a 401, not a parser.
    source = write_keys.source_for(header_write_key) if header_write_key else None
    if header_write_key and source is None:
        raise Unauthorized("a valid write key is required (HTTP Basic user or `writeKey`)", code="invalid_write_key")
    now_ms = clock.now_ms()
    received_at = iso_from_ms(now_ms)
    try:
        request = parse_request(call, body)
    except CdpError as error:
        if source is not None:
            _record(rejections, [_refused(None, error, received_at=received_at, source=source, call=call)])
        raise
    source = source or write_keys.source_for(request.body_write_key)
    if source is None:
        raise Unauthorized("a valid write key is required (HTTP Basic user or `writeKey`)", code="invalid_write_key")
    result = PartnerCallResult(source=source)
    events: list[RawEvent] = []
    seen: set[str] = set()
    for index, item in enumerate(request.items):
        try:
            event = validate_event(
                item,
                single_call=request.single_call,
                shared=request.shared,
                received_at_ms=now_ms,
                walk_values=request.suspect,
            )
        except InvalidEvent as exc:
            described = describe(
                item,
                received_at=received_at,
                source=source,
                call=call,
                error=exc.code,
                message=exc.message,
                index=None if request.single_call is not None else index,
                field=exc.field,
            )
            if request.single_call is not None:  # the whole body is this one event: 400
                _record(rejections, [described])
                raise BadRequest(exc.message, code=exc.code, details={"field": exc.field}) from exc
            result.rejected.append(Rejection(index, exc.code, exc.message, exc.field))
            result.recorded.append(described)
            continue
        message_id = event["messageId"]
        if message_id in seen:  # the same event twice in one batch
            result.duplicates += 1
            continue
        seen.add(message_id)
        result.message_ids.append(message_id)
        events.append(
            RawEvent(
                event_id=partner_event_id(source, message_id),
                origin="partner",
                source=source,
                received_at=received_at,
                payload=event,
            )
        )
    stored = store.store_once(events)
    result.accepted = sum(stored)
    result.duplicates += len(stored) - result.accepted
    result.recorded = result.recorded[:MAX_RECORDED_PER_REQUEST]
    _record(rejections, result.recorded)
    return result


def _refused(item: Any, error: CdpError, *, received_at: str, source: str, call: str) -> IngestRejection:
    details = error.details if isinstance(error.details, dict) else {}
    field_name = details.get("field")
    return describe(
        item,
        received_at=received_at,
        source=source,
        call=call,
        error=error.code,
        message=error.message,
        index=None,
        field=field_name if isinstance(field_name, str) else None,
    )


def _record(rejections: RejectionLog | None, records: list[IngestRejection]) -> None:
    """Best effort: the sender already has its answer, and the good events are stored."""
    if rejections is None or not records:
        return
    try:
        rejections.record(records)
    except CdpError as error:
        logger.warning("ingest rejections not recorded", extra={"error": error.code, "count": len(records)})
