"""Journey definitions the journey runtime's tests share."""

from __future__ import annotations

from typing import Any

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
        "remind": {"type": "send", "template_id": "cart-reminder", "next": "done"},
        "done": {"type": "exit"},
    },
    "exit_rules": [{"type": "event", "event": "Order Completed", "correlate": True}],
    "reentry": {"mode": "per_key"},
    "send_limit": 3,
}

WELCOME: dict[str, Any] = {
    "name": "Welcome",
    "entry": {"type": "segment", "segment_id": "new-followers"},
    "start": "pause",
    "nodes": {
        "pause": {"type": "delay", "duration": "PT30M", "next": "ab"},
        "ab": {
            "type": "random_split",
            "branches": [
                {"name": "a", "percent": 45, "next": "welcome"},
                {"name": "b", "percent": 45, "next": "welcome"},
                {"name": "control", "percent": 10, "holdout": True},
            ],
        },
        "welcome": {"type": "send", "template_id": "welcome", "next": "morning"},
        "morning": {"type": "delay_until_time", "time": "10:00", "weekdays": ["mon", "tue"], "next": "clicked"},
        "clicked": {
            "type": "condition",
            "branches": [
                {"name": "clicked", "when": {"clicked": "welcome"}, "next": "tag"},
                {"name": "vip", "when": {"in_segment": "vip"}, "next": "tag"},
            ],
            "else": "birthday",
        },
        "tag": {"type": "action", "action": "add_tag", "tag": "interested", "next": "done"},
        "birthday": {"type": "delay_until_timestamp", "field": "traits.birthday_at", "offset": "-P1D", "next": "done"},
        "done": {"type": "exit"},
    },
}
