"""merge_profiles and rebuild_profile: a merge must give the profile that one person seeing every
event would have (that is what lets an unmerge rebuild both sides from their timelines), with the
documented precedence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.profiles.model import MAX_REJECTED_KEPT, Profile, Stamped, apply_event, merge_profiles, rebuild_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW_ISO, canonical

LINE_A = line_identifier("2001234567", "U" + "a" * 32)
LINE_B = line_identifier("2009876543", "U" + "b" * 32)
T0 = "2024-05-01T00:00:00.000Z"


@dataclass(frozen=True)
class Spec:
    kind: str
    minute: int
    traits: tuple[tuple[str, int], ...]
    cents: int
    currency: str
    consent: tuple[tuple[str, bool], ...]
    follow: str
    account: int
    channel: str
    day: int
    store: str | None
    tag: str
    tag_added: bool


specs = st.builds(
    Spec,
    kind=st.sampled_from(["identify", "order", "view", "consent", "follow", "message", "postback", "click", "tag"]),
    minute=st.integers(0, 4),  # ties are likely
    traits=st.dictionaries(st.sampled_from(["name", "tier", "city"]), st.integers(0, 3), max_size=2).map(
        lambda d: tuple(sorted(d.items()))
    ),
    cents=st.integers(0, 500_000),
    currency=st.sampled_from(["TWD", "USD"]),
    consent=st.dictionaries(st.sampled_from(["email:marketing", "line:marketing"]), st.booleans(), max_size=2).map(
        lambda d: tuple(sorted(d.items()))
    ),
    follow=st.sampled_from(["friend", "blocked"]),
    account=st.integers(0, 1),
    channel=st.sampled_from(["web", "app", "pos", "line"]),
    day=st.sampled_from([0, 0, 0, 1, 200, 365, 366, 700]),  # old orders fall out of the daily buckets
    store=st.sampled_from([None, "TPE-101", "TXG-01"]),
    tag=st.sampled_from(["vip", "asked:size", "src:store-taipei-101"]),
    tag_added=st.booleans(),
)


def _event(n: int, spec: Spec) -> tuple[CanonicalEvent, list[Identifier]]:
    timestamp = (datetime(2024, 5, 1, 9, spec.minute, tzinfo=UTC) - timedelta(days=spec.day)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z"
    )
    anon = Identifier("anonymous_id", f"a-{n % 3}")
    if spec.kind == "follow":
        account = (LINE_A, LINE_B)[spec.account]
        event = canonical(
            event_id=f"e-{n:02d}",
            timestamp=timestamp,
            event="LINE Followed" if spec.follow == "friend" else "LINE Unfollowed",
            channel="line",
            origin="line",
            source="main-oa",
            line_follow=spec.follow,
            line_identifier=account,
            identifiers=[account],
        )
        return event, [account]
    event = canonical(
        event_id=f"e-{n:02d}",
        timestamp=timestamp,
        type="identify" if spec.kind == "identify" else "track",
        event={
            "identify": None,
            "order": "Order Completed",
            "view": "Product Viewed",
            "consent": "Settings Saved",
            "message": "LINE Message Received",
            "postback": "LINE Postback",
            "click": "LINE Link Clicked",
            "tag": "Tag Added" if spec.tag_added else "Tag Removed",
        }[spec.kind],
        channel=spec.channel,
        traits=dict(spec.traits) if spec.kind == "identify" else {},
        identifiers=[anon],
    )
    if spec.kind == "order":
        event.properties = {"revenue": spec.cents / 100, "currency": spec.currency}
        if spec.store is not None:
            event.properties["store_id"] = spec.store
    if spec.kind == "click" and spec.channel != "line":
        event.properties = {"src": "line"} if spec.account else {}
    if spec.kind == "tag":
        event.properties = {"tag": spec.tag, "source": ("rule", "manual")[spec.account]}
    if spec.kind == "consent":
        event.context = {"consent": dict(spec.consent)}
    return event, [anon]


def _fold(profile_id: str, events: list[tuple[CanonicalEvent, list[Identifier]]]) -> Profile:
    return rebuild_profile(profile_id, T0, [(event, attached, NOW_ISO) for event, attached in events], NOW_ISO)


def _stamps(values: dict[str, Stamped]) -> dict[str, tuple[Any, str, str]]:
    return {key: (s.value, s.at, s.event_id) for key, s in values.items()}


def _person(profile: Profile) -> dict[str, Any]:
    return {
        "identifiers": sorted(profile.identifiers),
        "traits": _stamps(profile.traits),
        "line_accounts": _stamps(profile.line_accounts),
        "line_status": profile.line_status,
        "consent": _stamps(profile.consent),
        "tag_state": _stamps(profile.tag_state),
        "tags": profile.tags,
        "event_count": profile.event_count,
        "channels": {channel: count for channel, count in profile.channels.items() if count},
        "channel_mix": profile.channel_mix(),
        "seen": (profile.first_seen_at, profile.last_seen_at),
        "orders": (profile.order_count, profile.first_order_at, profile.last_order_at),
        "revenue": profile.revenue,
        "computed": profile.computed.as_dict(),
    }


@settings(max_examples=100)
@given(st.lists(st.tuples(specs, st.booleans()), min_size=1, max_size=12))
def test_merging_two_profiles_gives_the_profile_of_all_their_events(split: list[tuple[Spec, bool]]) -> None:
    events = [(_event(n, spec), side) for n, (spec, side) in enumerate(split)]
    survivor_events = [event for event, side in events if side]
    loser_events = [event for event, side in events if not side]

    merged = merge_profiles(_fold("p_s", survivor_events), _fold("p_l", loser_events), NOW_ISO)

    assert _person(merged) == _person(_fold("p_s", [event for event, _ in events]))
    # and which side survives changes nothing about the person
    assert _person(merge_profiles(_fold("p_l", loser_events), _fold("p_s", survivor_events), NOW_ISO)) == _person(
        merged
    )


@settings(max_examples=60)
@given(st.lists(specs, min_size=1, max_size=10), st.randoms(use_true_random=False))
def test_rebuilding_from_a_timeline_does_not_depend_on_its_order(items: list[Spec], rng: Any) -> None:
    events = [_event(n, spec) for n, spec in enumerate(items)]
    shuffled = list(events)
    rng.shuffle(shuffled)

    # rebuild sorts by when each entry was applied; entries applied at one instant fold in any order
    assert _person(_fold("p", events)) == _person(_fold("p", shuffled))
    # and the fold is apply_event one by one
    profile = Profile.new("p", T0)
    for event, attached in events:
        apply_event(profile, event, attached, NOW_ISO)
    assert _person(profile) == _person(_fold("p", events))


def test_a_trait_set_at_the_same_instant_on_both_sides_is_decided_by_event_id_either_way() -> None:
    at = "2024-05-01T09:00:00.000Z"
    left, right = Profile.new("p_l", T0), Profile.new("p_r", T0)
    apply_event(
        left, canonical(event_id="e-1", timestamp=at, type="identify", event=None, traits={"tier": "gold"}), [], NOW_ISO
    )
    apply_event(
        right, canonical(event_id="e-2", timestamp=at, type="identify", event=None, traits={"tier": "vip"}), [], NOW_ISO
    )

    assert merge_profiles(left, right, NOW_ISO).traits["tier"].value == "vip"
    assert merge_profiles(right, left, NOW_ISO).traits["tier"].value == "vip"


def test_bookkeeping_comes_from_the_survivor_and_stored_tags_union_newest_first() -> None:
    survivor = Profile.new("p_s", "2024-03-01T00:00:00.000Z")
    survivor.pending_merges = ["m_1", "m_2"]
    survivor.version = 5
    survivor.tags = {"vip": {"source": "admin", "at": "2024-04-02T00:00:00.000Z"}}
    loser = Profile.new("p_l", "2024-01-01T00:00:00.000Z")
    loser.tags = {
        "vip": {"source": "rule", "at": "2024-04-01T00:00:00.000Z"},
        "churn-risk": {"source": "rule", "at": "2024-02-01T00:00:00.000Z"},
    }
    loser.merging_into = "p_s"
    loser.rejected_identifiers = [
        {"type": "phone", "value": f"x{n}", "reason": "invalid_phone", "at": T0} for n in range(MAX_REJECTED_KEPT)
    ]
    survivor.rejected_identifiers = [{"type": "email", "value": "bad", "reason": "invalid_email", "at": T0}]

    merged = merge_profiles(survivor, loser, NOW_ISO)

    assert (merged.profile_id, merged.version, merged.pending_merges) == ("p_s", 5, ["m_1", "m_2"])
    assert (merged.merged_into, merged.merging_into) == (None, None)
    assert merged.created_at == "2024-01-01T00:00:00.000Z"  # the earliest
    assert merged.tags == {
        "vip": {"source": "admin", "at": "2024-04-02T00:00:00.000Z"},
        "churn-risk": {"source": "rule", "at": "2024-02-01T00:00:00.000Z"},
    }
    assert len(merged.rejected_identifiers) == MAX_REJECTED_KEPT
    assert merged.rejected_identifiers[-1] == loser.rejected_identifiers[-1]
