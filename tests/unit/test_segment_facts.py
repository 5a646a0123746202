"""Segment facts from stored profiles and canonical events: S1 end to end on the Python side."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from cdp.identity.identifiers import Identifier, line_identifier
from cdp.profiles.model import Profile, apply_event
from cdp.segments import evaluate, parse_rule
from cdp.segments.facts import event_fact, facts_from_profile

from tests.unit.builders import canonical

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
NEVER_PURCHASED_AND_LINE_REACHABLE = parse_rule(
    {"and": [{"not": {"event": {"name": "Order Completed"}}}, {"reachable": {"channel": "line"}}]}
)
VIP_PREVIEW = parse_rule(
    {
        "and": [
            {
                "event": {
                    "name": "Order Completed",
                    "within": {"last": {"days": 30}},
                    "aggregate": "sum",
                    "property": "revenue",
                    "op": "gt",
                    "value": 3000,
                }
            },
            {
                "event": {
                    "name": "Link Clicked",
                    "where": [{"property": "context.channel", "op": "eq", "value": "line"}],
                }
            },
        ]
    }
)


def test_s1_on_a_folded_profile() -> None:
    line_user = line_identifier("provider", "U1")
    order = replace(
        canonical(event_id="e1", timestamp="2026-11-20T10:00:00.000Z", event="Order Completed", channel="pos"),
        properties={"revenue": 5000},
    )
    follow = canonical(
        event_id="e2",
        timestamp="2026-11-21T10:00:00.000Z",
        event="LINE Followed",
        channel="line",
        line_follow="friend",
        line_identifier=line_user,
        traits={"city": "Taipei"},
    )
    timeline = [order, follow]
    profile = Profile.new("m1", "2026-11-20T10:00:00.000Z")
    apply_event(profile, order, [Identifier("member_id", "M1"), Identifier("phone", "+886912345678")], "now")
    apply_event(profile, follow, [line_user], "now")

    facts = facts_from_profile(profile, NOW)
    assert facts.traits == {"city": "Taipei"}
    assert facts.line_status == "friend"
    assert facts.identifier_types == {"member_id", "phone", "line"}
    assert facts.computed["ltv"] == 5000
    assert facts.computed["orders"]["30d"] == 1
    events = [fact for fact in (event_fact(e) for e in timeline) if fact is not None]
    assert events[0].properties == {"revenue": 5000, "context": {"channel": "pos"}}
    assert events[0].timestamp == datetime(2026, 11, 20, 10, tzinfo=UTC)

    assert not evaluate(NEVER_PURCHASED_AND_LINE_REACHABLE, facts, events, NOW, set())
    assert not evaluate(VIP_PREVIEW, facts, events, NOW, set())
    click = canonical(event_id="e3", timestamp="2026-11-23T03:00:00.000Z", event="Link Clicked", channel="line")
    clicked = [*events, event_fact(click)]
    assert evaluate(VIP_PREVIEW, facts, [e for e in clicked if e is not None], NOW, set())
    by_computed = parse_rule({"attribute": {"field": "computed.orders.30d", "op": "gte", "value": 1}})
    assert evaluate(by_computed, facts, [], NOW, set())


def test_only_named_track_events_are_facts() -> None:
    assert (
        event_fact(canonical(event_id="i", timestamp="2026-11-20T10:00:00.000Z", type="identify", event=None)) is None
    )
    assert event_fact(canonical(event_id="t", timestamp="2026-11-20T10:00:00.000Z", event=None)) is None
