"""The raw event: what an ingestion path stores before it answers 2xx.

Raw events are immutable records of what arrived. The dedup key (`event_id`) is derived from
the provider's own delivery id, so a redelivery or an SDK retry maps to the same item and the
conditional write stores it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Origin = Literal["line", "partner"]


@dataclass(frozen=True, slots=True)
class RawEvent:
    event_id: str
    origin: Origin
    source: str  # LINE channel name or partner source name
    received_at: str  # ISO-8601 UTC with milliseconds
    payload: dict[str, Any]
    destination: str | None = None  # LINE: the bot user id the webhook was addressed to
    provider: str | None = None  # LINE: the provider that scopes the event's user ids


def line_event_id(channel: str, webhook_event_id: str) -> str:
    return f"line#{channel}#{webhook_event_id}"


def partner_event_id(source: str, message_id: str) -> str:
    return f"partner#{source}#{message_id}"
