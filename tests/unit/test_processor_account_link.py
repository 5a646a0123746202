"""The `accountLink` webhook in the processor: a valid nonce binds the LINE user to its member."""

from __future__ import annotations

import pytest
from cdp.domain_events import IDENTITY_LINK_REJECTED, MERGE_REQUESTED
from cdp.events.canonical import EventNormalizer
from cdp.identity.account_link import AccountLinks
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.profiles.processor import EventProcessor

from tests.fakes import FakeLinkNonceStore, FakeProfileStore, FakePublisher, FixedClock
from tests.fixtures import line_events as line
from tests.fixtures.line_events import OTHER_USER_ID, USER_ID, user_source
from tests.unit.builders import LINE_CHANNEL, LINE_PROVIDER, line_raw, partner_raw

MEMBER = Identifier("member_id", "M0001")


@pytest.fixture
def links(clock: FixedClock) -> AccountLinks:
    return AccountLinks(FakeLinkNonceStore(), clock)


@pytest.fixture
def linking_processor(
    event_normalizer: EventNormalizer,
    profile_store: FakeProfileStore,
    publisher: FakePublisher,
    clock: FixedClock,
    links: AccountLinks,
) -> EventProcessor:
    return EventProcessor(event_normalizer, profile_store, publisher, clock, account_links=links)


def test_a_valid_nonce_binds_the_line_user_to_the_member_and_requests_the_merge(
    linking_processor: EventProcessor, links: AccountLinks, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given the member's profile and the LINE friend's profile
    member = linking_processor.process(partner_raw({"type": "identify", "userId": "M0001", "messageId": "m-1"}))
    friend = linking_processor.process(line_raw(line.follow()))
    nonce = links.issue(channel=LINE_CHANNEL, provider=LINE_PROVIDER, line_user_id=USER_ID, member_id="M0001").nonce

    # When LINE reports the link with that nonce
    linked = linking_processor.process(line_raw(line.account_link(nonce)))

    # Then the event names both, goes to the member profile, and the LINE profile is to be merged in
    assert set(linked.event.identifiers) == {MEMBER, line_identifier(LINE_PROVIDER, USER_ID)}
    assert linked.event.properties["memberId"] == "M0001"
    assert linked.profile_id == member.profile_id
    assert linked.merge_from == [friend.profile_id]
    assert [e.detail["mergeProfileId"] for e in publisher.named(MERGE_REQUESTED)] == [friend.profile_id]
    assert publisher.named(IDENTITY_LINK_REJECTED) == []


@pytest.mark.parametrize(
    ("issued_for", "reason"),
    [
        pytest.param(None, "unknown_nonce", id="never-issued"),
        pytest.param(OTHER_USER_ID, "line_user_mismatch", id="issued-for-another-line-user"),
    ],
)
def test_a_nonce_that_binds_nobody_is_recorded_with_its_reason(
    issued_for: str | None,
    reason: str,
    linking_processor: EventProcessor,
    links: AccountLinks,
    publisher: FakePublisher,
) -> None:
    nonce = "x" * 43
    if issued_for is not None:
        nonce = links.issue(
            channel=LINE_CHANNEL, provider=LINE_PROVIDER, line_user_id=issued_for, member_id="M0001"
        ).nonce

    result = linking_processor.process(line_raw(line.account_link(nonce)))

    assert MEMBER not in result.event.identifiers
    assert result.event.properties["linkRejectedReason"] == reason
    (rejected,) = publisher.named(IDENTITY_LINK_REJECTED)
    assert rejected.detail == {"profileId": result.profile_id, "eventId": result.event.event_id, "reason": reason}
    assert publisher.named(MERGE_REQUESTED) == []


def test_a_nonce_is_used_once_but_a_replay_of_the_same_event_still_binds(
    linking_processor: EventProcessor, links: AccountLinks, publisher: FakePublisher
) -> None:
    nonce = links.issue(channel=LINE_CHANNEL, provider=LINE_PROVIDER, line_user_id=USER_ID, member_id="M0001").nonce
    first = line.account_link(nonce)
    linking_processor.process(line_raw(first))

    replay = linking_processor.process(line_raw(first))  # the stream delivers the same record again
    reuse = linking_processor.process(line_raw(line.account_link(nonce, source=user_source(USER_ID))))

    assert MEMBER in replay.event.identifiers and replay.outcome == "already_applied"
    assert reuse.event.properties["linkRejectedReason"] == "already_used"
    assert MEMBER not in reuse.event.identifiers
