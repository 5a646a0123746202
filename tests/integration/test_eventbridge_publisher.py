"""EventBridgePublisher on the stack's bus: chunks of 10, every event delivered, failures raise."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.domain_events import EVENT_RECEIVED, PROFILE_UPDATED, DomainEvent
from cdp.errors import StoreUnavailable

from tests.integration.conftest import BusObserver, Stack


def domain_event(n: int) -> DomainEvent:
    return DomainEvent(
        name=PROFILE_UPDATED if n % 2 else EVENT_RECEIVED,
        id=f"evt-{n}",
        time="2024-05-01T10:00:00.000Z",
        correlation_id=f"msg-{n}",
        detail={"profileId": f"p_{n}", "changes": ["trait:name"], "note": "林小美"},
    )


def test_more_than_10_events_are_chunked_and_all_delivered(stack: Stack, bus: BusObserver) -> None:
    client = stack.client("events")
    chunks: list[int] = []
    client.meta.events.register(
        "provide-client-params.events.PutEvents", lambda params, **_: chunks.append(len(params["Entries"]))
    )
    events = [domain_event(n) for n in range(23)]

    EventBridgePublisher(client, stack.bus_name).publish(events)

    assert chunks == [10, 10, 3]
    delivered = bus.drain()
    assert sorted(event["detail"]["id"] for event in delivered) == sorted(f"evt-{n}" for n in range(23))
    first = next(event for event in delivered if event["detail"]["id"] == "evt-1")
    assert first["source"] == "cdp"
    assert first["detail-type"] == PROFILE_UPDATED
    assert first["detail"] == {
        "id": "evt-1",
        "name": PROFILE_UPDATED,
        "version": "1",
        "source": "cdp",
        "time": "2024-05-01T10:00:00.000Z",
        "correlation_id": "msg-1",
        "data": {"profileId": "p_1", "changes": ["trait:name"], "note": "林小美"},
    }


def test_nothing_to_publish_makes_no_call(stack: Stack) -> None:
    client = stack.client("events")
    calls: list[Any] = []
    client.meta.events.register("provide-client-params.events.PutEvents", lambda **kw: calls.append(kw))

    EventBridgePublisher(client, stack.bus_name).publish([])

    assert calls == []


def test_a_failed_entry_raises_store_unavailable(stack: Stack) -> None:
    """moto never fails an entry; this one response shape is stubbed."""
    client = stack.client("events")
    publisher = EventBridgePublisher(client, stack.bus_name)
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "11111111-2222-3333-4444-555555555555"},
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"},
                ],
            },
        )
        with pytest.raises(StoreUnavailable) as raised:
            publisher.publish([domain_event(0), domain_event(1)])
        stubber.assert_no_pending_responses()

    assert raised.value.details == {"errors": ["ThrottlingException"]}


def test_a_missing_bus_raises_store_unavailable(stack: Stack) -> None:
    publisher = EventBridgePublisher(stack.client("events"), "no-such-bus")

    with pytest.raises(StoreUnavailable):
        publisher.publish([domain_event(0)])
