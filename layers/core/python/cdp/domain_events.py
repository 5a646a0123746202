"""Domain events published on the EventBridge bus, in one envelope.

Consumers dedup on `id`, which is derived from what caused the event (the raw event id, the
profile version), so a replayed stream record republishes the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCE = "cdp"
SCHEMA_VERSION = "1"

EVENT_RECEIVED = "event.received"
PROFILE_UPDATED = "profile.updated"
IDENTITY_CONFLICT = "identity.conflict"
IDENTITY_LINK_REJECTED = "identity.link_rejected"  # an accountLink that bound nobody, and why
MERGE_REQUESTED = "identity.merge_requested"
PROFILE_MERGED = "profile.merged"
PROFILE_UNMERGED = "profile.unmerged"
# the send point's outcomes (cdp.messaging.send_point), whatever `event.received` publishes
MESSAGE_SENT = "message.sent"
MESSAGE_SUPPRESSED = "message.suppressed"
MESSAGE_FAILED = "message.failed"
SEGMENT_ENTERED = "segment.entered"
SEGMENT_EXITED = "segment.exited"
# a journey run (cdp.journeys): entered, each node done, ended (with the reason)
JOURNEY_ENTERED = "journey.entered"
JOURNEY_NODE_COMPLETED = "journey.node_completed"
JOURNEY_EXITED = "journey.exited"

# Which events the processor publishes as `event.received` (one EventBridge entry per event, US$ 1
# per million): "all", "none", or event names separated by commas (e.g. "Order Completed").
RECEIVED_ALL = "all"
RECEIVED_NONE = "none"


def parse_received_selection(spec: str) -> frozenset[str] | None:
    """None: every event; else the event names to publish (empty: none)."""
    text = spec.strip()
    if text.lower() == RECEIVED_ALL:
        return None
    if text.lower() in (RECEIVED_NONE, ""):
        return frozenset()
    names = [name.strip() for name in text.split(",")]
    if any(not name for name in names):
        raise ValueError(f"{spec!r}: expected all, none or event names separated by commas")
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    name: str  # EventBridge detail-type
    id: str  # stable id for consumer-side dedup
    time: str  # ISO-8601 UTC
    detail: dict[str, Any]
    correlation_id: str | None = None

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": SCHEMA_VERSION,
            "source": SOURCE,
            "time": self.time,
            "correlation_id": self.correlation_id,
            "data": self.detail,
        }

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe form, kept with the APPLIED marker so a retry can republish the same events."""
        return {"name": self.name, "id": self.id, "time": self.time, "detail": self.detail, "cid": self.correlation_id}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DomainEvent:
        return cls(
            name=record["name"],
            id=record["id"],
            time=record["time"],
            detail=record["detail"],
            correlation_id=record.get("cid"),
        )
