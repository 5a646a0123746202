"""apply_event: folding events into a profile so that order and replays do not matter."""

from __future__ import annotations

from typing import Any

from cdp.identity.identifiers import Identifier, RejectedIdentifier, line_identifier
from cdp.profiles.model import MAX_REJECTED_KEPT, Profile, Stamped, apply_event
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.builders import NOW_ISO, canonical

LINE_A = line_identifier("2001234567", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")
LINE_B = line_identifier("2009999999", "U9f8e7d6c5b4a39281706f5e4d3c2b1a0")


def _profile() -> Profile:
    return Profile.new("p_amy", NOW_ISO)


def _identify(event_id: str, timestamp: str, traits: dict[str, Any], channel: str = "web") -> Any:
    return canonical(
        event_id=event_id, timestamp=timestamp, type="identify", event=None, traits=traits, channel=channel
    )


def _follow(event_id: str, timestamp: str, state: str, account: Identifier = LINE_A) -> Any:
    return canonical(
        event_id=event_id,
        timestamp=timestamp,
        event="LINE Followed" if state == "friend" else "LINE Unfollowed",
        channel="line",
        origin="line",
        source="main-oa",
        line_follow=state,
        line_identifier=account,
        identifiers=[account],
    )


def _values(profile: Profile) -> dict[str, Any]:
    return {name: stamped.value for name, stamped in profile.traits.items()}


# traits -------------------------------------------------------------------------------------
def test_newer_trait_replaces_older_and_is_reported() -> None:
    # Given a profile that got the name from the web shop
    profile = _profile()
    apply_event(profile, _identify("e-1", "2024-05-01T09:00:00.000Z", {"name": "Amy", "tier": "silver"}), [], NOW_ISO)

    # When a newer identify changes the tier
    changes = apply_event(profile, _identify("e-2", "2024-05-01T10:00:00.000Z", {"tier": "gold"}), [], NOW_ISO)

    # Then the tier is the newer value, stamped with its event and source, and reported as changed
    assert _values(profile) == {"name": "Amy", "tier": "gold"}
    assert profile.traits["tier"] == Stamped("gold", "2024-05-01T10:00:00.000Z", "partner:web-shop", "e-2")
    assert changes == ["trait:tier"]


def test_older_trait_arriving_late_does_not_overwrite() -> None:
    # Given a profile whose tier was set at 10:00
    profile = _profile()
    apply_event(profile, _identify("e-2", "2024-05-01T10:00:00.000Z", {"tier": "gold"}), [], NOW_ISO)

    # When an identify from 09:00 arrives late
    changes = apply_event(profile, _identify("e-1", "2024-05-01T09:00:00.000Z", {"tier": "silver"}), [], NOW_ISO)

    # Then the newer value stays and no trait change is reported
    assert _values(profile) == {"tier": "gold"}
    assert not [c for c in changes if c.startswith("trait:")]
    assert profile.event_count == 2


def test_same_value_with_a_fresher_stamp_is_not_a_visible_change() -> None:
    # Given a tier set at 09:00
    profile = _profile()
    apply_event(profile, _identify("e-1", "2024-05-01T09:00:00.000Z", {"tier": "gold"}), [], NOW_ISO)

    # When the same value is sent again at 10:00 from the POS
    later = canonical(
        event_id="e-2",
        timestamp="2024-05-01T10:00:00.000Z",
        type="identify",
        event=None,
        traits={"tier": "gold"},
        source="pos",
        channel="web",
    )
    changes = apply_event(profile, later, [], NOW_ISO)

    # Then nothing visible changed, but the stamp says who confirmed it last
    assert "trait:tier" not in changes
    assert profile.traits["tier"].at == "2024-05-01T10:00:00.000Z"
    assert profile.traits["tier"].source == "partner:pos"


def test_timestamp_ties_are_broken_by_event_id() -> None:
    # Given two identifies with the same timestamp, applied in both orders
    a = _identify("e-a", "2024-05-01T09:00:00.000Z", {"tier": "silver"})
    b = _identify("e-b", "2024-05-01T09:00:00.000Z", {"tier": "gold"})
    one, two = _profile(), _profile()
    for event in (a, b):
        apply_event(one, event, [], NOW_ISO)
    for event in (b, a):
        apply_event(two, event, [], NOW_ISO)

    # Then both agree on the value from the larger event id
    assert _values(one) == _values(two) == {"tier": "gold"}


def test_member_id_traits_are_identifiers_not_traits() -> None:
    # Given an identify whose traits include the member id
    profile = _profile()
    apply_event(
        profile,
        _identify("e-1", "2024-05-01T09:00:00.000Z", {"member_id": "M1", "memberId": "M1", "name": "Amy"}),
        [],
        NOW_ISO,
    )

    # Then only the real trait is stored as a trait
    assert _values(profile) == {"name": "Amy"}


def test_group_traits_do_not_become_person_traits() -> None:
    # Given a person named Amy
    profile = _profile()
    apply_event(profile, _identify("e-1", "2024-05-01T09:00:00.000Z", {"name": "Amy"}), [], NOW_ISO)

    # When a newer group call arrives whose traits describe the company
    group = canonical(
        event_id="e-2",
        timestamp="2024-05-01T10:00:00.000Z",
        type="group",
        event=None,
        traits={"name": "衣著A 企業會員", "employees": 120},
    )
    changes = apply_event(profile, group, [], NOW_ISO)

    # Then the person's name is untouched and the company's traits are not hers
    assert _values(profile) == {"name": "Amy"}
    assert not [c for c in changes if c.startswith("trait:")]
    assert profile.event_count == 2


identify_events = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5),  # minutes past 09:00: ties are likely
        st.dictionaries(st.sampled_from(["name", "tier", "city", "birthday"]), st.integers(0, 3), max_size=3),
        st.sampled_from(["web", "pos", "app", "crm"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150)
@given(identify_events, st.randoms(use_true_random=False))
def test_any_order_of_identifies_yields_the_same_traits_and_counters(specs: list[Any], rng: Any) -> None:
    # Given identify events from several channels, some at the same instant
    events = [
        _identify(f"e-{index}", f"2024-05-01T09:0{minute}:00.000Z", traits, channel)
        for index, (minute, traits, channel) in enumerate(specs)
    ]
    shuffled = list(events)
    rng.shuffle(shuffled)

    # When they are applied in delivery order and in a shuffled order
    ordered, reordered = _profile(), _profile()
    for event in events:
        apply_event(ordered, event, [], NOW_ISO)
    for event in shuffled:
        apply_event(reordered, event, [], NOW_ISO)

    # Then the profiles agree on traits (values and stamps) and on every counter
    assert ordered.traits == reordered.traits
    assert ordered.event_count == reordered.event_count == len(events)
    assert ordered.channels == reordered.channels
    assert (ordered.first_seen_at, ordered.last_seen_at) == (reordered.first_seen_at, reordered.last_seen_at)
    assert ordered.channel_mix() == reordered.channel_mix()
    # and each trait holds the value of its newest event
    for name, stamped in ordered.traits.items():
        newest = max((e for e in events if name in e.traits), key=lambda e: (e.timestamp, e.event_id))
        assert stamped.value == newest.traits[name]


# LINE follow state --------------------------------------------------------------------------
def test_profile_that_never_followed() -> None:
    assert _profile().line_status == "never_followed"


def test_follow_then_block_is_blocked_in_either_delivery_order() -> None:
    # Given a follow at 09:00 and a block at 10:00
    follow = _follow("e-1", "2024-05-01T09:00:00.000Z", "friend")
    block = _follow("e-2", "2024-05-01T10:00:00.000Z", "blocked")

    # When they arrive in order, and reversed
    in_order, reversed_order = _profile(), _profile()
    first_changes = apply_event(in_order, follow, [], NOW_ISO)
    second_changes = apply_event(in_order, block, [], NOW_ISO)
    apply_event(reversed_order, block, [], NOW_ISO)
    late_changes = apply_event(reversed_order, follow, [], NOW_ISO)

    # Then both end blocked; the late follow changes nothing
    assert in_order.line_status == reversed_order.line_status == "blocked"
    assert in_order.line_accounts == reversed_order.line_accounts
    assert "line_status" in first_changes and "line_status" in second_changes
    assert "line_status" not in late_changes


@given(
    st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["friend", "blocked"])), min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_follow_state_is_the_newest_whatever_the_order(specs: list[tuple[int, str]], rng: Any) -> None:
    # Given follows and blocks of one LINE account at various minutes
    events = [
        _follow(f"e-{i:02d}", f"2024-05-01T09:{minute:02d}:00.000Z", state) for i, (minute, state) in enumerate(specs)
    ]
    shuffled = list(events)
    rng.shuffle(shuffled)

    # When they are applied in two orders
    a, b = _profile(), _profile()
    for event in events:
        apply_event(a, event, [], NOW_ISO)
    for event in shuffled:
        apply_event(b, event, [], NOW_ISO)

    # Then the state is that of the newest event in both
    newest = max(events, key=lambda e: (e.timestamp, e.event_id))
    assert a.line_status == b.line_status == newest.line_follow


def test_person_with_two_line_accounts_is_a_friend_while_any_follows() -> None:
    # Given a person followed from two providers' OAs
    profile = _profile()
    apply_event(profile, _follow("e-1", "2024-05-01T09:00:00.000Z", "friend", LINE_A), [], NOW_ISO)
    apply_event(profile, _follow("e-2", "2024-05-01T09:00:00.000Z", "friend", LINE_B), [], NOW_ISO)

    # When one blocks
    one_blocked = apply_event(profile, _follow("e-3", "2024-05-01T10:00:00.000Z", "blocked", LINE_A), [], NOW_ISO)
    # Then the person is still reachable
    assert profile.line_status == "friend"
    assert "line_status" not in one_blocked

    # When the other blocks too
    both_blocked = apply_event(profile, _follow("e-4", "2024-05-01T11:00:00.000Z", "blocked", LINE_B), [], NOW_ISO)
    # Then the person is blocked
    assert profile.line_status == "blocked"
    assert "line_status" in both_blocked


# channel mix and counters -------------------------------------------------------------------
def test_channel_mix_moves_from_online_to_omnichannel() -> None:
    # Given a new profile
    profile = _profile()
    assert profile.channel_mix() is None

    # When a LINE event arrives, then a web event, then a POS order
    line_changes = apply_event(profile, _follow("e-1", "2024-05-01T08:00:00.000Z", "friend"), [], NOW_ISO)
    web_changes = apply_event(profile, canonical(event_id="e-2", timestamp="2024-05-01T09:00:00.000Z"), [], NOW_ISO)
    mix_after_web = profile.channel_mix()
    pos = canonical(event_id="e-3", timestamp="2024-05-01T10:00:00.000Z", event="Order Completed", channel="pos")
    pos_changes = apply_event(profile, pos, [], NOW_ISO)

    # Then LINE alone says nothing about online/offline, web makes it online, the POS omnichannel
    assert "channel_mix" not in line_changes
    assert mix_after_web == "online_only" and "channel_mix" in web_changes
    assert profile.channel_mix() == "omnichannel" and "channel_mix" in pos_changes


def test_store_only_shopper_is_offline_only_and_app_counts_as_online() -> None:
    # Given a POS-only profile and an app-only profile
    store, app = _profile(), _profile()
    apply_event(store, canonical(event_id="e-1", timestamp="2024-05-01T10:00:00.000Z", channel="pos"), [], NOW_ISO)
    apply_event(app, canonical(event_id="e-2", timestamp="2024-05-01T10:00:00.000Z", channel="app"), [], NOW_ISO)

    # Then their mixes differ
    assert store.channel_mix() == "offline_only"
    assert app.channel_mix() == "online_only"


def test_counters_and_first_last_seen() -> None:
    # Given events out of order across channels
    profile = _profile()
    for event_id, timestamp, channel in [
        ("e-1", "2024-05-01T10:00:00.000Z", "web"),
        ("e-2", "2024-04-01T10:00:00.000Z", "pos"),
        ("e-3", "2024-06-01T10:00:00.000Z", "web"),
    ]:
        apply_event(profile, canonical(event_id=event_id, timestamp=timestamp, channel=channel), [], NOW_ISO)

    # Then counts add up and first/last seen are the extremes, not the arrival order
    assert profile.event_count == 3
    assert profile.channels == {"web": 2, "pos": 1}
    assert profile.first_seen_at == "2024-04-01T10:00:00.000Z"
    assert profile.last_seen_at == "2024-06-01T10:00:00.000Z"
    assert profile.updated_at == NOW_ISO


# identifiers and rejected identifiers -------------------------------------------------------
def test_attached_identifiers_are_added_once_and_reported() -> None:
    # Given a profile
    profile = _profile()
    email = Identifier("email", "amy@example.com")
    event = canonical(event_id="e-1", timestamp="2024-05-01T10:00:00.000Z")

    # When the same identifier is attached twice
    first = apply_event(profile, event, [email], "2024-05-01T11:00:00.000Z")
    second = apply_event(profile, event, [email], "2024-05-01T12:00:00.000Z")

    # Then it is added once, dated when it was first attached
    assert profile.identifiers == {
        email.key: {"type": "email", "value": "amy@example.com", "added_at": "2024-05-01T11:00:00.000Z"}
    }
    assert "identifier:email" in first and "identifier:email" not in second


def test_rejected_identifiers_are_kept_once_and_capped() -> None:
    # Given events carrying unusable identifiers, one of them repeated
    profile = _profile()
    for index in range(MAX_REJECTED_KEPT + 5):
        event = canonical(event_id=f"e-{index}", timestamp="2024-05-01T10:00:00.000Z")
        event.rejected_identifiers = [RejectedIdentifier("email", f"bad{index}@", "invalid_email")]
        apply_event(profile, event, [], NOW_ISO)
        apply_event(profile, event, [], NOW_ISO)  # the same rejection again

    # Then each is kept once and only the most recent ones are kept
    assert len(profile.rejected_identifiers) == MAX_REJECTED_KEPT
    assert profile.rejected_identifiers[-1]["value"] == f"bad{MAX_REJECTED_KEPT + 4}@"
    assert len({entry["value"] for entry in profile.rejected_identifiers}) == MAX_REJECTED_KEPT


def test_consent_flags_keep_the_newest_answer_per_channel_and_purpose() -> None:
    # Given an import granting email marketing, then a later web opt-out, arriving out of order
    profile = _profile()
    opt_out = _identify("e-2", "2026-05-02T00:00:00.000Z", {})
    opt_out.context["consent"] = {"email:marketing": False}
    imported = _identify("e-1", "2026-05-01T00:00:00.000Z", {}, channel="crm")
    imported.context["consent"] = {"email:marketing": True, "sms:marketing": True, "line:marketing": "yes"}

    first = apply_event(profile, opt_out, [], NOW_ISO)
    second = apply_event(profile, imported, [], NOW_ISO)

    # Then the newer opt-out stands, the SMS grant is kept, and a non-boolean answer is ignored
    assert {key: stamped.value for key, stamped in profile.consent.items()} == {
        "email:marketing": False,
        "sms:marketing": True,
    }
    assert "consent:email:marketing" in first
    assert [change for change in second if change.startswith("consent:")] == ["consent:sms:marketing"]


def test_orders_sum_revenue_per_currency_and_keep_first_and_last_order() -> None:
    profile = _profile()
    for event_id, timestamp, properties in [
        ("o-2", "2026-05-02T00:00:00.000Z", {"revenue": 5000, "currency": "TWD"}),
        ("o-1", "2026-05-01T00:00:00.000Z", {"total": 1200.5}),
        ("o-3", "2026-05-03T00:00:00.000Z", {"revenue": 30, "currency": "usd"}),
        ("o-4", "2026-05-04T00:00:00.000Z", {"revenue": "lots"}),
    ]:
        order = canonical(event_id=event_id, timestamp=timestamp, event="Order Completed")
        order.properties.update(properties)
        assert "orders" in apply_event(profile, order, [], NOW_ISO)

    assert profile.order_count == 4
    assert profile.revenue == {"TWD": 6200.5, "USD": 30.0}
    assert (profile.first_order_at, profile.last_order_at) == ("2026-05-01T00:00:00.000Z", "2026-05-04T00:00:00.000Z")


def _stored(document: dict[str, Any], version: int = 1) -> Profile:
    import json

    from cdp.adapters.dynamodb.profile_store import profile_from_item

    return profile_from_item({"doc": {"S": json.dumps(document)}, "version": {"N": str(version)}})


def test_the_stored_document_leaves_defaults_out_and_reads_back_the_same() -> None:
    from cdp.adapters.dynamodb.profile_store import profile_to_document

    fresh = _profile()
    assert set(profile_to_document(fresh)) == {"profile_id", "created_at", "updated_at"}
    assert _stored(profile_to_document(fresh), version=0) == fresh
    folded = _profile()
    apply_event(folded, _identify("e-1", "2026-11-20T10:00:00.000Z", {"city": "Taipei"}), [], NOW_ISO)
    apply_event(folded, _follow("e-2", "2026-11-20T11:00:00.000Z", "friend"), [], NOW_ISO)
    folded.version = 2
    document = profile_to_document(folded)
    assert "merged_into" not in document and "tags" not in document and "pending_merges" not in document
    assert _stored(document, version=2) == folded


def test_documents_written_with_every_field_read_as_before() -> None:
    """What the writer stored until it left defaults out: nulls, empty lists, zero counters, the
    `tags` copy and the full computed state. Existing items read as the same profile."""
    from cdp.adapters.dynamodb.profile_store import profile_to_document

    profile = _profile()
    apply_event(profile, _identify("e-1", "2026-11-20T10:00:00.000Z", {"city": "Taipei"}), [], NOW_ISO)
    profile.version = 1
    old = {
        "merged_into": None,
        "merging_into": None,
        "merging_by": None,
        "pending_merges": [],
        "incoming_from": [],
        "rejected_identifiers": [],
        "consent": {},
        "revenue": {},
        "order_count": 0,
        "first_order_at": None,
        "last_order_at": None,
        "tags": profile.tags,
        "tag_state": {},
        "computed": profile.computed.as_dict(),
        **profile_to_document(profile),
    }
    assert _stored(old) == profile


def test_a_profile_lists_its_newest_folds_and_knows_from_which_version_the_list_is_complete() -> None:
    from cdp.profiles.model import APPLIED_RECENT_LIMIT

    profile = Profile.new("p_ring", "2024-05-01T00:00:00.000Z")
    profile.version = 7  # a profile from before folds were listed: nothing earlier is known
    assert not profile.lists_folds_from(7)
    for n in range(APPLIED_RECENT_LIMIT + 3):
        profile.version += 2 if n == 5 else 1  # one merge wrote a version between two folds
        profile.remember_applied(f"e-{n}")

    assert len(profile.applied_recent) == APPLIED_RECENT_LIMIT
    assert (
        not profile.has_applied("e-2")
        and profile.has_applied("e-3")
        and profile.has_applied(f"e-{APPLIED_RECENT_LIMIT + 2}")
    )
    # The newest 16 folds wrote versions 11..27 (with the merge's version among them): every fold
    # of the newest 16 versions is listed, an older one may not be.
    assert profile.version == 27
    assert profile.applied_covers_from == 27 - APPLIED_RECENT_LIMIT + 1
    assert profile.lists_folds_from(12) and not profile.lists_folds_from(11)
