"""The journey bench's counting (tests/bench/journeys.py): states entered per run and per node
kind from execution histories, and the interpreter's count next to it."""

from __future__ import annotations

from typing import Any

from tests.bench.journeys import transitions

DOCUMENT: dict[str, Any] = {
    "nodes": {
        "wait_order": {"type": "wait_for_event"},
        "remind": {"type": "send"},
        "done": {"type": "exit"},
    }
}


def _history(*states: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "ExecutionStarted"}]
    for name in states:
        kind = "ChoiceState" if name.endswith("?") else "TaskState"
        events.append({"type": f"{kind}Entered", "stateEnteredEventDetails": {"name": name}})
        events.append({"type": f"{kind}Exited", "stateExitedEventDetails": {"name": name}})
    return [*events, {"type": "ExecutionSucceeded"}]


def test_states_entered_are_counted_per_run_and_per_node_kind() -> None:
    reminded = _history(
        "Enter",
        "Enter.next?",
        "wait_order",
        "wait_order.timed_out",
        "wait_order.timed_out.next?",
        "remind",
        "remind.next?",
        "done",
        "Done",
    )
    ordered = _history("Enter", "Enter.next?", "wait_order", "wait_order.next?", "done", "Done")
    found = transitions([reminded, ordered], DOCUMENT)
    assert found["runs"] == 2
    assert found["per_run"]["compiled"] == [9, 6]
    # The interpreter adds one dispatch Choice per node visited (entry excluded).
    assert found["per_run"]["interpreter"] == [12, 8]
    kinds = found["per_node_kind"]
    assert kinds["entry"] == {"compiled": 2.0, "interpreter": 2.0}
    assert kinds["wait_for_event"] == {"compiled": 2.5, "interpreter": 3.5}
    assert kinds["send"] == {"compiled": 2.0, "interpreter": 3.0}
    assert kinds["exit"] == {"compiled": 2.0, "interpreter": 3.0}
