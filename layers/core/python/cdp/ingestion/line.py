"""Accept a LINE webhook delivery: verify, validate, store each event once. No profile work here."""

from __future__ import annotations

from dataclasses import dataclass

from cdp.clock import iso_from_ms
from cdp.errors import CdpError, NotFound
from cdp.events.line_webhook import RejectedEvent, parse_delivery, signature_is_valid, verify_signature
from cdp.events.raw import RawEvent, line_event_id
from cdp.ingestion.channels import LineChannels
from cdp.ingestion.rejections import MAX_RECORDED_PER_REQUEST, RejectionLog, describe_line_event
from cdp.observability import logger
from cdp.ports import Clock, RawEventStore


@dataclass(frozen=True, slots=True)
class LineDeliveryResult:
    stored: int
    duplicates: int
    rejected: list[RejectedEvent]


def accept_line_delivery(
    *,
    channel_name: str,
    body: bytes,
    signature: str | None,
    channels: LineChannels,
    store: RawEventStore,
    clock: Clock,
    rejections: RejectionLog | None = None,
) -> LineDeliveryResult:
    """Refused events of a verified delivery are recorded in `rejections` (best effort) for
    GET /admin/v1/ingest/rejections; nothing is recorded before the signature is verified."""
    channel = channels.find(channel_name)
    # The secret is cached: a channel just filled in (or a rotated secret) looks unknown or
    # unsigned until the cache expires. Re-read it once (rate-limited) before refusing.
    if (channel is None or not signature_is_valid(channel.secret, body, signature)) and channels.refresh():
        channel = channels.find(channel_name)
    if channel is None:
        raise NotFound(f"no LINE channel named {channel_name!r} is configured", code="unknown_channel")
    verify_signature(channel.secret, body, signature)  # before the body is parsed at all
    delivery = parse_delivery(body)
    received_at = iso_from_ms(clock.now_ms())
    events = [
        RawEvent(
            event_id=line_event_id(channel.name, event["webhookEventId"]),
            origin="line",
            source=channel.name,
            received_at=received_at,
            payload=event,
            destination=delivery.destination,
            provider=channel.provider_id,
        )
        for event in delivery.events
    ]
    stored = store.store_once(events)
    new = sum(stored)
    if rejections is not None and delivery.rejected:
        _record(rejections, delivery.rejected, received_at=received_at, channel=channel.name)
    return LineDeliveryResult(stored=new, duplicates=len(stored) - new, rejected=delivery.rejected)


def _record(rejections: RejectionLog, refused: list[RejectedEvent], *, received_at: str, channel: str) -> None:
    records = [
        describe_line_event(
            r.event,
            received_at=received_at,
            channel=channel,
            error=r.reason,
            message=r.message,
            index=r.index,
            field=r.field,
        )
        for r in refused[:MAX_RECORDED_PER_REQUEST]
    ]
    try:
        rejections.record(records)
    except CdpError as error:  # LINE gets its answer either way; the good events are stored
        logger.warning("webhook rejections not recorded", extra={"error": error.code, "count": len(records)})
