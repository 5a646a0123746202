"""The journey store: InMemoryJourneyStore and DynamoJourneyStore behave alike (drafts with
compare-and-set, immutable versions, the live listing written with the journey or not at all)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cdp.adapters.dynamodb.journeys import DynamoJourneyStore
from cdp.journeys.definition import parse_definition
from cdp.journeys.model import DRAFT, PAUSED, PUBLISHED, Journey, PublishedVersion
from cdp.journeys.service import LiveChange, live_entry

from tests.fakes_journeys import InMemoryJourneyStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique
from tests.unit.test_journey_validation import cart

AT = "2026-05-01T00:00:00.000Z"


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoJourneyStore(moto_stack.dynamodb, moto_stack.core_table)
    return InMemoryJourneyStore()


def draft(journey_id: str) -> Journey:
    document = parse_definition(cart()).document()
    return Journey(journey_id=journey_id, status=DRAFT, draft=document, created_at=AT, updated_at=AT)


def published(journey: Journey, number: int) -> tuple[Journey, PublishedVersion]:
    version = PublishedVersion(
        journey_id=journey.journey_id,
        version=number,
        document=journey.draft,
        templates={"cart-reminder": 3},
        published_at=AT,
        state_machine_arn=f"arn:aws:states:ap-northeast-1:123456789012:stateMachine:j-{number}",
    )
    moved = dataclasses.replace(
        journey,
        status=PUBLISHED,
        live_version=number,
        versions=(*journey.versions, number),
        revision=journey.revision + 1,
        extra={"published_at": AT},
    )
    return moved, version


def test_a_journey_is_created_once_read_and_listed(store: Any) -> None:
    journey = draft(unique("j"))
    assert store.create(journey) is True
    assert store.create(dataclasses.replace(journey, draft={"name": "other"})) is False
    assert store.get(journey.journey_id) == journey
    assert journey in store.list()
    assert store.get(unique("nobody")) is None


def test_a_draft_is_replaced_only_with_the_revision_read(store: Any) -> None:
    journey = draft(unique("j"))
    store.create(journey)
    edited = dataclasses.replace(journey, draft={**journey.draft, "name": "edited"}, revision=2)
    assert store.replace(edited, expected_revision=1) is True
    assert store.replace(dataclasses.replace(edited, revision=3), expected_revision=1) is False
    assert store.get(journey.journey_id) == edited
    assert store.replace(draft(unique("never-created")), expected_revision=1) is False


def test_publishing_writes_the_version_the_journey_and_the_listing_together(store: Any) -> None:
    journey = draft(unique("j"))
    store.create(journey)
    moved, version = published(journey, 1)
    live = LiveChange(journey.journey_id, live_entry(version))
    assert store.replace(moved, expected_revision=1, version=version, live=live) is True
    assert store.get(journey.journey_id) == moved
    assert store.version(journey.journey_id, 1) == version
    assert store.version(journey.journey_id, 2) is None and store.version(journey.journey_id, 0) is None
    listing = store.live_index()
    assert listing["journeys"][journey.journey_id] == {
        "version": 1,
        "entry": {"type": "event", "event": "Product Added"},
        "events": ["Link Clicked", "Order Completed", "Product Added"],
        "segments": [],
    }
    assert {"Order Completed", "Product Added"} <= set(listing["events"]) and listing["revision"] >= 1
    assert version in store.live()


def test_a_stale_publish_writes_nothing(store: Any) -> None:
    journey = draft(unique("j"))
    store.create(journey)
    first, version = published(journey, 1)
    store.replace(first, expected_revision=1, version=version, live=LiveChange(journey.journey_id, live_entry(version)))
    before = store.live_index()
    # the version number is taken (another publish won): nothing is written
    second, clash = published(first, 1)
    clash = dataclasses.replace(clash, templates={"cart-reminder": 9})
    live = LiveChange(journey.journey_id, {**live_entry(clash), "version": 99})
    assert store.replace(second, expected_revision=first.revision, version=clash, live=live) is False
    # the journey moved on (a stale revision): nothing is written either
    third, newer = published(first, 2)
    assert store.replace(third, expected_revision=1, version=newer, live=live) is False
    assert store.get(journey.journey_id) == first
    assert store.version(journey.journey_id, 1) == version and store.version(journey.journey_id, 2) is None
    after = store.live_index()
    assert after["journeys"][journey.journey_id] == before["journeys"][journey.journey_id]


def test_pausing_takes_the_journey_out_of_the_listing(store: Any) -> None:
    journey = draft(unique("j"))
    store.create(journey)
    moved, version = published(journey, 1)
    store.replace(moved, expected_revision=1, version=version, live=LiveChange(journey.journey_id, live_entry(version)))
    paused = dataclasses.replace(moved, status=PAUSED, revision=moved.revision + 1)
    assert store.replace(paused, expected_revision=moved.revision, live=LiveChange(journey.journey_id, None))
    assert journey.journey_id not in store.live_index()["journeys"]
    assert all(live.journey_id != journey.journey_id for live in store.live())
    assert store.version(journey.journey_id, 1) == version  # versions stay readable


def test_a_draft_is_deleted_with_the_revision_read(store: Any) -> None:
    journey = draft(unique("j"))
    store.create(journey)
    assert store.delete(journey.journey_id, expected_revision=2) is False
    assert store.delete(journey.journey_id, expected_revision=1) is True
    assert store.get(journey.journey_id) is None
    assert store.delete(journey.journey_id, expected_revision=1) is False


# --- the adapter's items and races -------------------------------------------------------------
def test_the_items_are_keyed_as_the_runtime_reads_them(moto_stack: Aws) -> None:
    store = DynamoJourneyStore(moto_stack.dynamodb, moto_stack.core_table)
    journey = draft(unique("j"))
    store.create(journey)
    moved, version = published(journey, 1)
    store.replace(moved, expected_revision=1, version=version, live=LiveChange(journey.journey_id, live_entry(version)))
    table = moto_stack.core_table
    pk = {"S": f"JOURNEY#{journey.journey_id}"}
    definition = moto_stack.dynamodb.get_item(TableName=table, Key={"pk": pk, "sk": {"S": "DEF"}})["Item"]
    assert (definition["gsi1pk"]["S"], definition["gsi1sk"]["S"]) == ("JOURNEYS", journey.journey_id)
    assert (definition["status"]["S"], definition["revision"]["N"]) == (PUBLISHED, "2")
    stored = moto_stack.dynamodb.get_item(TableName=table, Key={"pk": pk, "sk": {"S": "V#000001"}})["Item"]
    assert PublishedVersion.from_dict(json.loads(stored["doc"]["S"])) == version
    listing = moto_stack.dynamodb.get_item(TableName=table, Key={"pk": {"S": "JOURNEYS"}, "sk": {"S": "LIVE"}})["Item"]
    assert set(listing) >= {"revision", "updated_at", "doc"}
    assert json.loads(listing["doc"]["S"])["journeys"][journey.journey_id]["version"] == 1


class ListingMovesOnce:
    """A client whose first transaction meets a listing another journey just changed."""

    def __init__(self, client: Any, table: str, other: str) -> None:
        self._client = client
        self._table = table
        self._other = other
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.transactions == 1:
            other = DynamoJourneyStore(self._client, self._table)
            journey = draft(self._other)
            other.create(journey)
            moved, version = published(journey, 1)
            live = LiveChange(self._other, live_entry(version))
            assert other.replace(moved, expected_revision=1, version=version, live=live)
        return self._client.transact_write_items(**kwargs)


def test_a_listing_changed_by_another_journey_is_read_again_and_both_stay_listed(moto_stack: Aws) -> None:
    other = unique("other")
    client = ListingMovesOnce(moto_stack.dynamodb, moto_stack.core_table, other)
    store = DynamoJourneyStore(client, moto_stack.core_table)
    journey = draft(unique("j"))
    store.create(journey)
    moved, version = published(journey, 1)
    live = LiveChange(journey.journey_id, live_entry(version))
    assert store.replace(moved, expected_revision=1, version=version, live=live) is True
    assert client.transactions == 2
    listed = store.live_index()["journeys"]
    assert {journey.journey_id, other} <= set(listed)
