"""EventProcessor on fakes: resolve, fold, commit once, publish; replays and lost races."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from cdp.domain_events import (
    EVENT_RECEIVED,
    IDENTITY_CONFLICT,
    MERGE_REQUESTED,
    PROFILE_UPDATED,
    parse_received_selection,
)
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.identity.resolver import new_profile_id
from cdp.profiles.processor import MAX_ATTEMPTS, CommitOutcome, EventProcessor, ProcessingConflict

from tests import fakes
from tests.fixtures import line_events as line
from tests.fixtures.line_events import USER_ID
from tests.unit.builders import LINE_PROVIDER, NOW_ISO, line_raw, partner_raw

if TYPE_CHECKING:
    from tests.unit.conftest import FakeProfileStore, FakePublisher, FixedClock

MEMBER = Identifier("member_id", "M0001")
EMAIL = Identifier("email", "amy@example.com")
ANON = Identifier("anonymous_id", "a-77")
LINE_USER = line_identifier(LINE_PROVIDER, USER_ID)


def _identify(message_id: str, **fields: Any) -> Any:
    return partner_raw({"type": "identify", "messageId": message_id, "timestamp": "2024-05-01T09:00:00Z", **fields})


def test_first_event_of_a_person_creates_the_profile(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given an identify from the web shop for someone never seen
    raw = _identify("m-1", userId="M0001", traits={"name": "林小美", "email": "Amy@Example.com"})

    # When it is processed
    result = processor.process(raw)

    # Then a profile derived from the event is created and owns the event's identifiers
    profile_id = new_profile_id(raw.event_id)
    assert (result.outcome, result.profile_id) == ("applied", profile_id)
    assert profile_store.claims == {MEMBER.key: profile_id, EMAIL.key: profile_id}
    profile = profile_store.profiles[profile_id]
    assert profile.version == 1
    assert profile.traits["name"].value == "林小美"
    assert profile.event_count == 1
    assert profile_store.was_applied(raw.event_id) == profile_id
    # and the bus hears about the event and the profile change
    assert publisher.names() == [EVENT_RECEIVED, PROFILE_UPDATED]
    received, updated = publisher.published
    assert received.id == f"{raw.event_id}:received"
    assert received.correlation_id == "m-1"
    assert received.detail["profileId"] == profile_id
    assert received.time == NOW_ISO
    assert updated.detail["changes"] == [
        "identifier:member_id",
        "identifier:email",
        "trait:name",
        "trait:email",
        "channel_mix",
    ]


def test_second_event_with_a_shared_identifier_joins_the_same_profile(
    processor: EventProcessor, profile_store: FakeProfileStore
) -> None:
    # Given a member known by member id and email
    first = processor.process(_identify("m-1", userId="M0001", traits={"email": "amy@example.com"}))

    # When an anonymous browsing event carries the same email in its context
    browse = partner_raw(
        {
            "type": "track",
            "anonymousId": "a-77",
            "event": "Product Viewed",
            "context": {"traits": {"email": "amy@example.com"}},
        }
    )
    second = processor.process(browse)

    # Then it lands on the same profile, which now also owns the anonymous id
    assert second.profile_id == first.profile_id
    assert len(profile_store.profiles) == 1
    assert profile_store.claims[ANON.key] == first.profile_id
    profile = profile_store.profiles[first.profile_id]
    assert (profile.version, profile.event_count) == (2, 2)
    assert set(profile.identifiers) == {MEMBER.key, EMAIL.key, ANON.key}


def test_line_follow_then_message_builds_one_friend_profile_with_a_timeline(
    processor: EventProcessor, profile_store: FakeProfileStore
) -> None:
    # Given a follow and then a message from the same LINE user
    follow = line_raw(line.follow(timestamp=1_714_557_600_000))
    message = line_raw(line.text_message("有 M 號嗎", timestamp=1_714_557_660_000))

    # When both are processed
    a = processor.process(follow)
    b = processor.process(message)

    # Then one profile, a friend, with both events on its timeline newest first
    assert a.profile_id == b.profile_id
    profile = profile_store.profiles[a.profile_id]
    assert profile.line_status == "friend"
    assert profile_store.claims == {LINE_USER.key: a.profile_id}
    timeline = profile_store.latest_events(a.profile_id, 10)
    assert [entry["event"] for entry in timeline] == ["LINE Message Received", "LINE Followed"]
    assert profile_store.latest_events(a.profile_id, 1)[0]["properties"]["text"] == "有 M 號嗎"


def test_replay_of_the_same_raw_event_changes_nothing_but_is_announced_again(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher, clock: FixedClock
) -> None:
    # Given an event that was processed
    raw = _identify("m-1", userId="M0001", traits={"tier": "gold"})
    first = processor.process(raw)
    profile_before = profile_store.get(first.profile_id)
    timeline_before = profile_store.latest_events(first.profile_id, 10)

    # When the stream delivers the same record again
    clock.advance(1_000)
    replay = processor.process(raw)

    # Then it is recognised: same profile, nothing changed in the store
    assert (replay.outcome, replay.profile_id) == ("already_applied", first.profile_id)
    assert profile_store.get(first.profile_id) == profile_before
    assert profile_store.latest_events(first.profile_id, 10) == timeline_before
    assert len(profile_store.profiles) == 1
    # and the events committed the first time go out again with the same ids (at-least-once;
    # a publish that failed after the commit is not lost)
    assert publisher.names() == [EVENT_RECEIVED, PROFILE_UPDATED, EVENT_RECEIVED, PROFILE_UPDATED]
    assert [e.id for e in publisher.published[:2]] == [e.id for e in publisher.published[2:]]
    assert publisher.published[2].detail["profileId"] == first.profile_id


def test_replay_of_a_line_event_is_recognised(processor: EventProcessor, profile_store: FakeProfileStore) -> None:
    # Given a LINE message processed once
    raw = line_raw(line.text_message("hi"))
    first = processor.process(raw)

    # When it is processed again
    replay = processor.process(raw)

    # Then it is not counted twice
    assert replay.outcome == "already_applied"
    assert profile_store.profiles[first.profile_id].event_count == 1


def test_identifiers_of_two_profiles_request_a_merge(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given a POS profile (member id) and a web profile (email) that are the same person
    pos = processor.process(_identify("m-pos", userId="M0001"))
    web = processor.process(_identify("m-web", anonymousId="a-77", traits={"email": "amy@example.com"}))
    assert pos.profile_id != web.profile_id
    publisher.published.clear()

    # When an event carries both the member id and the email
    login = processor.process(_identify("m-login", userId="M0001", traits={"email": "amy@example.com"}))

    # Then it goes to the member-id profile, the email stays with its owner until the merge moves
    # it, and a merge of the web profile into the member profile is requested
    assert login.profile_id == pos.profile_id
    assert profile_store.claims[EMAIL.key] == web.profile_id
    assert EMAIL.key not in profile_store.profiles[pos.profile_id].identifiers
    assert publisher.names() == [EVENT_RECEIVED, PROFILE_UPDATED, MERGE_REQUESTED]
    request = publisher.named(MERGE_REQUESTED)[0]
    assert request.detail == {
        "profileId": pos.profile_id,
        "mergeProfileId": web.profile_id,
        "eventId": login.event.event_id,
    }


def test_a_merge_that_breaks_a_rule_publishes_the_conflict(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given two members
    first = processor.process(_identify("m-1", userId="M0001"))
    second = processor.process(_identify("m-2", userId="M0002", traits={"email": "amy@example.com"}))
    publisher.published.clear()

    # When member 1 shows up with member 2's email
    event = processor.process(_identify("m-3", userId="M0001", traits={"email": "amy@example.com"}))

    # Then nothing is merged and the conflict names the rule
    assert event.profile_id == first.profile_id
    assert publisher.names() == [EVENT_RECEIVED, PROFILE_UPDATED, IDENTITY_CONFLICT]
    assert publisher.named(IDENTITY_CONFLICT)[0].detail["conflicts"] == [
        {"type": "email", "value": "amy@example.com", "owner": second.profile_id, "reason": "max_member_id"}
    ]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(line.join(), id="bot-joined-group"),
        pytest.param(line.account_link_failed(), id="failed-account-link"),
        pytest.param(line.bot_suspended(), id="bot-suspended"),
        pytest.param(line.member_joined(), id="members-joined"),
    ],
)
def test_events_without_a_person_are_only_announced(
    payload: dict[str, Any], processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given a LINE event whose source names no user
    # When it is processed
    result = processor.process(line_raw(payload))

    # Then no profile is touched and only event.received is published, without a profile
    assert (result.outcome, result.profile_id) == ("no_identifiers", None)
    assert profile_store.outcomes == []
    assert publisher.names() == [EVENT_RECEIVED]
    assert publisher.published[0].detail["profileId"] is None


def test_partner_event_with_only_junk_ids_is_only_announced(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given a page view whose only id is "undefined"
    result = processor.process(partner_raw({"type": "page", "anonymousId": "undefined", "name": "Home"}))

    # Then nobody is created for it
    assert result.outcome == "no_identifiers"
    assert profile_store.profiles == {}
    assert publisher.names() == [EVENT_RECEIVED]


def test_losing_the_claim_race_joins_the_winner(
    processor: EventProcessor, concurrent_processor: EventProcessor, profile_store: FakeProfileStore
) -> None:
    # Given two events of the same new LINE user processed concurrently: while ours is about to
    # commit, the other one (a follow) commits first and claims the LINE identifier
    ours = line_raw(line.text_message("請問營業時間"))
    theirs = line_raw(line.follow())
    profile_store.before_commit.append(lambda store: concurrent_processor.process(theirs))

    # When ours is processed
    result = processor.process(ours)

    # Then its first commit lost the claim, the retry joined the winner's profile: one person
    assert profile_store.outcomes == [CommitOutcome.APPLIED, CommitOutcome.CLAIM_LOST, CommitOutcome.APPLIED]
    assert len(profile_store.profiles) == 1
    winner = new_profile_id(theirs.event_id)
    assert result.profile_id == winner
    assert new_profile_id(ours.event_id) not in profile_store.profiles
    profile = profile_store.profiles[winner]
    assert (profile.event_count, profile.version, profile.line_status) == (2, 2, "friend")
    assert profile_store.claims == {LINE_USER.key: winner}


def test_losing_the_version_race_retries_on_a_fresh_read_and_loses_no_update(
    processor: EventProcessor, concurrent_processor: EventProcessor, profile_store: FakeProfileStore
) -> None:
    # Given a known member, and another event for them that commits while ours is in flight
    processor.process(_identify("m-1", userId="M0001", traits={"name": "Amy"}))
    other = _identify("m-2", userId="M0001", traits={"city": "台北"})
    profile_store.before_commit.append(lambda store: concurrent_processor.process(other))

    # When ours is processed
    result = processor.process(_identify("m-3", userId="M0001", traits={"tier": "gold"}))

    # Then the stale commit is refused, the retry sees the other update, and all three are kept
    assert profile_store.outcomes[-3:] == [CommitOutcome.APPLIED, CommitOutcome.PROFILE_CHANGED, CommitOutcome.APPLIED]
    profile = profile_store.profiles[result.profile_id]
    assert {name: s.value for name, s in profile.traits.items()} == {"name": "Amy", "city": "台北", "tier": "gold"}
    assert (profile.event_count, profile.version) == (3, 3)


def test_losing_every_race_fails_the_record_for_a_retry(
    processor: EventProcessor, profile_store: FakeProfileStore
) -> None:
    # Given a member whose profile another writer changes before each of our commits
    processor.process(_identify("m-1", userId="M0001"))

    def bump(store: FakeProfileStore) -> None:
        (profile_id,) = store.profiles
        store.profiles[profile_id].version += 1

    profile_store.before_commit.extend([bump] * MAX_ATTEMPTS)

    # When our event is processed
    # Then it gives up after MAX_ATTEMPTS with an error (the stream retries the record)
    with pytest.raises(ProcessingConflict):
        processor.process(_identify("m-2", userId="M0001", traits={"tier": "gold"}))
    assert profile_store.outcomes[1:] == [CommitOutcome.PROFILE_CHANGED] * MAX_ATTEMPTS


def test_identifier_owned_by_a_missing_profile_is_an_error(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given a claim that points at a profile that does not exist (a corrupt or half-merged state)
    profile_store.claims[MEMBER.key] = "p_gone"

    # When an event with that identifier is processed
    # Then it fails loudly instead of creating a second owner, and nothing is published
    with pytest.raises(ProcessingConflict):
        processor.process(_identify("m-1", userId="M0001"))
    assert publisher.published == []


@pytest.mark.parametrize(
    ("selection", "published"),
    [
        (None, [EVENT_RECEIVED, PROFILE_UPDATED, EVENT_RECEIVED, PROFILE_UPDATED]),
        (frozenset(), [PROFILE_UPDATED, PROFILE_UPDATED]),
        (frozenset({"Order Completed"}), [PROFILE_UPDATED, EVENT_RECEIVED, PROFILE_UPDATED]),
    ],
)
def test_event_received_is_published_for_the_selected_events_only(
    event_normalizer: EventNormalizer,
    profile_store: FakeProfileStore,
    clock: FixedClock,
    selection: frozenset[str] | None,
    published: list[str],
) -> None:
    # Given a deployment that publishes event.received for all, none, or only orders
    publisher = fakes.FakePublisher()
    processor = EventProcessor(event_normalizer, profile_store, publisher, clock, received=selection)

    # When a person is identified, then orders
    processor.process(_identify("m-sel-1", userId="M0001", traits={"name": "林小美"}))
    processor.process(
        partner_raw(
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "M0001",
                "messageId": "m-sel-2",
                "properties": {"revenue": 5},
            }
        )
    )

    # Then the profile changes always reach the bus, event.received only as selected
    assert publisher.names() == published


@pytest.mark.parametrize(
    ("spec", "selection"),
    [("all", None), (" ALL ", None), ("none", frozenset()), ("", frozenset()), ("A, B", frozenset({"A", "B"}))],
)
def test_received_selection_is_read_from_its_setting(spec: str, selection: frozenset[str] | None) -> None:
    assert parse_received_selection(spec) == selection


def test_a_received_selection_with_an_empty_name_is_refused() -> None:
    with pytest.raises(ValueError, match="event names separated by commas"):
        parse_received_selection("Order Completed,,")


def _order(message_id: str, properties: dict[str, Any]) -> Any:
    return partner_raw(
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "M0001",
            "messageId": message_id,
            "properties": properties,
        }
    )


def test_event_received_is_published_for_events_live_journeys_listen_to_with_their_properties(
    event_normalizer: EventNormalizer, profile_store: FakeProfileStore, clock: FixedClock
) -> None:
    # Given a deployment that selects no event.received, and a live journey waiting for orders
    publisher = fakes.FakePublisher()
    listened = {"names": frozenset({"Order Completed"})}
    processor = EventProcessor(
        event_normalizer,
        profile_store,
        publisher,
        clock,
        received=frozenset(),
        journey_events=lambda: listened["names"],
    )

    # When a person is identified, then orders
    processor.process(_identify("m-jr-1", userId="M0001", traits={"name": "林小美"}))
    processor.process(_order("m-jr-2", {"cart_id": "C1", "revenue": 5}))

    # Then only the order goes on the bus as event.received, with its properties
    (received,) = publisher.named(EVENT_RECEIVED)
    assert received.detail["event"] == "Order Completed"
    assert received.detail["properties"] == {"cart_id": "C1", "revenue": 5}
    assert "propertiesDropped" not in received.detail

    # And once no live journey listens, orders are not published any more
    listened["names"] = frozenset()
    processor.process(_order("m-jr-3", {"cart_id": "C2"}))
    assert len(publisher.named(EVENT_RECEIVED)) == 1


def test_event_received_drops_properties_beyond_8_kb_and_says_so(
    event_normalizer: EventNormalizer, profile_store: FakeProfileStore, clock: FixedClock
) -> None:
    publisher = fakes.FakePublisher()
    processor = EventProcessor(event_normalizer, profile_store, publisher, clock)
    processor.process(_order("m-big-1", {"cart_id": "C1", "notes": "x" * 8000}))
    processor.process(_order("m-big-2", {"cart_id": "C1", "notes": "x" * 9000}))
    small, big = publisher.named(EVENT_RECEIVED)
    assert small.detail["properties"]["cart_id"] == "C1" and "propertiesDropped" not in small.detail
    assert big.detail["properties"] is None and big.detail["propertiesDropped"] is True
