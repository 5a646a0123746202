"""Segments on moto: the DynamoDB segment store, and the real-time evaluator over the real adapters."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.profiles.model import Profile, apply_event
from cdp.profiles.processor import CommitOutcome
from cdp.segments.realtime import SegmentEvaluator
from cdp.segments.store import SegmentDefinition

from tests.fakes import FakePublisher, FixedClock
from tests.integration.conftest import Stack
from tests.unit.builders import NOW_ISO, canonical

CITY_TAIPEI = {"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}}
BOUGHT = {"event": {"name": "Order Completed", "within": {"last": {"days": 1}}}}


@pytest.fixture
def segments(stack: Stack) -> DynamoSegmentStore:
    return DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)


@pytest.fixture
def profiles(stack: Stack) -> DynamoProfileStore:
    return DynamoProfileStore(stack.client("dynamodb"), stack.core_table)


def fold(profiles: DynamoProfileStore, profile_id: str, event_id: str, **fields: Any) -> None:
    """What the processor does: read, fold one event, bump the version, commit."""
    profile = profiles.get(profile_id) or Profile.new(profile_id, NOW_ISO)
    event = canonical(event_id=event_id, timestamp=NOW_ISO, **fields)
    expected = profile.version
    apply_event(profile, event, [], NOW_ISO)
    profile.version = expected + 1
    assert profiles.commit(event=event, profile=profile, expected_version=expected, claims=[]) is CommitOutcome.APPLIED


def test_definitions_are_created_once_and_replaced_by_compare_and_set(segments: DynamoSegmentStore) -> None:
    definition = SegmentDefinition.create("taipei", "Taipei", CITY_TAIPEI, NOW_ISO)
    assert segments.create(definition)
    assert not segments.create(definition)
    assert segments.get("taipei") == definition and segments.get("nope") is None

    revised = definition.revised("Taipei people", CITY_TAIPEI, "2026-01-01T00:00:00.000Z")
    assert segments.replace(revised, expected_version=1)
    assert not segments.replace(revised.revised("x", CITY_TAIPEI, NOW_ISO), expected_version=1)
    assert segments.get("taipei") == revised
    assert segments.create(SegmentDefinition.create("buyers", "Buyers", BOUGHT, NOW_ISO))
    assert [d.segment_id for d in segments.definitions()] == ["buyers", "taipei"]


def test_enter_and_exit_are_conditional_with_history_and_a_per_profile_index(
    stack: Stack, segments: DynamoSegmentStore
) -> None:
    assert segments.enter("taipei", "p1", at=NOW_ISO, rule_version=1)
    assert not segments.enter("taipei", "p1", at="2026-01-01T00:00:00.000Z", rule_version=1)
    assert segments.enter("buyers", "p1", at=NOW_ISO, rule_version=2)
    assert segments.enter("taipei", "p2", at=NOW_ISO, rule_version=1)
    assert [(m.segment_id, m.entered_at, m.rule_version) for m in segments.memberships("p1")] == [
        ("buyers", NOW_ISO, 2),
        ("taipei", NOW_ISO, 1),
    ]
    assert segments.count_members("taipei") == 2
    page, cursor = segments.members("taipei", limit=1)
    assert [m.profile_id for m in page] == ["p1"] and cursor == "p1"
    page, cursor = segments.members("taipei", limit=1, after=cursor)
    assert [m.profile_id for m in page] == ["p2"]

    assert segments.exit("taipei", "p1", at="2026-01-01T00:00:00.000Z", rule_version=1)
    assert not segments.exit("taipei", "p1", at="2026-01-02T00:00:00.000Z", rule_version=1)
    assert [m.segment_id for m in segments.memberships("p1")] == ["buyers"]
    assert segments.member_of("p1", ["taipei", "buyers", "nope"]) == {"buyers"}
    assert segments.member_of("p2", [f"s{i}" for i in range(150)] + ["taipei"]) == {"taipei"}
    history = sorted(
        (item["profile_id"]["S"], item["action"]["S"])
        for item in stack.scan(stack.core_table)
        if item["pk"]["S"] == "SEGMENT#taipei" and item["sk"]["S"].startswith("HIST#")
    )
    assert history == [("p1", "entered"), ("p1", "exited"), ("p2", "entered")]


def test_the_evaluator_on_the_real_stores_enters_once_and_publishes_on_the_bus(
    stack: Stack, segments: DynamoSegmentStore, profiles: DynamoProfileStore
) -> None:
    assert segments.create(SegmentDefinition.create("taipei", "Taipei", CITY_TAIPEI, NOW_ISO))
    assert segments.create(SegmentDefinition.create("buyers", "Buyers", BOUGHT, NOW_ISO))
    fold(profiles, "p1", "e-1", type="identify", event=None, traits={"city": "Taipei"})
    fold(profiles, "p1", "e-2", event="Order Completed")
    clock = FixedClock()
    publisher = FakePublisher()
    evaluator = SegmentEvaluator(segments, profiles, publisher, clock)

    result = evaluator.on_profile_changed("p1", ["orders"])
    assert result.evaluated == ["buyers"] and result.entered == ["buyers"]
    result = evaluator.on_profile_changed("p1", [])
    assert result.entered == ["taipei"]
    evaluator.on_profile_changed("p1", [])  # a replay
    assert [e.id for e in publisher.published] == ["buyers:p1:entered:1:2", "taipei:p1:entered:1:2"]
    assert [m.segment_id for m in segments.memberships("p1")] == ["buyers", "taipei"]

    clock.advance(2 * 86_400_000)
    bus = EventBridgePublisher(stack.client("events"), stack.bus_name)
    assert SegmentEvaluator(segments, profiles, bus, clock).on_profile_changed("p1", []).exited == ["buyers"]
    assert [m.segment_id for m in segments.memberships("p1")] == ["taipei"]
