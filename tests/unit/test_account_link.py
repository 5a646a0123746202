"""Account-link nonces: issued random and short-lived, consumed once by the webhook event that brings them back."""

from __future__ import annotations

import re

import pytest
from cdp.clock import iso_from_ms
from cdp.errors import StoreUnavailable
from cdp.identity.account_link import (
    CONSUMED_RETENTION_SECONDS,
    NONCE_MAX_LENGTH,
    NONCE_MIN_LENGTH,
    AccountLinks,
    LinkNonce,
    LinkOutcome,
    generate_nonce,
)

from tests.fakes import FakeLinkNonceStore, FixedClock
from tests.fixtures.line_events import OTHER_USER_ID, USER_ID, account_link, account_link_failed
from tests.unit.builders import LINE_CHANNEL, LINE_PROVIDER, NOW_MS

MEMBER = "M-1001"
EVENT = "line#main-oa#01HX0000000000000000000001"
OTHER_EVENT = "line#main-oa#01HX0000000000000000000002"


@pytest.fixture
def store() -> FakeLinkNonceStore:
    return FakeLinkNonceStore()


@pytest.fixture
def links(store: FakeLinkNonceStore, clock: FixedClock) -> AccountLinks:
    return AccountLinks(store, clock, ttl_seconds=600)


def issue(links: AccountLinks, line_user_id: str = USER_ID) -> LinkNonce:
    return links.issue(channel=LINE_CHANNEL, provider=LINE_PROVIDER, line_user_id=line_user_id, member_id=MEMBER)


def test_issue_binds_a_random_url_safe_nonce_to_the_member_and_line_user(
    links: AccountLinks, store: FakeLinkNonceStore
) -> None:
    # When a nonce is issued
    nonce = issue(links)

    # Then it is stored unconsumed with who it is for, and expires after the TTL (whole seconds)
    assert store.nonces[nonce.nonce] == nonce
    assert (nonce.member_id, nonce.line_user_id, nonce.channel, nonce.provider) == (
        MEMBER,
        USER_ID,
        LINE_CHANNEL,
        LINE_PROVIDER,
    )
    assert nonce.consumed_by is None
    assert nonce.created_at == iso_from_ms(NOW_MS)
    assert nonce.expires_at == iso_from_ms(NOW_MS + 600_000)
    # and it is URL-safe, within LINE's 10-255 characters, and carries at least 128 bits
    assert re.fullmatch(r"[A-Za-z0-9_-]+", nonce.nonce)
    assert NONCE_MIN_LENGTH <= len(nonce.nonce) <= NONCE_MAX_LENGTH
    assert len(nonce.nonce) * 6 >= 128


def test_nonces_do_not_repeat() -> None:
    assert len({generate_nonce() for _ in range(1000)}) == 1000


def test_a_colliding_nonce_never_overwrites_the_stored_one(store: FakeLinkNonceStore, clock: FixedClock) -> None:
    # Given a generator that (impossibly) repeats itself
    links = AccountLinks(store, clock, new_nonce=lambda: "n" * 43)
    first = issue(links)

    # When a second nonce is issued, the first stays bound to its user and the issue fails
    with pytest.raises(StoreUnavailable) as raised:
        issue(links, OTHER_USER_ID)
    assert raised.value.code == "nonce_collision"
    assert store.nonces[first.nonce].line_user_id == USER_ID


def test_consume_answers_the_member_once(links: AccountLinks, store: FakeLinkNonceStore) -> None:
    nonce = issue(links)

    outcome = links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)

    assert outcome == LinkOutcome(MEMBER, None)
    assert store.nonces[nonce.nonce].consumed_by == EVENT


def test_a_replay_of_the_consuming_event_is_ok_even_after_expiry(links: AccountLinks, clock: FixedClock) -> None:
    # Given a nonce consumed by one webhook event
    nonce = issue(links)
    assert links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT).reason is None

    # When the stream delivers the same event again, later than the nonce's validity
    clock.advance(3_600_000)
    replay = links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)

    # Then it is the same ok outcome, so a retried batch binds the same member
    assert replay == LinkOutcome(MEMBER, None)


def test_a_consumed_nonce_is_kept_past_its_validity_for_replays(
    links: AccountLinks, store: FakeLinkNonceStore, clock: FixedClock
) -> None:
    nonce = issue(links)
    links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)
    assert store.nonces[nonce.nonce].expires_at == iso_from_ms(NOW_MS + CONSUMED_RETENTION_SECONDS * 1000)


def test_another_event_using_a_consumed_nonce_is_already_used(links: AccountLinks) -> None:
    nonce = issue(links)
    links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)

    reuse = links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=OTHER_EVENT)

    assert reuse == LinkOutcome(None, "already_used")


def test_reuse_by_another_line_user_is_named_reuse(links: AccountLinks) -> None:
    nonce = issue(links)
    links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)
    assert links.consume(nonce=nonce.nonce, line_user_id=OTHER_USER_ID, event_id=OTHER_EVENT).reason == "already_used"


def test_a_nonce_never_issued_is_unknown(links: AccountLinks, store: FakeLinkNonceStore) -> None:
    outcome = links.consume(nonce="x" * 43, line_user_id=USER_ID, event_id=EVENT)
    assert outcome == LinkOutcome(None, "unknown_nonce")
    assert store.consume_calls == 1


@pytest.mark.parametrize("nonce", ["", "short", "y" * (NONCE_MAX_LENGTH + 1)], ids=["empty", "too-short", "too-long"])
def test_a_nonce_outside_lines_bounds_is_unknown_without_a_store_call(
    links: AccountLinks, store: FakeLinkNonceStore, nonce: str
) -> None:
    assert links.consume(nonce=nonce, line_user_id=USER_ID, event_id=EVENT) == LinkOutcome(None, "unknown_nonce")
    assert store.consume_calls == 0


def test_an_expired_nonce_is_refused_and_stays_unconsumed(
    links: AccountLinks, store: FakeLinkNonceStore, clock: FixedClock
) -> None:
    # Given a nonce whose 600 s have just run out (TTL deletion has not happened yet)
    nonce = issue(links)
    clock.advance(600_000)

    outcome = links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)

    assert outcome == LinkOutcome(None, "expired")
    assert store.nonces[nonce.nonce].consumed_by is None


def test_a_nonce_is_still_valid_one_second_before_expiry(links: AccountLinks, clock: FixedClock) -> None:
    nonce = issue(links)
    clock.advance(599_999)
    assert links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT).member_id == MEMBER


def test_another_line_user_cannot_use_the_nonce(links: AccountLinks, store: FakeLinkNonceStore) -> None:
    # Given a nonce issued for USER_ID, taken from the link URL by someone else
    nonce = issue(links)

    outcome = links.consume(nonce=nonce.nonce, line_user_id=OTHER_USER_ID, event_id=EVENT)

    # Then it is refused and left usable for its own user
    assert outcome == LinkOutcome(None, "line_user_mismatch")
    assert links.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=OTHER_EVENT).member_id == MEMBER


def test_mismatch_is_reported_before_expiry(links: AccountLinks, clock: FixedClock) -> None:
    nonce = issue(links)
    clock.advance(3_600_000)
    assert links.consume(nonce=nonce.nonce, line_user_id=OTHER_USER_ID, event_id=EVENT).reason == "line_user_mismatch"


def test_consume_requires_the_event_id(links: AccountLinks) -> None:
    with pytest.raises(ValueError, match="event_id"):
        links.consume(nonce=issue(links).nonce, line_user_id=USER_ID, event_id="")


def test_a_refusal_that_meets_every_condition_is_retried_not_guessed(links: AccountLinks) -> None:
    # Given a store whose condition failed although the nonce it answers is usable (changed meanwhile)
    nonce = issue(links)

    class RacingStore(FakeLinkNonceStore):
        def consume(self, *args: object, **kwargs: object) -> tuple[bool, LinkNonce | None]:
            return False, nonce

    racing = AccountLinks(RacingStore(), FixedClock())

    # Then the consume fails retryably instead of inventing a reason
    with pytest.raises(StoreUnavailable):
        racing.consume(nonce=nonce.nonce, line_user_id=USER_ID, event_id=EVENT)


# the webhook event as LINE sends it -----------------------------------------------------------------
def test_an_ok_account_link_event_consumes_its_nonce(links: AccountLinks) -> None:
    nonce = issue(links)
    event = account_link(nonce=nonce.nonce)

    assert links.consume_event(event, event_id=EVENT) == LinkOutcome(MEMBER, None)
    assert links.consume_event(event, event_id=OTHER_EVENT) == LinkOutcome(None, "already_used")


def test_a_failed_account_link_event_leaves_the_nonce_unused(links: AccountLinks, store: FakeLinkNonceStore) -> None:
    nonce = issue(links)

    outcome = links.consume_event(account_link_failed(nonce=nonce.nonce), event_id=EVENT)

    assert outcome == LinkOutcome(None, "link_failed")
    assert store.consume_calls == 0
    assert store.nonces[nonce.nonce].consumed_by is None


def test_an_ok_event_without_a_user_is_a_mismatch(links: AccountLinks) -> None:
    nonce = issue(links)
    event = account_link(nonce=nonce.nonce)
    del event["source"]
    assert links.consume_event(event, event_id=EVENT) == LinkOutcome(None, "line_user_mismatch")


def test_an_event_with_a_non_string_nonce_is_unknown(links: AccountLinks) -> None:
    event = account_link()
    event["link"]["nonce"] = 12345678901
    assert links.consume_event(event, event_id=EVENT) == LinkOutcome(None, "unknown_nonce")


def test_ttl_must_be_positive(store: FakeLinkNonceStore, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="ttl"):
        AccountLinks(store, clock, ttl_seconds=0)
