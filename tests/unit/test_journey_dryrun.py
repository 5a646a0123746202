"""The dry-run walker (cdp.journeys.dryrun): time, waits, exit rules and the goal, with node
semantics of the test's own (the route wires the runtime's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cdp.errors import BadRequest
from cdp.journeys.definition import (
    Action,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    RandomSplit,
    Send,
    parse_definition,
    parse_duration,
)
from cdp.journeys.dryrun import DryRunState, dry_run, parse_events

START = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)

CART = {
    "name": "Cart reminder",
    "entry": {"type": "event", "event": "Product Added", "key": "cart_id"},
    "start": "wait_order",
    "nodes": {
        "wait_order": {
            "type": "wait_for_event",
            "event": "Order Completed",
            "correlate": True,
            "timeout": "PT30M",
            "received": "done",
            "timed_out": "remind",
        },
        "remind": {"type": "send", "template_id": "cart-reminder", "channels": ["line"], "next": "done"},
        "done": {"type": "exit"},
    },
    "exit_rules": [{"type": "event", "event": "Order Completed", "correlate": True}],
    "goal": {"event": "Order Completed", "within": "P7D", "correlate": True},
    "reentry": {"mode": "per_key"},
}

WELCOME = {
    "name": "Welcome",
    "entry": {"type": "event", "event": "LINE Followed"},
    "start": "welcome",
    "nodes": {
        "welcome": {"type": "send", "template_id": "welcome", "next": "wait"},
        "wait": {"type": "delay", "duration": "P2D", "next": "clicked"},
        "clicked": {
            "type": "condition",
            "branches": [{"name": "clicked", "when": {"clicked": "welcome"}, "next": "tag"}],
            "else": "nudge",
        },
        "tag": {"type": "action", "action": "add_tag", "tag": "interested:shoes", "next": "promo"},
        "promo": {"type": "send", "template_id": "promo", "next": "done"},
        "nudge": {"type": "send", "template_id": "nudge", "channels": ["email", "line"], "next": "done"},
        "done": {"type": "exit"},
    },
    "send_limit": 1,
}


class Semantics:
    def delay_until(self, node: DelayFor | DelayUntilTime | DelayUntilTimestamp, state: DryRunState) -> datetime:
        assert isinstance(node, DelayFor)
        return state.at + parse_duration(node.duration)

    def condition(self, node_id: str, node: ConditionSplit, state: DryRunState) -> tuple[str, str, str]:
        for branch in node.branches:
            if state.clicked(branch.when["clicked"]) is not None:
                return branch.name, branch.next, "clicked"
        return "else", node.else_, "no branch held"

    def split(self, node_id: str, node: RandomSplit, state: DryRunState) -> tuple[str, str | None, str]:
        branch = node.branches[0]
        return branch.name, branch.next, "first"

    def send(self, node_id: str, node: Send, state: DryRunState) -> dict[str, Any]:
        return {"template_id": node.template_id, "channels": list(node.channels), "would_send": True}

    def action(self, node_id: str, node: Action, state: DryRunState) -> dict[str, Any]:
        return {"add_tag": node.tag}


def _run(document: dict[str, Any], events: list[dict[str, Any]], entry: dict[str, Any]) -> dict[str, Any]:
    return dry_run(
        "j1",
        parse_definition(document),
        profile_id="p1",
        entry=entry,
        events=parse_events(events, START),
        start=START,
        semantics=Semantics(),
    )


def test_no_order_in_30_minutes_sends_the_reminder() -> None:
    answer = _run(CART, [], {"event": "Product Added", "properties": {"cart_id": "C1"}})
    assert [step["node"] for step in answer["path"]] == ["wait_order", "remind", "done"]
    assert answer["path"][0]["branch"] == "timed_out"
    assert answer["sends"] == [
        {
            "template_id": "cart-reminder",
            "channels": ["line"],
            "would_send": True,
            "node": "remind",
            "at": "2026-05-04T02:30:00Z",
        }
    ]
    assert (answer["exit_reason"], answer["conversion"]["converted"]) == ("completed", False)


def test_the_order_at_minute_20_ends_the_run_and_nothing_is_sent() -> None:
    events = [{"event": "Order Completed", "properties": {"cart_id": "C1", "revenue": 990}, "after": "PT20M"}]
    answer = _run(CART, events, {"event": "Product Added", "properties": {"cart_id": "C1"}})
    assert answer["exit_reason"] == "exit_event" and answer["ended_at"] == "2026-05-04T02:20:00Z"
    assert answer["sends"] == []
    assert answer["conversion"] == {"converted": True, "at": "2026-05-04T02:20:00Z", "value": 990.0}


def test_an_order_of_another_cart_does_not_count() -> None:
    events = [{"event": "Order Completed", "properties": {"cart_id": "C2"}, "after": "PT20M"}]
    answer = _run(CART, events, {"event": "Product Added", "properties": {"cart_id": "C1"}})
    assert [send["node"] for send in answer["sends"]] == ["remind"]
    assert answer["conversion"]["converted"] is False


def test_a_click_takes_the_clicked_branch_and_the_send_limit_holds() -> None:
    clicked = [{"event": "Link Clicked", "properties": {"node_id": "welcome"}, "after": "PT5H"}]
    answer = _run(WELCOME, clicked, {"event": "LINE Followed"})
    assert [step["node"] for step in answer["path"]] == ["welcome", "wait", "clicked", "tag", "promo", "done"]
    assert answer["path"][2]["branch"] == "clicked"
    assert answer["path"][3]["action"] == {"add_tag": "interested:shoes"}
    promo = answer["sends"][1]
    assert (promo["node"], promo["would_send"], promo["reason"]) == ("promo", False, "capped_journey")

    answer = _run(WELCOME, [], {"event": "LINE Followed"})
    assert answer["path"][2]["branch"] == "else" and answer["path"][3]["node"] == "nudge"


def test_bad_hypothetical_events_are_refused() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_events([{"event": "X", "after": "soon"}], START)
    assert caught.value.code == "invalid_test_events" and "/events/0/after" in str(caught.value)
    with pytest.raises(BadRequest):
        parse_events([{"properties": {}}], START)
    with pytest.raises(BadRequest):
        parse_events("nope", START)
