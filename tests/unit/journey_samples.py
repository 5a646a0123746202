"""Journey definitions the journey runtime's tests share."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cdp.journeys.ports import Wait

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


class InMemoryWaitStore:
    """WaitStore in memory: keyed (person, event, correlation, run); a retried task replaces its token."""

    def __init__(self) -> None:
        self.waits: dict[tuple[str, str, str, str], Wait] = {}

    def register(self, wait: Wait) -> None:
        self.waits[(wait.profile_id, wait.event, wait.correlation or "*", wait.run_id)] = wait

    def waiting_for(self, profile_id: str, event: str) -> list[Wait]:
        return [w for (p, e, _, _), w in self.waits.items() if (p, e) == (profile_id, event)]

    def remove(self, wait: Wait) -> None:
        self.waits.pop((wait.profile_id, wait.event, wait.correlation or "*", wait.run_id), None)

    def reassign(self, from_profile: str, to_profile: str) -> list[Wait]:
        moved = [w for w in self.waits.values() if w.profile_id == from_profile]
        for wait in moved:
            self.remove(wait)
            self.register(replace(wait, profile_id=to_profile))
        return moved
