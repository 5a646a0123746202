"""Journey definition graph checks: each rule answers 400 invalid_journey with the pointer of the
offending field (cdp.journeys.validation)."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from cdp.errors import BadRequest
from cdp.journeys.definition import parse_definition
from cdp.journeys.validation import check_document, listened_events, listened_segments, problems, send_templates


class Templates:
    def __init__(self, **templates: str) -> None:
        self.templates = {name: SimpleNamespace(status=status, latest_version=3) for name, status in templates.items()}

    def get(self, template_id: str) -> Any:
        return self.templates.get(template_id)


TEMPLATES = Templates(**{"cart-reminder": "active", "welcome": "active", "promo": "active", "old": "archived"})


def cart() -> dict[str, Any]:
    return {
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
            "remind": {"type": "send", "template_id": "cart-reminder", "next": "done"},
            "done": {"type": "exit"},
        },
        "exit_rules": [{"type": "event", "event": "Order Completed", "correlate": True}],
        "goal": {"event": "Order Completed", "within": "P7D"},
        "reentry": {"mode": "per_key"},
    }


def welcome() -> dict[str, Any]:
    return {
        "name": "Welcome",
        "entry": {"type": "segment", "segment_id": "new-followers"},
        "start": "hello",
        "nodes": {
            "hello": {"type": "send", "template_id": "welcome", "next": "wait"},
            "wait": {"type": "delay", "duration": "P2D", "next": "split"},
            "split": {
                "type": "condition",
                "branches": [
                    {"name": "clicked", "when": {"clicked": "hello"}, "next": "promo"},
                    {"name": "vip", "when": {"in_segment": "vip"}, "next": "promo"},
                    {"name": "email", "when": {"reachable": {"channel": "email"}}, "next": "done"},
                ],
                "else": "done",
            },
            "promo": {"type": "send", "template_id": "promo", "next": "done"},
            "done": {"type": "exit"},
        },
        "exit_rules": [{"type": "left_segment"}],
    }


def refusal(document: dict[str, Any], templates: Any = TEMPLATES) -> dict[str, Any]:
    with pytest.raises(BadRequest) as caught:
        check_document(document, templates)
    assert caught.value.code == "invalid_journey"
    details: dict[str, Any] = caught.value.details
    return details


@pytest.mark.parametrize("document", [cart(), welcome()])
def test_the_scenarios_definitions_are_valid(document: dict[str, Any]) -> None:
    definition = check_document(document, TEMPLATES)
    assert problems(definition, TEMPLATES) == []


def test_start_and_every_target_name_a_node() -> None:
    document = cart()
    document["start"] = "nowhere"
    document["nodes"]["wait_order"]["timed_out"] = "gone"
    document["nodes"]["remind"]["next"] = "lost"
    details = refusal(document)
    assert (details["path"], details["reason"]) == ("/start", "no node `nowhere`")
    assert [error["path"] for error in details["errors"]] == [
        "/start",
        "/nodes/wait_order/timed_out",
        "/nodes/remind/next",
    ]


def test_branch_targets_are_pointed_at_by_index() -> None:
    document = welcome()
    document["nodes"]["split"]["branches"][1]["next"] = "nope"
    document["nodes"]["split"]["else"] = "nada"
    details = refusal(document)
    assert [error["path"] for error in details["errors"]] == [
        "/nodes/split/branches/1/next",
        "/nodes/split/else",
    ]
    document = welcome()
    document["nodes"]["split"] = {
        "type": "random_split",
        "branches": [
            {"name": "a", "percent": 45, "next": "promo"},
            {"name": "b", "percent": 45, "next": "missing"},
            {"name": "control", "percent": 10, "holdout": True},
        ],
    }
    assert refusal(document)["path"] == "/nodes/split/branches/1/next"


def test_a_node_that_start_cannot_reach_is_refused() -> None:
    document = cart()
    document["nodes"]["orphan"] = {"type": "send", "template_id": "promo", "next": "done"}
    details = refusal(document)
    assert details["path"] == "/nodes/orphan"
    assert "cannot be reached" in details["reason"]


def test_a_loop_without_a_delay_is_refused_at_the_edge_that_closes_it() -> None:
    document = welcome()
    document["nodes"]["promo"]["next"] = "split"  # split -> promo -> split: nothing waits
    details = refusal(document)
    assert details["path"] == "/nodes/promo/next"
    assert details["reason"].startswith("a loop without a delay")
    assert "split → promo → split" in details["reason"]


def test_a_loop_through_a_delay_or_a_wait_is_allowed() -> None:
    document = welcome()
    document["nodes"]["promo"]["next"] = "wait"  # promo -> wait (P2D) -> split -> promo
    check_document(document, TEMPLATES)
    document = cart()
    document["nodes"]["remind"]["next"] = "wait_order"  # a nudge every 30 minutes until the order
    check_document(document, TEMPLATES)


def test_a_self_loop_is_a_loop() -> None:
    document = cart()
    document["nodes"]["tag"] = {"type": "action", "action": "add_tag", "tag": "x", "next": "tag"}
    document["nodes"]["remind"]["next"] = "tag"
    assert refusal(document)["path"] == "/nodes/tag/next"


@pytest.mark.parametrize(
    ("node", "field"),
    [
        ({"type": "delay", "duration": "P366D", "next": "done"}, "duration"),
        (
            {"type": "wait_for_event", "event": "X", "timeout": "P400D", "received": "done", "timed_out": "done"},
            "timeout",
        ),
        ({"type": "delay_until_time", "time": "10:00", "at_least": "P53W", "next": "done"}, "at_least"),
        ({"type": "delay_until_timestamp", "field": "traits.renewal_at", "offset": "P400D", "next": "done"}, "offset"),
    ],
)
def test_one_wait_longer_than_a_year_is_refused(node: dict[str, Any], field: str) -> None:
    document = cart()
    document["nodes"]["long"] = node
    document["nodes"]["remind"]["next"] = "long"
    details = refusal(document)
    assert details["path"] == f"/nodes/long/{field}"
    assert "365 days" in details["reason"]


def test_a_path_of_waits_adding_up_past_a_year_is_refused() -> None:
    document = cart()
    document["nodes"]["remind"]["next"] = "d1"
    document["nodes"]["d1"] = {"type": "delay", "duration": "P200D", "next": "d2"}
    document["nodes"]["d2"] = {"type": "delay", "duration": "P100D", "next": "d3"}
    document["nodes"]["d3"] = {"type": "delay_until_time", "time": "10:00", "at_least": "P64D", "next": "done"}
    details = refusal(document)
    assert details["path"] == "/nodes/d3"
    assert "wait_order → remind → d1 → d2 → d3" in details["reason"]
    document["nodes"]["d3"]["at_least"] = "P60D"  # 30 minutes + 360 days + the next 10:00: fits
    check_document(document, TEMPLATES)


def test_the_longest_branch_counts_and_loops_are_not_unrolled() -> None:
    document = cart()
    document["nodes"]["wait_order"]["timeout"] = "P300D"
    document["nodes"]["remind"]["next"] = "wait_order"  # the loop back is not followed
    check_document(document, TEMPLATES)
    document["nodes"]["remind"]["next"] = "later"
    document["nodes"]["later"] = {"type": "delay", "duration": "P70D", "next": "done"}
    assert refusal(document)["path"] == "/nodes/later"


def test_a_condition_rule_is_parsed_by_the_segment_rule_parser_with_its_pointer() -> None:
    document = welcome()
    document["nodes"]["split"]["branches"][2]["when"] = {"and": [{"tag": {"name": "vip"}}, {"tag": {"nme": "x"}}]}
    details = refusal(document)
    assert details["path"].startswith("/nodes/split/branches/2/when/and/1/tag")
    document["nodes"]["split"]["branches"][2]["when"] = {"in_segment": {"segment_id": "vip"}}  # the rule form
    check_document(document, TEMPLATES)
    document["nodes"]["split"]["branches"][2]["when"] = {"in_segment": "bad id!"}
    assert refusal(document)["path"] == "/nodes/split/branches/2/when/in_segment"


def test_clicked_names_a_send_node_that_comes_before() -> None:
    document = welcome()
    document["nodes"]["split"]["branches"][0]["when"] = {"clicked": "wait"}
    details = refusal(document)
    assert (details["path"], details["reason"]) == ("/nodes/split/branches/0/when/clicked", "`wait` is not a send node")
    document["nodes"]["split"]["branches"][0]["when"] = {"clicked": "promo"}  # after the split
    details = refusal(document)
    assert details["path"] == "/nodes/split/branches/0/when/clicked"
    assert "does not come before" in details["reason"]
    document["nodes"]["split"]["branches"][0]["when"] = {"clicked": "ghost"}
    assert refusal(document)["reason"] == "`ghost` is not a send node"


def test_left_segment_without_a_segment_needs_a_segment_entry() -> None:
    document = cart()
    document["exit_rules"] = [{"type": "left_segment"}]
    details = refusal(document)
    assert details["path"] == "/exit_rules/0"
    document["exit_rules"] = [{"type": "left_segment", "segment_id": "buyers"}]
    check_document(document, TEMPLATES)
    scheduled = welcome()
    scheduled["entry"] = {"type": "schedule", "segment_id": "members", "expression": "cron(0 10 * * ? *)"}
    check_document(scheduled, TEMPLATES)


def test_correlate_needs_an_event_entry_with_a_key() -> None:
    document = cart()
    document["entry"] = {"type": "event", "event": "Product Added"}
    document["goal"]["correlate"] = True
    details = refusal(document)
    assert [error["path"] for error in details["errors"]] == [
        "/nodes/wait_order/correlate",
        "/exit_rules/0/correlate",
        "/goal/correlate",
        "/reentry/mode",
    ]
    document = cart()
    document["entry"] = {"type": "segment", "segment_id": "carts"}
    document["reentry"] = {"mode": "after_exit"}
    assert refusal(document)["path"] == "/nodes/wait_order/correlate"


def test_sends_to_templates_that_do_not_exist_or_are_archived_are_refused() -> None:
    document = welcome()
    document["nodes"]["promo"]["template_id"] = "nope"
    document["nodes"]["hello"]["template_id"] = "old"
    details = refusal(document)
    assert details["errors"] == [
        {"path": "/nodes/hello/template_id", "reason": "template `old` is archived"},
        {"path": "/nodes/promo/template_id", "reason": "no template `nope`"},
    ]
    check_document(document, None)  # no lookup: the graph alone


def test_a_shape_error_comes_from_the_parser_with_its_pointer() -> None:
    document = cart()
    document["nodes"]["remind"]["template_id"] = ""
    assert refusal(document)["path"] == "/nodes/remind/template_id"


def test_what_a_definition_listens_to_and_sends() -> None:
    definition = parse_definition(cart())
    assert listened_events(definition) == ["Link Clicked", "Order Completed", "Product Added"]
    assert listened_segments(definition) == []
    welcome_definition = parse_definition(welcome())
    assert listened_segments(welcome_definition) == ["new-followers"]
    assert send_templates(welcome_definition) == ["welcome", "promo"]


def test_the_document_is_not_changed_by_checking() -> None:
    document = welcome()
    before = copy.deepcopy(document)
    check_document(document, TEMPLATES)
    assert document == before
