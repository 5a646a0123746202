"""A known person's event commits in three single-item writes (marker, profile, timeline entry)
instead of one transaction, at half the write units. A crash before or after any of the writes,
then the stream's replay, must still leave the event folded into the profile once and on the
timeline once; so must lost races between concurrent events of the same person."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cdp.adapters import aws as aws_clients
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.clock import iso_from_ms
from cdp.events.raw import RawEvent, partner_event_id
from cdp.events.segment import validate_event
from cdp.profiles.model import APPLIED_RECENT_LIMIT
from cdp.profiles.processor import EventProcessor, ProcessingConflict, ProcessResult

from tests.integration.conftest import Stack

NOW_MS = 1_714_561_200_000
MEMBER = "M-2001"


class Crash(Exception):
    """The Lambda dies here: nothing after this point of the invocation runs."""


def raw(message_id: str, **fields: Any) -> RawEvent:
    item = {
        "type": "track",
        "event": "Product Viewed",
        "userId": MEMBER,
        "messageId": message_id,
        "timestamp": "2024-05-01T10:00:00Z",
        **fields,
    }
    payload = validate_event(item, single_call=None, shared={}, received_at_ms=NOW_MS)
    return RawEvent(partner_event_id("web-shop", message_id), "partner", "web-shop", iso_from_ms(NOW_MS), payload)


def item_kind(params: dict[str, Any]) -> str:
    key = params["Item"]
    if key["pk"]["S"].startswith("APPLIED#"):
        return "marker"
    return "profile" if key["sk"]["S"] == "PROFILE" else "timeline"


@pytest.fixture
def processor(stack: Stack) -> EventProcessor:
    built: EventProcessor = stack.runtime.module("event_processor").build()
    return built


@pytest.fixture
def store(stack: Stack) -> DynamoProfileStore:
    return DynamoProfileStore(stack.client("dynamodb"), stack.core_table)


@pytest.fixture
def crash_at() -> Iterator[list[tuple[str, str]]]:
    """(when, kind) to crash at once, e.g. ("after", "profile"): the processor's own client."""
    plan: list[tuple[str, str]] = []
    client = aws_clients.client("dynamodb")

    last: list[dict[str, Any]] = []

    def maybe_crash(when: str, params: dict[str, Any]) -> None:
        if plan and plan[0] == (when, item_kind(params)):
            plan.pop(0)
            raise Crash(f"{when} the {item_kind(params)} write")

    def before(params: dict[str, Any], **_: Any) -> None:
        last[:] = [params]
        maybe_crash("before", params)

    def after(**_: Any) -> None:
        maybe_crash("after", last[0])

    client.meta.events.register("provide-client-params.dynamodb.PutItem", before)
    client.meta.events.register("after-call.dynamodb.PutItem", after)
    yield plan
    client.meta.events.unregister("provide-client-params.dynamodb.PutItem", before)
    client.meta.events.unregister("after-call.dynamodb.PutItem", after)


def known_person(processor: EventProcessor) -> str:
    first = processor.process(raw("first", traits={"email": "kai@example.com"}))
    assert first.outcome == "applied" and first.profile_id
    return first.profile_id


def timeline_ids(store: DynamoProfileStore, profile_id: str) -> list[str]:
    return [entry.document["eventId"] for entry in store.timeline(profile_id)]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("kind", ["marker", "profile", "timeline"])
def test_a_crash_around_any_write_then_the_replay_applies_the_event_once(
    processor: EventProcessor, store: DynamoProfileStore, crash_at: list[tuple[str, str]], when: str, kind: str
) -> None:
    profile_id = known_person(processor)
    event = raw("viewed")
    crash_at.append((when, kind))

    with pytest.raises(Crash):
        processor.process(event)
    replay = processor.process(event)
    again = processor.process(event)

    profile = store.get(profile_id)
    assert profile is not None
    assert profile.event_count == 2
    assert sorted(timeline_ids(store, profile_id)) == sorted([raw("first").event_id, event.event_id])
    assert store.was_applied(event.event_id) == profile_id
    assert again.outcome == "already_applied"
    # The replay that finished the work reports it as applied; a replay of finished work does not.
    finished_before_crash = (when, kind) in {("after", "profile"), ("before", "timeline"), ("after", "timeline")}
    assert replay.outcome == ("already_applied" if finished_before_crash else "applied")


def test_a_marker_left_by_a_crash_is_taken_over_after_other_events_moved_the_profile(
    processor: EventProcessor, store: DynamoProfileStore, crash_at: list[tuple[str, str]]
) -> None:
    profile_id = known_person(processor)
    crashed = raw("crashed", properties={"sku": "A"})
    crash_at.append(("before", "profile"))
    with pytest.raises(Crash):
        processor.process(crashed)
    assert store.was_applied(crashed.event_id) is None  # its marker says where, not that it is done

    for n in range(3):
        assert processor.process(raw(f"meanwhile-{n}")).outcome == "applied"
    assert processor.process(crashed).outcome == "applied"

    profile = store.get(profile_id)
    assert profile is not None and profile.event_count == 5
    assert timeline_ids(store, profile_id).count(crashed.event_id) == 1


def test_an_event_applied_long_ago_is_not_applied_again_once_the_profile_no_longer_lists_it(
    processor: EventProcessor, store: DynamoProfileStore
) -> None:
    profile_id = known_person(processor)
    old = raw("old")
    processor.process(old)
    for n in range(APPLIED_RECENT_LIMIT + 2):
        processor.process(raw(f"later-{n}"))
    profile = store.get(profile_id)
    assert profile is not None and not profile.has_applied(old.event_id)

    assert processor.process(old).outcome == "already_applied"
    after = store.get(profile_id)
    assert after is not None and after.event_count == profile.event_count


def test_concurrent_events_of_one_known_person_are_each_applied_once(
    processor: EventProcessor, store: DynamoProfileStore
) -> None:
    profile_id = known_person(processor)
    threads = 6
    events = [raw(f"burst-{n}", properties={"n": n}) for n in range(threads)]
    start = threading.Barrier(threads)

    def run(event: RawEvent) -> ProcessResult:
        start.wait()
        for _attempt in range(11):  # a lost race fails the record and Lambda retries it
            try:
                return processor.process(event)
            except ProcessingConflict:
                continue
        raise AssertionError(f"{event.event_id} never committed")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(run, events))

    assert {result.outcome for result in results} == {"applied"}
    profile = store.get(profile_id)
    assert profile is not None and profile.event_count == 1 + threads
    assert sorted(timeline_ids(store, profile_id)) == sorted([raw("first").event_id, *(e.event_id for e in events)])


def test_an_unfinished_event_whose_person_was_merged_away_meanwhile_lands_on_the_survivor(
    processor: EventProcessor, store: DynamoProfileStore, crash_at: list[tuple[str, str]], stack: Stack
) -> None:
    loser_id = known_person(processor)
    survivor = processor.process(raw("other", userId="M-3001", traits={"email": "kai.other@example.com"}))
    assert survivor.profile_id and survivor.profile_id != loser_id
    crashed = raw("crashed-before-merge")
    crash_at.append(("before", "profile"))
    with pytest.raises(Crash):
        processor.process(crashed)

    # The loser is merged into the survivor before the stream retries (the merge keeps its folds)
    loser = store.get(loser_id)
    assert loser is not None
    expected, loser.merged_into = loser.version, survivor.profile_id
    loser.version += 1
    stack.client("dynamodb").put_item(**store._profile_put(loser, expected))

    assert processor.process(crashed).outcome == "applied"
    after = store.get(survivor.profile_id)
    assert after is not None and after.event_count == 2 and after.has_applied(crashed.event_id)
    assert timeline_ids(store, survivor.profile_id).count(crashed.event_id) == 1
    assert store.was_applied(crashed.event_id) == survivor.profile_id
    assert processor.process(crashed).outcome == "already_applied"
