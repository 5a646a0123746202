"""Test data builders shared by the unit tests: configuration constants, raw and canonical events."""

from __future__ import annotations

from typing import Any

from cdp.clock import iso_from_ms
from cdp.events.canonical import CanonicalEvent
from cdp.events.raw import RawEvent, line_event_id, partner_event_id
from cdp.events.segment import validate_event
from cdp.identity.identifiers import Identifier

from tests.fixtures.line_events import BOT_USER_ID

LINE_CHANNELS_SECRET_ID = "cdp/line-channels"
WRITE_KEYS_SECRET_ID = "cdp/write-keys"
LINE_CHANNEL = "main-oa"
SECOND_CHANNEL = "store-oa"  # a second channel with its own provider
LINE_PROVIDER = "2001234567"
WRITE_KEY = "wk_live_5f2c9a1e7b3d4c8a"
WRITE_KEY_SOURCE = "web-shop"
POS_WRITE_KEY = "wk_live_pos_0c7e1b2a9d"
POS_SOURCE = "pos"
NOW_MS = 1_714_561_200_000  # 2024-05-01T11:00:00Z, an hour after the LINE fixtures' events
NOW_ISO = iso_from_ms(NOW_MS)


def line_raw(
    event: dict[str, Any],
    *,
    channel: str = LINE_CHANNEL,
    provider: str | None = LINE_PROVIDER,
    destination: str = BOT_USER_ID,
    received_at: str = NOW_ISO,
) -> RawEvent:
    """A LINE webhook event as the webhook path stores it."""
    return RawEvent(
        event_id=line_event_id(channel, event["webhookEventId"]),
        origin="line",
        source=channel,
        received_at=received_at,
        payload=event,
        destination=destination,
        provider=provider,
    )


def partner_raw(item: dict[str, Any], *, source: str = WRITE_KEY_SOURCE, received_at_ms: int = NOW_MS) -> RawEvent:
    """A Segment-format call as the ingest path stores it (validated, server fields set)."""
    payload = validate_event(item, single_call=None, shared={}, received_at_ms=received_at_ms)
    return RawEvent(
        event_id=partner_event_id(source, payload["messageId"]),
        origin="partner",
        source=source,
        received_at=iso_from_ms(received_at_ms),
        payload=payload,
    )


def canonical(
    *,
    event_id: str,
    timestamp: str,
    type: str = "track",
    event: str | None = "Product Viewed",
    channel: str = "web",
    traits: dict[str, Any] | None = None,
    identifiers: list[Identifier] | None = None,
    line_follow: str | None = None,
    line_identifier: Identifier | None = None,
    source: str = WRITE_KEY_SOURCE,
    origin: str = "partner",
) -> CanonicalEvent:
    """A canonical event built directly, for profile-model tests that do not need normalisation."""
    return CanonicalEvent(
        event_id=event_id,
        message_id=event_id,
        type=type,
        event=event,
        channel=channel,
        timestamp=timestamp,
        received_at=timestamp,
        origin=origin,
        source=source,
        traits=dict(traits or {}),
        identifiers=list(identifiers or []),
        line_follow=line_follow,
        line_identifier=line_identifier,
    )
