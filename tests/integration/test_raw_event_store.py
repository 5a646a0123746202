"""DynamoRawEventStore on the stack's raw-events table: one conditional put per event, TTL, round trip."""

from __future__ import annotations

import pytest
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore, raw_event_from_item
from cdp.clock import epoch_seconds
from cdp.errors import StoreUnavailable
from cdp.events.raw import RawEvent, line_event_id, partner_event_id

from tests.fixtures import line_events
from tests.integration.conftest import RawStream, Stack

TTL_SECONDS = 30 * 86400
RECEIVED_AT = "2024-05-01T10:00:01.234Z"


def line_raw(event: dict, received_at: str = RECEIVED_AT) -> RawEvent:
    return RawEvent(
        event_id=line_event_id("main-oa", event["webhookEventId"]),
        origin="line",
        source="main-oa",
        received_at=received_at,
        payload=event,
        destination=line_events.BOT_USER_ID,
        provider="2001234567",
    )


def partner_raw(message_id: str) -> RawEvent:
    return RawEvent(
        event_id=partner_event_id("web-shop", message_id),
        origin="partner",
        source="web-shop",
        received_at=RECEIVED_AT,
        payload={
            "type": "track",
            "event": "Order Completed",
            "messageId": message_id,
            "userId": "M-1001",
            "properties": {"revenue": 5000, "currency": "TWD", "products": [{"sku": "外套-黑-M", "price": 5000}]},
        },
    )


@pytest.fixture
def store(stack: Stack) -> DynamoRawEventStore:
    return DynamoRawEventStore(stack.client("dynamodb"), stack.raw_table, TTL_SECONDS)


def test_stores_an_event_once(stack: Stack, store: DynamoRawEventStore) -> None:
    event = line_raw(line_events.follow())

    assert store.store_once([event]) == [True]
    assert store.store_once([event]) == [False]

    items = stack.raw_items()
    assert list(items) == [event.event_id]


def test_a_redelivery_does_not_overwrite_the_first_copy(stack: Stack, store: DynamoRawEventStore) -> None:
    first = line_events.text_message("第一次")
    redelivered = {**first, "deliveryContext": {"isRedelivery": True}}

    assert store.store_once([line_raw(first)]) == [True]
    assert store.store_once([line_raw(redelivered, received_at="2024-05-01T10:05:00.000Z")]) == [False]

    stored = raw_event_from_item(stack.raw_items()[line_raw(first).event_id])
    assert stored.payload["deliveryContext"] == {"isRedelivery": False}
    assert stored.received_at == RECEIVED_AT


def test_stores_100_events_in_parallel_and_reports_each(stack: Stack, store: DynamoRawEventStore) -> None:
    events = [line_raw(line_events.text_message(f"訊息 {n}")) for n in range(100)]
    already = events[::10]
    assert store.store_once(already) == [True] * len(already)

    result = store.store_once(events)

    assert result == [index % 10 != 0 for index in range(100)]  # answers stay in input order
    assert set(stack.raw_items()) == {event.event_id for event in events}
    assert store.store_once(events) == [False] * 100


def test_sets_ttl_from_received_at(stack: Stack, store: DynamoRawEventStore) -> None:
    event = partner_raw("msg-ttl-1")
    store.store_once([event])

    item = stack.raw_items()[event.event_id]

    assert int(item["expires_at"]["N"]) == epoch_seconds(RECEIVED_AT) + TTL_SECONDS
    description = stack.client("dynamodb").describe_time_to_live(TableName=stack.raw_table)
    assert description["TimeToLiveDescription"]["AttributeName"] == "expires_at"  # the attribute the table expires on


@pytest.mark.parametrize(
    "event",
    [
        line_raw(line_events.text_message_with_emojis()),
        line_raw(line_events.account_link_failed()),  # no source
        partner_raw("msg-roundtrip-1"),  # no destination / provider
    ],
    ids=["line", "line-no-source", "partner"],
)
def test_item_round_trips_to_the_same_raw_event(
    stack: Stack, store: DynamoRawEventStore, raw_stream: RawStream, event: RawEvent
) -> None:
    store.store_once([event])

    assert raw_event_from_item(stack.raw_items()[event.event_id]) == event
    (record,) = raw_stream.new_records()  # the processor reads the stream's NewImage, not the table
    assert record["eventName"] == "INSERT"
    assert raw_event_from_item(record["dynamodb"]["NewImage"]) == event


def test_a_missing_table_is_store_unavailable(stack: Stack) -> None:
    store = DynamoRawEventStore(stack.client("dynamodb"), "no-such-table", TTL_SECONDS)

    with pytest.raises(StoreUnavailable) as raised:
        store.store_once([partner_raw("msg-x"), partner_raw("msg-y")])

    assert raised.value.details == {"aws_error": "ResourceNotFoundException"}
