"""Published journey versions the runtime tests share (cart reminder, welcome on segment entry)."""

from __future__ import annotations

from typing import Any

from cdp.journeys.definition import parse_definition
from cdp.journeys.model import PublishedVersion

MACHINE = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:cdp-journey-{journey}-v{version}"
PUBLISHED_AT = "2026-03-01T00:00:00.000Z"

CART: dict[str, Any] = {
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
    "goal": {"event": "Order Completed", "correlate": True, "within": "P7D"},
    "reentry": {"mode": "per_key"},
    "max_concurrent_runs": 3,
}

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "entry": {"type": "segment", "segment_id": "new-followers"},
    "start": "welcome",
    "nodes": {
        "welcome": {"type": "send", "template_id": "welcome", "next": "wait"},
        "wait": {"type": "delay", "duration": "P2D", "next": "done"},
        "done": {"type": "exit"},
    },
    "exit_rules": [{"type": "left_segment"}],
    "reentry": {"mode": "never"},
}

COHORT: dict[str, Any] = {
    "name": "Day 1 of the month",
    "entry": {"type": "schedule", "segment_id": "vip", "expression": "cron(0 10 1 * ? *)"},
    "start": "hello",
    "nodes": {"hello": {"type": "send", "template_id": "vip-preview", "next": "done"}, "done": {"type": "exit"}},
}


def version(journey_id: str, document: dict[str, Any], number: int = 1, **changes: Any) -> PublishedVersion:
    doc = {**document, **changes}
    return PublishedVersion(
        journey_id=journey_id,
        version=number,
        document=parse_definition(doc).document(),
        templates={},
        published_at=PUBLISHED_AT,
        state_machine_arn=MACHINE.format(journey=journey_id, version=number),
    )
