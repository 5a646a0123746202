"""RawEventStore and RawEventWriter: the fakes and DynamoRawEventStore behave alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore, raw_event_from_item
from cdp.clock import epoch_seconds
from cdp.events.raw import RawEvent

from tests.fakes import FakeRawEventStore
from tests.fakes_imports import FakeRawEventWriter
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws

TTL_SECONDS = 7 * 86400
RECEIVED = "2026-05-01T00:00:00.000Z"


class Adapter:
    """The adapter with a strongly consistent read of what it stored."""

    def __init__(self, aws: Aws) -> None:
        self.store = DynamoRawEventStore(aws.dynamodb, aws.raw_table, TTL_SECONDS)
        self._aws = aws

    def stored(self, event_id: str) -> RawEvent | None:
        item = self._aws.dynamodb.get_item(
            TableName=self._aws.raw_table, Key={"pk": {"S": event_id}}, ConsistentRead=True
        ).get("Item")
        return raw_event_from_item(item) if item else None


class Fake:
    def __init__(self) -> None:
        self.store = FakeRawEventStore()
        self.writer = FakeRawEventWriter()

    def stored(self, event_id: str) -> RawEvent | None:
        return self.store.events.get(event_id) or self.writer.events.get(event_id)


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    return Adapter(moto_stack) if request.param == ADAPTER else Fake()


def writer(impl: Any) -> Any:
    return impl.store if isinstance(impl, Adapter) else impl.writer


def event(payload: dict[str, Any] | None = None, *, event_id: str | None = None) -> RawEvent:
    return RawEvent(
        event_id=event_id or f"partner:default:{uuid.uuid4().hex}",
        origin="partner",
        source="default",
        received_at=RECEIVED,
        payload=payload or {"type": "track", "event": "Viewed", "userId": "M1", "properties": {"名前": "テスト"}},
        destination="U0001",
        provider="prov",
    )


def test_store_once_stores_each_id_once_and_answers_which_it_stored(impl: Any) -> None:
    first, second = event(), event()
    assert impl.store.store_once([first]) == [True]
    assert impl.store.store_once([second, first]) == [True, False]
    assert impl.store.store_once([]) == []
    assert impl.stored(first.event_id) == first
    assert impl.stored(second.event_id) == second


def test_a_redelivery_with_other_content_keeps_the_first_version(impl: Any) -> None:
    original = event()
    impl.store.store_once([original])
    again = event({"type": "track", "event": "Changed", "userId": "M1"}, event_id=original.event_id)
    assert impl.store.store_once([again]) == [False]
    assert impl.stored(original.event_id) == original


def test_the_same_id_twice_in_one_call_is_stored_once(impl: Any) -> None:
    duplicate = event()
    assert sorted(impl.store.store_once([duplicate, duplicate])) == [False, True]
    assert impl.stored(duplicate.event_id) == duplicate


def test_put_all_writes_every_event_and_overwrites_by_id(impl: Any) -> None:
    events = [event() for _ in range(30)]  # more than one batch of 25
    writer(impl).put_all(events)
    writer(impl).put_all(events[:3])  # a retried chunk writes identical items again
    assert [impl.stored(e.event_id) for e in events] == events


def test_the_adapter_writes_the_tables_ttl_attribute(moto_stack: Aws, template: dict[str, Any]) -> None:
    stored = event()
    Adapter(moto_stack).store.store_once([stored])
    table = next(r for lid, r in template["Resources"].items() if lid.startswith("TablesRawEvents"))
    ttl_attribute = table["Properties"]["TimeToLiveSpecification"]["AttributeName"]
    item = moto_stack.dynamodb.get_item(TableName=moto_stack.raw_table, Key={"pk": {"S": stored.event_id}})["Item"]
    assert int(item[ttl_attribute]["N"]) == epoch_seconds(RECEIVED) + TTL_SECONDS
