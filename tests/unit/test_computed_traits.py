"""Computed traits: orders and revenue in windows, LTV, LINE engagement, preferred store; daily
buckets that stay bounded; merge and rebuild equivalence; storage round trip and the 360 view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import profile_from_item, profile_to_document
from cdp.domain_events import PROFILE_UPDATED
from cdp.events.canonical import CanonicalEvent
from cdp.profiles.computed import BUCKET_DAYS, ComputedState, computed_traits, is_line_click, window_figures
from cdp.profiles.model import Profile, apply_event, merge_profiles, rebuild_profile
from cdp.profiles.processor import EventProcessor
from cdp.profiles.views import profile_view

from tests.fakes import FakeProfileStore, FakePublisher
from tests.fixtures import line_events as line
from tests.unit.builders import LINE_PROVIDER, NOW_ISO, canonical, line_raw, partner_raw

T0 = "2024-01-01T00:00:00.000Z"
NOW = "2024-06-30T12:00:00.000Z"


def _at(days_before_now: float, now: str = NOW) -> str:
    moment = datetime.fromisoformat(now.replace("Z", "+00:00")) - timedelta(days=days_before_now)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _order(
    event_id: str,
    timestamp: str,
    revenue: float | None = None,
    *,
    currency: str | None = None,
    store: Any = None,
    channel: str = "web",
) -> CanonicalEvent:
    event = canonical(event_id=event_id, timestamp=timestamp, event="Order Completed", channel=channel)
    properties: dict[str, Any] = {}
    if revenue is not None:
        properties["revenue"] = revenue
    if currency is not None:
        properties["currency"] = currency
    if store is not None:
        properties["store_id"] = store
    event.properties = properties
    return event


def _fold(events: list[CanonicalEvent], profile_id: str = "p") -> Profile:
    return rebuild_profile(profile_id, T0, [(event, [], NOW_ISO) for event in events], NOW_ISO)


# orders, revenue, windows ---------------------------------------------------------------------
def test_orders_and_revenue_all_time_and_in_windows() -> None:
    # Given orders 1, 20, 60, 200 and 500 days before now
    profile = _fold(
        [
            _order("o-1", _at(1), 1000),
            _order("o-2", _at(20), 2000),
            _order("o-3", _at(60), 4000),
            _order("o-4", _at(200), 8000),
            _order("o-5", _at(500), 16000),
        ]
    )

    traits = computed_traits(profile, NOW)

    # Then each window counts what falls in it, and all time counts everything
    assert traits["orders"] == {"all_time": 5, "30d": 2, "90d": 3, "365d": 4}
    assert traits["revenue"] == {"all_time": 31000.0, "30d": 3000.0, "90d": 7000.0, "365d": 15000.0}
    assert traits["ltv"] == 31000.0
    assert traits["average_order_value"] == 6200.0
    assert traits["currency"] == "TWD"
    assert (traits["first_purchase_at"], traits["last_purchase_at"]) == (_at(500), _at(1))
    assert (traits["first_seen_at"], traits["last_seen_at"]) == (_at(500), _at(1))
    assert traits["evaluated_at"] == NOW


def test_windows_move_with_the_evaluation_time() -> None:
    # Given one order of 5,000 on 2024-05-01
    profile = _fold([_order("o-1", "2024-05-01T10:00:00.000Z", 5000)])

    def window(now: str) -> dict[str, int]:
        return computed_traits(profile, now)["orders"]  # type: ignore[no-any-return]

    # Then it is in the 30-day window for the 30 UTC days starting that day, and no longer after
    assert window("2024-05-01T10:00:00.000Z") == {"all_time": 1, "30d": 1, "90d": 1, "365d": 1}
    assert window("2024-05-30T23:59:59.999Z")["30d"] == 1
    assert window("2024-05-31T00:00:00.000Z") == {"all_time": 1, "30d": 0, "90d": 1, "365d": 1}
    assert window("2024-07-29T23:00:00.000Z")["90d"] == 1
    assert window("2024-07-30T00:00:00.000Z")["90d"] == 0
    assert window("2025-04-30T12:00:00.000Z")["365d"] == 1  # 2024 is a leap year: day 365
    assert window("2025-05-01T00:00:00.000Z")["365d"] == 0
    # and an order after the evaluation time is in no window (all time still counts it)
    assert window("2024-04-30T23:59:59.000Z") == {"all_time": 1, "30d": 0, "90d": 0, "365d": 0}
    revenue = computed_traits(profile, "2024-05-15T00:00:00.000Z")["revenue"]
    assert revenue == {"all_time": 5000.0, "30d": 5000.0, "90d": 5000.0, "365d": 5000.0}


def test_window_length_is_bounded_by_the_buckets() -> None:
    with pytest.raises(ValueError, match="window"):
        window_figures(ComputedState(), NOW, BUCKET_DAYS + 1)
    with pytest.raises(ValueError, match="window"):
        window_figures(ComputedState(), NOW, 0)


def test_money_is_twd_only_and_other_currencies_count_as_orders() -> None:
    # Given a TWD order, a USD order and an order with `total` and no currency (the workspace's)
    profile = _fold(
        [
            _order("o-1", _at(2), 3000, currency="twd"),
            _order("o-2", _at(3), 100, currency="USD"),
            _order("o-3", _at(4), None),
        ]
    )
    total = canonical(event_id="o-4", timestamp=_at(5), event="Order Completed")
    total.properties = {"total": 1000}
    apply_event(profile, total, [], NOW_ISO)

    traits = computed_traits(profile, NOW)

    # Then all four are orders; LTV and windows are TWD; the average is over orders with a TWD amount
    assert traits["orders"]["all_time"] == 4 and traits["orders"]["30d"] == 4
    assert traits["ltv"] == 4000.0
    assert traits["revenue"]["30d"] == 4000.0
    assert traits["average_order_value"] == 2000.0


def test_no_orders_means_zeroes_and_no_average() -> None:
    profile = _fold([canonical(event_id="e-1", timestamp=_at(1))])

    traits = computed_traits(profile, NOW)

    assert traits["orders"] == {"all_time": 0, "30d": 0, "90d": 0, "365d": 0}
    assert traits["ltv"] == 0.0 and traits["average_order_value"] is None
    assert traits["last_purchase_at"] is None and traits["preferred_store"] is None
    assert traits["channel_mix"] == "online_only"


# buckets ----------------------------------------------------------------------------------------
def test_buckets_are_daily_and_older_ones_are_dropped_in_any_order() -> None:
    # Given orders on two days of the same week, one 400 days older, and one on the newest day again
    events = [
        _order("o-1", "2024-06-01T01:00:00.000Z", 100),
        _order("o-2", "2024-06-01T23:00:00.000Z", 200),
        _order("o-3", "2024-06-03T12:00:00.000Z", 400),
        _order("o-4", "2023-04-28T12:00:00.000Z", 800),
        _order("o-5", "2023-06-04T00:00:00.000Z", 1600),  # the first of the 366 days ending 2024-06-03: kept
        _order("o-6", "2023-06-03T23:59:00.000Z", 3200),  # the day before: dropped
    ]
    forward, backward = Profile.new("p", T0), Profile.new("p", T0)
    for event in events:
        apply_event(forward, event, [], NOW_ISO)
    for event in reversed(events):
        apply_event(backward, event, [], NOW_ISO)

    # Then a day holds its orders together, and days more than 366 before the newest are gone
    expected = {"2024-06-01": (2, 300.0), "2024-06-03": (1, 400.0), "2023-06-04": (1, 1600.0)}
    assert forward.computed.daily == expected
    assert backward.computed.daily == expected
    # while all-time figures keep everything
    assert forward.order_count == 6 and forward.revenue == {"TWD": 6300.0}


def test_buckets_stay_bounded_over_years_of_daily_orders() -> None:
    profile = Profile.new("p", T0)
    start = datetime(2021, 1, 1, 12, tzinfo=UTC)
    for day in range(3 * 365):
        timestamp = (start + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        apply_event(profile, _order(f"o-{day}", timestamp, 10), [], NOW_ISO)

    assert len(profile.computed.daily) == BUCKET_DAYS
    last = (start + timedelta(days=3 * 365 - 1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert computed_traits(profile, last)["orders"] == {"all_time": 1095, "30d": 30, "90d": 90, "365d": 365}


# LINE engagement --------------------------------------------------------------------------------
def _line(event_id: str, name: str, timestamp: str) -> CanonicalEvent:
    return canonical(event_id=event_id, timestamp=timestamp, event=name, channel="line", origin="line", source="oa")


def test_line_engagement_counts_messages_postbacks_and_clicks_from_line() -> None:
    web_click = canonical(event_id="c-3", timestamp=_at(1), event="Link Clicked", channel="web")
    web_click.properties = {"src": "line"}
    newsletter_click = canonical(event_id="c-4", timestamp=_at(0.5), event="Link Clicked", channel="web")
    newsletter_click.properties = {"src": "email"}
    events = [
        _line("m-1", "LINE Message Received", _at(9)),
        _line("m-2", "LINE Message Received", _at(8)),
        _line("b-1", "LINE Postback", _at(7)),
        _line("c-1", "Link Clicked", _at(6)),
        _line("c-2", "LINE Link Clicked", _at(3)),
        web_click,
        newsletter_click,  # a click not from LINE
        _line("f-1", "LINE Followed", _at(10)),  # not engagement
    ]
    profile = Profile.new("p", T0)
    changes = [apply_event(profile, event, [], NOW_ISO) for event in events]

    assert computed_traits(profile, NOW)["line_engagement"] == {
        "messages": 2,
        "postbacks": 1,
        "clicks": 3,
        "last_click_at": _at(1),
    }
    assert [("line_engagement" in c) for c in changes] == [True, True, True, True, True, True, False, False]


def test_a_click_must_be_a_track_event_with_a_click_name() -> None:
    page = canonical(event_id="p-1", timestamp=_at(1), type="page", event="Link Clicked", channel="line")
    other = canonical(event_id="p-2", timestamp=_at(1), event="Product Viewed", channel="line")
    other.properties = {"src": "line"}

    assert not is_line_click(page)
    assert not is_line_click(other)


# preferred store --------------------------------------------------------------------------------
def test_preferred_store_has_the_most_orders_then_the_latest() -> None:
    profile = _fold(
        [
            _order("o-1", _at(30), 100, store="TPE-101", channel="pos"),
            _order("o-2", _at(20), 100, store="TPE-101", channel="pos"),
            _order("o-3", _at(10), 100, store="TXG-01", channel="pos"),
            _order("o-4", _at(5), 100, store="TXG-01", channel="pos"),
            _order("o-5", _at(1), 100),  # web order: no store
        ]
    )
    # a tie at two orders each: the store ordered from most recently wins
    assert computed_traits(profile, NOW)["preferred_store"] == "TXG-01"
    assert computed_traits(profile, NOW)["channel_mix"] == "omnichannel"

    apply_event(profile, _order("o-6", _at(40), 100, store="TPE-101", channel="pos"), [], NOW_ISO)
    assert computed_traits(profile, NOW)["preferred_store"] == "TPE-101"  # most orders


def test_preferred_store_full_tie_goes_to_the_smallest_id_and_numbers_are_ids() -> None:
    same = _at(3)
    profile = _fold(
        [_order("o-1", same, 1, store=42, channel="pos"), _order("o-2", same, 1, store="B7", channel="pos")]
    )

    assert computed_traits(profile, NOW)["preferred_store"] == "42"
    assert _fold([_order("o-1", same, 1, store=True), _order("o-2", same, 1, store="")]).computed.stores == {}


# merge, rebuild, storage -----------------------------------------------------------------------
def _mixed_events() -> list[CanonicalEvent]:
    web_click = canonical(event_id="c-2", timestamp=_at(2), event="Link Clicked", channel="web")
    web_click.properties = {"src": "line"}
    return [
        _order("o-1", _at(1), 1200, store="TPE-101", channel="pos"),
        _order("o-2", _at(45), 800, store="TPE-101", channel="pos"),
        _order("o-3", _at(100), 300, currency="USD"),
        _order("o-4", _at(420), 5000, store="TXG-01", channel="pos"),
        _order("o-5", _at(800), 9000, store="TXG-01", channel="pos"),
        _line("m-1", "LINE Message Received", _at(3)),
        _line("b-1", "LINE Postback", _at(4)),
        _line("c-1", "LINE Link Clicked", _at(6)),
        web_click,
    ]


def test_merging_combines_computed_state_like_folding_everything() -> None:
    events = _mixed_events()
    for split in range(len(events) + 1):
        left, right = _fold(events[:split], "p_l"), _fold(events[split:], "p_r")

        merged = merge_profiles(left, right, NOW_ISO)

        assert merged.computed == _fold(events).computed
        assert computed_traits(merged, NOW) == computed_traits(_fold(events), NOW)
        assert merge_profiles(right, left, NOW_ISO).computed == merged.computed


def test_rebuild_refolds_computed_state() -> None:
    events = _mixed_events()
    profile = Profile.new("p", T0)
    for event in reversed(events):
        apply_event(profile, event, [], NOW_ISO)

    assert _fold(events).computed == profile.computed
    # an order 800 days old is outside the kept buckets, 420 is not (the newest order is a day old)
    assert sorted(profile.computed.daily) == sorted({_at(d)[:10] for d in (1, 45, 100)})


def _item(profile: Profile) -> dict[str, Any]:
    return {"doc": {"S": json.dumps(profile_to_document(profile))}, "version": {"N": str(profile.version)}}


def test_computed_state_survives_the_stored_document() -> None:
    profile = _fold(_mixed_events())

    restored = profile_from_item(_item(profile))

    assert restored.computed == profile.computed
    assert computed_traits(restored, NOW) == computed_traits(profile, NOW)


def test_a_document_stored_before_computed_traits_reads_as_empty_state() -> None:
    profile = _fold([_order("o-1", _at(1), 500)])
    document = profile_to_document(profile)
    del document["computed"]

    restored = profile_from_item({"doc": {"S": json.dumps(document)}, "version": {"N": "3"}})

    assert restored.computed == ComputedState()
    assert restored.order_count == 1
    assert computed_traits(restored, NOW)["ltv"] == 500.0  # from the all-time counters
    assert computed_traits(restored, NOW)["orders"]["30d"] == 0  # until a rebuild refolds it
    # and folding goes on from the empty state
    apply_event(restored, _order("o-2", _at(0), 700), [], NOW_ISO)
    assert computed_traits(restored, NOW)["orders"]["30d"] == 1


def test_profile_view_shows_computed_traits_at_the_given_time() -> None:
    store = FakeProfileStore()
    store.seed(_fold(_mixed_events(), "p_amy"))

    view = profile_view(store, "p_amy", timeline_limit=1, now=NOW)

    assert view["computed_traits"] == computed_traits(_fold(_mixed_events(), "p_amy"), NOW)
    assert view["computed_traits"]["line_engagement"]["clicks"] == 2
    assert view["computed_traits"]["preferred_store"] == "TPE-101"
    assert view["computed_traits"]["revenue"]["30d"] == 1200.0
    # without a time it is evaluated now
    assert profile_view(store, "p_amy", timeline_limit=1)["computed_traits"]["evaluated_at"] > NOW


# through the processor ---------------------------------------------------------------------------
def test_processed_line_events_update_engagement_once_and_are_published(
    processor: EventProcessor, profile_store: FakeProfileStore, publisher: FakePublisher
) -> None:
    # Given a message and a postback from a LINE user, and a tracked-link click sent as a Segment call
    message = line_raw(line.text_message("有 M 號嗎", timestamp=1_714_557_660_000))
    answer = line_raw(line.postback(timestamp=1_714_557_720_000))
    click = partner_raw(
        {
            "type": "track",
            "event": "LINE Link Clicked",
            "messageId": "click-1",
            "anonymousId": "anon-click",
            "timestamp": "2024-05-01T10:05:00Z",
            "context": {"channel": "line", "externalIds": [{"type": "line", "id": f"{LINE_PROVIDER}:{line.USER_ID}"}]},
        }
    )

    results = [processor.process(raw) for raw in (message, answer, click)]
    # When the stream redelivers the message
    replay = processor.process(message)

    # Then each counts once on the one profile, and each change was published
    assert {result.profile_id for result in results} == {replay.profile_id}
    profile = profile_store.profiles[results[0].profile_id]
    assert computed_traits(profile, NOW)["line_engagement"] == {
        "messages": 1,
        "postbacks": 1,
        "clicks": 1,
        "last_click_at": "2024-05-01T10:05:00.000Z",
    }
    assert all("line_engagement" in result.changes for result in results)
    assert replay.outcome == "already_applied"
    # (a replay republishes what was committed with the event: same ids, so consumers dedupe)
    assert len({event.id for event in publisher.published if event.name == PROFILE_UPDATED}) == 3
