"""SegmentStore: FakeSegmentStore and DynamoSegmentStore behave alike."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.segments.store import SegmentDefinition, SizeSample, member_ids

from tests.fakes import FakeSegmentStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique

RULE = {"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}}
T0 = "2026-05-01T00:00:00.000Z"


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoSegmentStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeSegmentStore()


def _at(second: int) -> str:
    return f"2026-05-01T00:00:{second:02d}.000Z"


def definition(segment_id: str) -> SegmentDefinition:
    return SegmentDefinition.create(segment_id, "Taipei", RULE, T0)


def test_create_refuses_a_taken_id_and_get_answers_the_stored_definition(store: Any) -> None:
    segment = unique("seg")
    assert store.create(definition(segment)) is True
    assert store.create(replace(definition(segment), name="Other")) is False
    assert store.get(segment) == definition(segment)
    assert store.get(unique("missing")) is None
    assert segment in [d.segment_id for d in store.definitions()]


def test_replace_is_compare_and_set_on_the_version(store: Any) -> None:
    segment = unique("seg")
    assert store.replace(definition(segment), expected_version=1) is False  # nothing to replace
    store.create(definition(segment))
    newer = replace(definition(segment), name="Renamed", version=2, updated_at=_at(5))
    assert store.replace(newer, expected_version=2) is False
    assert store.replace(newer, expected_version=1) is True
    assert store.replace(replace(newer, version=3), expected_version=1) is False  # a lost race
    assert store.get(segment) == newer


def test_enter_and_exit_are_idempotent_and_leave_one_history_entry_each(store: Any) -> None:
    segment, person = unique("seg"), unique("p")
    assert store.enter(segment, person, at=_at(1), rule_version=1) is True
    assert store.enter(segment, person, at=_at(2), rule_version=1) is False
    assert store.member_of(person, [segment, unique("other")]) == {segment}
    assert [m.segment_id for m in store.memberships(person)] == [segment]
    assert store.exit(segment, person, at=_at(3), rule_version=1) is True
    assert store.exit(segment, person, at=_at(4), rule_version=1) is False
    assert store.member_of(person, [segment]) == set()
    assert [(c.action, c.at) for c in store.changes(segment, limit=10)] == [("exited", _at(3)), ("entered", _at(1))]
    assert [(c.segment_id, c.action) for c in store.profile_changes(person, limit=1)] == [(segment, "exited")]


def test_members_page_by_profile_id_with_a_cursor_until_the_end(store: Any) -> None:
    segment = unique("seg")
    people = [f"p_{i:02d}" for i in (7, 3, 11, 1, 5)]
    for person in people:
        store.enter(segment, person, at=_at(1), rule_version=1)
    first, cursor = store.members(segment, limit=2)
    assert [m.profile_id for m in first] == ["p_01", "p_03"]
    assert cursor is not None
    second, cursor = store.members(segment, limit=2, after=cursor)
    assert [m.profile_id for m in second] == ["p_05", "p_07"]
    last, cursor = store.members(segment, limit=2, after=cursor)
    assert [m.profile_id for m in last] == ["p_11"]
    assert cursor is None
    assert list(member_ids(store, segment, page_size=2)) == sorted(people)
    assert store.count_members(segment) == 5
    assert store.members(unique("empty"), limit=2) == ([], None)


def test_an_exact_last_page_ends_without_a_cursor(store: Any) -> None:
    segment = unique("seg")
    for person in ("p_1", "p_2"):
        store.enter(segment, person, at=_at(1), rule_version=1)
    page, cursor = store.members(segment, limit=2)
    assert [m.profile_id for m in page] == ["p_1", "p_2"]
    assert cursor is None


def test_history_between_two_instants_is_oldest_first_and_bounded(store: Any) -> None:
    segment = unique("seg")
    for second, person in enumerate(("a", "b", "c", "d"), start=1):
        store.enter(segment, person, at=_at(second), rule_version=1)
    found = list(store.changes_between(segment, after=_at(1), until=_at(3)))
    assert [(c.profile_id, c.at) for c in found] == [("b", _at(2)), ("c", _at(3))]


def test_size_samples_newest_first(store: Any) -> None:
    segment = unique("seg")
    for second in (1, 3, 2):
        store.record_size(SizeSample(segment, _at(second), members=second, entered=1, exited=0, rule_version=1))
    assert [s.at for s in store.sizes(segment, limit=2)] == [_at(3), _at(2)]


def test_audience_sync_record_is_compare_and_set_on_its_revision(store: Any) -> None:
    segment = unique("seg")
    record = {"revision": "r1", "audienceGroupId": 42, "channel": "default", "members": ["a"]}
    assert store.get_audience_sync(segment) is None
    assert store.put_audience_sync(segment, record, replacing="r0") is False  # nothing to replace
    assert store.put_audience_sync(segment, record, replacing=None) is True
    assert store.get_audience_sync(segment) == record
    assert store.put_audience_sync(segment, {**record, "revision": "r2"}, replacing="r0") is False
    assert store.put_audience_sync(segment, {**record, "revision": "r2"}, replacing="r1") is True
    assert store.delete_audience_sync(segment) == {**record, "revision": "r2"}
    assert store.delete_audience_sync(segment) is None
    assert store.get_audience_sync(segment) is None
