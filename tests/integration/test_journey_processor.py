"""The processor and live journeys on moto: the events a live journey listens to reach the bus as
`event.received` (with their properties) even when the deployment selects none."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings

from tests.integration.conftest import BusObserver, RawStream, Stack
from tests.integration.test_event_processor import ingest, process


def put_live(stack: Stack, events: list[str]) -> None:
    """The live listing as the journey service writes it (only `events` is read here)."""
    doc = {"journeys": {"cart": {"version": 1, "events": events, "segments": []}}, "events": events, "segments": []}
    stack.client("dynamodb").put_item(
        TableName=stack.core_table,
        Item={
            "pk": {"S": "JOURNEYS"},
            "sk": {"S": "LIVE"},
            "revision": {"N": "1"},
            "updated_at": {"S": "2026-03-01T00:00:00.000Z"},
            "doc": {"S": json.dumps(doc)},
        },
    )


def order(message_id: str, cart: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": "M-2001",
        "messageId": message_id,
        "timestamp": "2024-05-01T09:00:00Z",
        "properties": {"cart_id": cart, "revenue": 990},
    }


def test_live_journeys_events_are_published_with_properties_whatever_the_selection(
    stack: Stack, raw_stream: RawStream, bus: BusObserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_PUBLISH_EVENT_RECEIVED, "none")
    put_live(stack, ["Order Completed", "Product Added"])
    ingest(stack, [order("o-1", "C1")])
    ingest(stack, [{**order("v-1", "C1"), "event": "Page Viewed"}])
    assert process(stack, raw_stream.new_records()) == []

    received = [event["detail"]["data"] for event in bus.of_type("event.received")]
    assert [(data["event"], data["properties"]) for data in received] == [
        ("Order Completed", {"cart_id": "C1", "revenue": 990})
    ]
