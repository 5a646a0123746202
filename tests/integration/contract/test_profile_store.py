"""ProfileStore, ProfileReader and MergeStore: FakeProfileStore and DynamoProfileStore behave alike."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.clock import iso_from_ms
from cdp.events.canonical import CanonicalEvent, EventNormalizer
from cdp.events.raw import RawEvent, partner_event_id
from cdp.events.segment import validate_event
from cdp.identity.identifiers import Identifier, IdentifierNormalizer
from cdp.identity.merge import MergeLedger
from cdp.profiles.model import Profile, apply_event
from cdp.profiles.processor import CommitOutcome

from tests.fakes import FakeProfileStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws

NOW_MS = 1_714_561_200_000
NOW = iso_from_ms(NOW_MS)
NORMALIZER = EventNormalizer(IdentifierNormalizer("TW"))


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoProfileStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeProfileStore()


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def partner_event(*, timestamp: str = "2024-05-01T10:00:00Z", **fields: Any) -> CanonicalEvent:
    message_id = uid("m-")
    item = {"type": "identify", "messageId": message_id, "timestamp": timestamp, **fields}
    payload = validate_event(item, single_call=None, shared={}, received_at_ms=NOW_MS)
    return NORMALIZER.normalize(RawEvent(partner_event_id("web-shop", message_id), "partner", "web-shop", NOW, payload))


def commit(store: Any, event: CanonicalEvent, profile: Profile, claims: Sequence[Identifier]) -> CommitOutcome:
    """What the processor does: fold the event into the profile it read, bump the version, commit."""
    expected = profile.version
    apply_event(profile, event, list(claims), NOW)
    profile.version = expected + 1
    outcome: CommitOutcome = store.commit(event=event, profile=profile, expected_version=expected, claims=claims)
    return outcome


def test_a_commit_stores_profile_claims_timeline_and_marker(store: Any) -> None:
    member = uid("M-")
    event = partner_event(userId=member, traits={"email": f"{member}@Example.com"})
    profile_id = uid("p_")
    assert commit(store, event, Profile.new(profile_id, NOW), event.identifiers) is CommitOutcome.APPLIED
    stored = store.get(profile_id)
    assert stored is not None
    assert (stored.version, stored.event_count, sorted(stored.identifiers)) == (
        1,
        1,
        sorted(i.key for i in event.identifiers),
    )
    assert store.owners(event.identifiers) == {i.key: profile_id for i in event.identifiers}
    assert store.owner(Identifier("member_id", member)) == profile_id
    assert store.was_applied(event.event_id) == profile_id
    assert [e["eventId"] for e in store.latest_events(profile_id, 10)] == [event.event_id]
    assert store.get(uid("p_")) is None
    assert store.get_many([profile_id, uid("p_")]).keys() == {profile_id}


def test_outcomes_follow_marker_then_version_then_claims_and_a_refused_commit_writes_nothing(store: Any) -> None:
    member = uid("M-")
    first = partner_event(userId=member)
    profile_id = uid("p_")
    assert commit(store, first, Profile.new(profile_id, NOW), first.identifiers) is CommitOutcome.APPLIED
    current = store.get(profile_id)
    assert commit(store, first, current, []) is CommitOutcome.ALREADY_APPLIED  # a replay
    stale = store.get(profile_id)
    stale.version = 0
    second = partner_event(userId=member, traits={"tier": "gold"})
    assert commit(store, second, stale, []) is CommitOutcome.PROFILE_CHANGED
    rival = partner_event(userId=member, anonymousId=uid("anon-"))
    assert commit(store, rival, Profile.new(uid("p_"), NOW), rival.identifiers) is CommitOutcome.CLAIM_LOST
    # Refused commits left nothing behind: no marker, no new profile, no claim, no timeline entry.
    assert store.was_applied(second.event_id) is None
    assert store.was_applied(rival.event_id) is None
    assert store.owners(rival.identifiers) == {Identifier("member_id", member).key: profile_id}
    assert store.get(profile_id).version == 1
    assert len(store.latest_events(profile_id, 10)) == 1


def test_domain_events_are_kept_with_the_marker(store: Any) -> None:
    from cdp.domain_events import DomainEvent

    event = partner_event(userId=uid("M-"))
    profile_id = uid("p_")
    profile = Profile.new(profile_id, NOW)
    apply_event(profile, event, list(event.identifiers), NOW)
    profile.version = 1
    published = [DomainEvent(name="profile.created", id=uid("d-"), time=NOW, detail={"profileId": profile_id})]
    outcome = store.commit(event=event, profile=profile, expected_version=0, claims=event.identifiers, events=published)
    assert outcome is CommitOutcome.APPLIED
    assert store.applied_events(event.event_id) == published
    assert store.applied_events(uid("e-")) == []


def test_the_timeline_is_newest_first_limited_and_pages_oldest_first(store: Any) -> None:
    member = uid("M-")
    profile_id = uid("p_")
    events = [partner_event(userId=member, timestamp=f"2024-05-01T10:00:0{n}Z") for n in range(5)]
    profile = Profile.new(profile_id, NOW)
    for index, event in enumerate(events):
        assert commit(store, event, profile, event.identifiers if index == 0 else []) is CommitOutcome.APPLIED
        profile = store.get(profile_id)
    assert [e["eventId"] for e in store.latest_events(profile_id, 2)] == [events[4].event_id, events[3].event_id]
    entries = store.timeline(profile_id)
    assert [entry.event().event_id for entry in entries] == [e.event_id for e in events]
    page = store.timeline_page(profile_id, limit=2)
    assert [entry.event().event_id for entry in page] == [e.event_id for e in events[:2]]


def test_ledgers_are_written_on_their_expected_status_and_listed_by_survivor(store: Any) -> None:
    survivor = uid("p_")
    first = MergeLedger(uid("m_"), survivor, uid("p_"), "merging", "e-1", "2026-11-23T00:00:00.000Z")
    second = MergeLedger(uid("m_"), survivor, uid("p_"), "merging", "e-2", "2026-11-23T00:00:01.000Z")
    assert store.put_ledger(first, expected_status=None) is True
    assert store.put_ledger(first, expected_status=None) is False  # exists
    assert store.put_ledger(second, expected_status="merged") is False  # does not exist yet
    assert store.put_ledger(second, expected_status=None) is True
    assert store.get_ledger(first.merge_id) == first
    assert store.get_ledger(uid("m_")) is None
    assert [ledger.merge_id for ledger in store.merges_into(survivor)] == [first.merge_id, second.merge_id]


def test_begin_is_all_or_nothing(store: Any) -> None:
    event = partner_event(userId=uid("M-"))
    profile_id = uid("p_")
    commit(store, event, Profile.new(profile_id, NOW), event.identifiers)
    profile = store.get(profile_id)
    ledger = MergeLedger(uid("m_"), profile_id, uid("p_"), "merging", "e-1", NOW)
    assert store.begin(ledger, expected_status=None, profiles=[(profile, 7)]) is False  # stale version
    assert store.get_ledger(ledger.merge_id) is None  # the ledger was not written either
    assert store.begin(ledger, expected_status=None, profiles=[(profile, 1)]) is True
    assert store.get_ledger(ledger.merge_id) is not None
