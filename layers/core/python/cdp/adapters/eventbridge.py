"""EventBridge publisher: PutEvents in chunks of 10; any failed entry is an error (the record retries)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.domain_events import SOURCE, DomainEvent
from cdp.errors import StoreUnavailable

PUT_EVENTS_LIMIT = 10


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for start in range(0, len(events), PUT_EVENTS_LIMIT):
            chunk = events[start : start + PUT_EVENTS_LIMIT]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": event.name,
                    "Detail": json.dumps(event.envelope(), ensure_ascii=False, default=str),
                    "EventBusName": self._bus,
                }
                for event in chunk
            ]
            try:
                response = self._client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise StoreUnavailable("publishing to EventBridge failed") from exc
            if response.get("FailedEntryCount", 0):
                failed = [e.get("ErrorCode") for e in response.get("Entries", []) if e.get("ErrorCode")]
                raise StoreUnavailable("EventBridge rejected entries", details={"errors": failed})
