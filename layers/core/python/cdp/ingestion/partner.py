"""Accept Segment/RudderStack-format calls: authenticate, validate per event, store each once.

Good events are stored even when others in the same batch are rejected; the response lists
rejections per index so the sender can fix exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, Unauthorized
from cdp.events.raw import RawEvent, partner_event_id
from cdp.events.segment import InvalidEvent, parse_request, validate_event
from cdp.ingestion.channels import WriteKeys
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
) -> PartnerCallResult:
    # A key in the header is checked before the body is parsed: strangers get a 401, not a parser.
    source = write_keys.source_for(header_write_key) if header_write_key else None
    if header_write_key and source is None:
        raise Unauthorized("a valid write key is required (HTTP Basic user or `writeKey`)", code="invalid_write_key")
    request = parse_request(call, body)
    source = source or write_keys.source_for(request.body_write_key)
    if source is None:
        raise Unauthorized("a valid write key is required (HTTP Basic user or `writeKey`)", code="invalid_write_key")
    now_ms = clock.now_ms()
    received_at = iso_from_ms(now_ms)
    result = PartnerCallResult(source=source)
    events: list[RawEvent] = []
    seen: set[str] = set()
    for index, item in enumerate(request.items):
        try:
            event = validate_event(item, single_call=request.single_call, shared=request.shared, received_at_ms=now_ms)
        except InvalidEvent as exc:
            if request.single_call is not None:  # the whole body is this one event: 400
                raise BadRequest(exc.message, code=exc.code, details={"field": exc.field}) from exc
            result.rejected.append(Rejection(index, exc.code, exc.message, exc.field))
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
    return result
