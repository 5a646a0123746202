"""Accept a LINE webhook delivery: verify, validate, store each event once. No profile work here."""

from __future__ import annotations

from dataclasses import dataclass

from cdp.clock import iso_from_ms
from cdp.errors import NotFound
from cdp.events.line_webhook import RejectedEvent, parse_delivery, signature_is_valid, verify_signature
from cdp.events.raw import RawEvent, line_event_id
from cdp.ingestion.channels import LineChannels
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
) -> LineDeliveryResult:
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
    return LineDeliveryResult(stored=new, duplicates=len(stored) - new, rejected=delivery.rejected)
