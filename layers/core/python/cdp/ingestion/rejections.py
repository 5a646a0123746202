"""Rejected ingest events, kept for a debugger view: SDKs ignore per-event rejections in a 200.

What is kept is the reason and how to find the event again (its messageId, type and event name,
the source of its write key, when it arrived), never its payload: traits and properties hold
personal data, and the debugger is for fixing senders, not for reading what they sent.
A request records at most `MAX_RECORDED_PER_REQUEST` rejections (a broken sender repeats the same
mistake), and records expire after `RETENTION_DAYS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from cdp.events.segment import CALL_TYPES, MAX_MESSAGE_ID_LENGTH

MAX_RECORDED_PER_REQUEST = 25  # one BatchWriteItem
RETENTION_DAYS = 7
MAX_EVENT_NAME_LENGTH = 200
DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class IngestRejection:
    received_at: str  # ISO-8601 UTC, ms
    source: str  # the write key's source name (never the key itself), or the LINE channel's name
    call: str  # the /v1/<call> route, or `line_webhook`
    error: str  # the stable reason code the sender got
    message: str
    index: int | None = None  # the event's position in a batch; None for a single call
    field: str | None = None
    message_id: str | None = None  # LINE: the webhookEventId
    type: str | None = None  # LINE: the webhook event type (`message`, `follow`, ...)
    event: str | None = None  # a track call's event name

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestRejection:
        index = data.get("index")
        return cls(
            received_at=str(data["received_at"]),
            source=str(data["source"]),
            call=str(data["call"]),
            error=str(data["error"]),
            message=str(data.get("message", "")),
            index=index if isinstance(index, int) else None,
            field=data.get("field"),
            message_id=data.get("message_id"),
            type=data.get("type"),
            event=data.get("event"),
        )


class RejectionLog(Protocol):
    def record(self, rejections: Sequence[IngestRejection]) -> None:
        """Keep these rejections (at most MAX_RECORDED_PER_REQUEST per call); raise StoreUnavailable."""
        ...

    def recent(self, *, now_ms: int, limit: int) -> list[IngestRejection]:
        """The newest first, from the retention window ending at `now_ms`."""
        ...


def describe(
    item: Any,
    *,
    received_at: str,
    source: str,
    call: str,
    error: str,
    message: str,
    index: int | None,
    field: str | None,
) -> IngestRejection:
    """A rejection with the identifying fields the event carried, each checked (it was refused)."""
    event = item if isinstance(item, dict) else {}
    event_type = event.get("type") if event.get("type") in CALL_TYPES else (call if call in CALL_TYPES else None)
    return IngestRejection(
        received_at=received_at,
        source=source,
        call=call,
        error=error,
        message=_safe(message),
        index=index,
        field=_safe(field) if field is not None else None,
        message_id=_identifier(event.get("messageId"), MAX_MESSAGE_ID_LENGTH),
        type=event_type,
        event=_identifier(event.get("event"), MAX_EVENT_NAME_LENGTH),
    )


LINE_WEBHOOK_CALL = "line_webhook"
MAX_LINE_TYPE_LENGTH = 64


def describe_line_event(
    event: Any, *, received_at: str, channel: str, error: str, message: str, index: int, field: str | None
) -> IngestRejection:
    """A refused LINE webhook event: its webhookEventId and type, never its content."""
    item = event if isinstance(event, dict) else {}
    return IngestRejection(
        received_at=received_at,
        source=channel,
        call=LINE_WEBHOOK_CALL,
        error=error,
        message=_safe(message),
        index=index,
        field=_safe(field) if field is not None else None,
        message_id=_identifier(item.get("webhookEventId"), MAX_MESSAGE_ID_LENGTH),
        type=_identifier(item.get("type"), MAX_LINE_TYPE_LENGTH),
    )


def _identifier(value: Any, limit: int) -> str | None:
    """Printable text only (no lone surrogates or control characters), cut to `limit`."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        return None
    return value.strip()[:limit]


def _safe(text: str) -> str:
    """Text that encodes as UTF-8: a lone surrogate (a JSON pointer to a refused key) is escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


__all__ = [
    "DEFAULT_LIST_LIMIT",
    "MAX_LIST_LIMIT",
    "MAX_RECORDED_PER_REQUEST",
    "RETENTION_DAYS",
    "IngestRejection",
    "RejectionLog",
    "describe",
    "describe_line_event",
]
