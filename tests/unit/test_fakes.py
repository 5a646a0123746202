"""The in-memory fakes keep the ports' signatures, so a port change breaks the fakes loudly."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import MergeStore
from cdp.ingestion.rejections import RejectionLog
from cdp.ports import Clock, EventPublisher, RawEventStore, SecretSource
from cdp.profiles.model import Profile
from cdp.profiles.processor import CommitOutcome, ProfileStore
from cdp.profiles.views import ProfileReader

from tests.unit.builders import NOW_ISO, partner_raw


def _methods(protocol: type) -> list[str]:
    return [name for name, member in vars(protocol).items() if inspect.isfunction(member) and not name.startswith("_")]


def _parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(
    ("fixture", "protocols"),
    [
        ("profile_store", [ProfileStore, ProfileReader, MergeStore]),
        ("raw_store", [RawEventStore]),
        ("secrets", [SecretSource]),
        ("publisher", [EventPublisher]),
        ("clock", [Clock]),
        ("rejection_log", [RejectionLog]),
    ],
)
def test_fake_implements_its_ports_with_the_same_signatures(
    fixture: str, protocols: list[type], request: pytest.FixtureRequest
) -> None:
    # Given a fake and the ports it stands in for
    fake = request.getfixturevalue(fixture)

    # Then every port method exists on the fake with the same parameters
    for protocol in protocols:
        for name in _methods(protocol):
            assert _parameters(getattr(type(fake), name)) == _parameters(getattr(protocol, name)), (protocol, name)


def test_fake_profile_store_commit_conditions(event_normalizer: EventNormalizer, profile_store: Any) -> None:
    # Given an event for a new person
    raw = partner_raw({"type": "identify", "userId": "M0001", "messageId": "m-1"})
    event = event_normalizer.normalize(raw)
    other = event_normalizer.normalize(partner_raw({"type": "identify", "userId": "M0001", "messageId": "m-2"}))
    profile = Profile.new("p_1", NOW_ISO)
    profile.version = 1

    # When it is committed, then committed again (stale version, identifier now claimed)
    first = profile_store.commit(event=event, profile=profile, expected_version=0, claims=event.identifiers)
    replay = profile_store.commit(event=event, profile=profile, expected_version=0, claims=event.identifiers)
    # and another event commits against the stale version, then against the right one with a taken claim
    stale = profile_store.commit(event=other, profile=profile, expected_version=0, claims=[])
    claim = profile_store.commit(event=other, profile=profile, expected_version=1, claims=other.identifiers)

    # Then the outcomes follow the adapter: applied, then marker first, then version, then claim
    assert [first, replay, stale, claim] == [
        CommitOutcome.APPLIED,
        CommitOutcome.ALREADY_APPLIED,
        CommitOutcome.PROFILE_CHANGED,
        CommitOutcome.CLAIM_LOST,
    ]
    # and refused commits left nothing behind
    assert profile_store.was_applied(other.event_id) is None
    assert profile_store.owner(Identifier("member_id", "M0001")) == "p_1"
    assert len(profile_store.latest_events("p_1", 10)) == 1


def test_fake_profile_store_hands_out_copies(profile_store: Any) -> None:
    # Given a stored profile
    profile_store.seed(Profile.new("p_1", NOW_ISO))

    # When a reader mutates what it got
    profile_store.get("p_1").event_count = 99

    # Then the store is unchanged (only commit writes)
    assert profile_store.get("p_1").event_count == 0
