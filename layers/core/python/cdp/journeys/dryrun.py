"""A dry run: one person through a journey definition (usually the draft) against a simulated
clock, with the caller's hypothetical events, answering the path the run would take: each node
with its time, the branch taken and why, and what each send would send. Nothing is sent, no run
is written, no profile changes.

The node semantics (delay times, condition and split choice, the send's template and chain, the
action's effect) are the runtime's own (`DryRunSemantics`, wired to cdp.journeys.steps); what the
walker adds is time: a delay ends at its computed time, a wait ends at the first matching
hypothetical event or at its timeout, and an exit rule's event ends the run wherever it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cdp.errors import BadRequest
from cdp.journeys.definition import (
    Action,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    EventEntry,
    EventExitRule,
    Exit,
    JourneyDefinition,
    PropertyFilter,
    RandomSplit,
    Send,
    WaitForEvent,
    parse_duration,
)
from cdp.journeys.runs import COMPLETED, EXIT_EVENT, HOLDOUT, NO_KEY

LINK_CLICKED = "Link Clicked"
MAX_EVENTS = 50
MAX_STEPS = 200  # a loop (through a delay) is walked this far, then the answer says so


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class HypotheticalEvent:
    event: str
    properties: Mapping[str, Any]
    at: datetime


def parse_events(items: Any, start: datetime) -> list[HypotheticalEvent]:
    """`[{"event", "properties", "after": "PT20M"}]` (after the entry) as timed events, in order."""
    if items is None:
        return []
    if not isinstance(items, list) or len(items) > MAX_EVENTS:
        raise BadRequest(f"`events` is a list of at most {MAX_EVENTS} events", code="invalid_test_events")
    events = []
    for index, item in enumerate(items):
        where = f"/events/{index}"
        if not isinstance(item, dict) or not isinstance(item.get("event"), str) or not item["event"]:
            raise BadRequest(f"{where}: an event has a name (`event`)", code="invalid_test_events")
        properties = item.get("properties", {})
        if not isinstance(properties, dict):
            raise BadRequest(f"{where}/properties: an object", code="invalid_test_events")
        unknown = set(item) - {"event", "properties", "after"}
        if unknown:
            raise BadRequest(f"{where}: unknown fields {sorted(unknown)}", code="invalid_test_events")
        try:
            after = parse_duration(item.get("after", "PT0S"))
        except ValueError as error:
            raise BadRequest(f"{where}/after: {error}", code="invalid_test_events") from None
        events.append(HypotheticalEvent(item["event"], properties, start + after))
    return sorted(events, key=lambda event: event.at)


@dataclass(slots=True)
class DryRunState:
    """What the semantics may read: who, when, the entry, and what happened so far."""

    journey_id: str
    profile_id: str
    entry: Mapping[str, Any]  # {"event", "properties", "segment_id"}
    entry_key: str | None
    at: datetime
    events: Sequence[HypotheticalEvent]  # every hypothetical event (the past ones: those up to `at`)
    sends: dict[str, datetime] = field(default_factory=dict)  # send node -> when it would send
    tags_added: set[str] = field(default_factory=set)
    tags_removed: set[str] = field(default_factory=set)
    traits: dict[str, Any] = field(default_factory=dict)

    def past_events(self) -> list[HypotheticalEvent]:
        return [event for event in self.events if event.at <= self.at]

    def clicked(self, node: str) -> datetime | None:
        """When the person clicked the message of send node `node` (a hypothetical `Link Clicked`
        carrying `node_id`, after the send and by now), else None."""
        sent = self.sends.get(node)
        if sent is None:
            return None
        for event in self.events:
            properties = event.properties
            if (
                event.event == LINK_CLICKED
                and sent <= event.at <= self.at
                and properties.get("node_id") == node
                and properties.get("journey_id", self.journey_id) == self.journey_id
            ):
                return event.at
        return None


class DryRunSemantics(Protocol):
    """The runtime's node semantics, asked without side effects."""

    def delay_until(self, node: DelayFor | DelayUntilTime | DelayUntilTimestamp, state: DryRunState) -> datetime: ...

    def condition(self, node_id: str, node: ConditionSplit, state: DryRunState) -> tuple[str, str, str]:
        """(branch name or `else`, next node, why in words)."""
        ...

    def split(self, node_id: str, node: RandomSplit, state: DryRunState) -> tuple[str, str | None, str]:
        """(branch name, next node or None for the holdout, why in words)."""
        ...

    def send(self, node_id: str, node: Send, state: DryRunState) -> dict[str, Any]:
        """What the send would send: template (and version), channel chain, the channel that
        would reach the person or why none would."""
        ...

    def action(self, node_id: str, node: Action, state: DryRunState) -> dict[str, Any]:
        """The change the action would make (`{"add_tag": "interested:shoes"}`)."""
        ...


def property_matches(where: Sequence[PropertyFilter], properties: Mapping[str, Any]) -> bool:
    return all(_filter_holds(test, properties) for test in where)


def _lookup(properties: Mapping[str, Any], name: str) -> Any:
    value: Any = properties
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _filter_holds(test: PropertyFilter, properties: Mapping[str, Any]) -> bool:
    value = _lookup(properties, test.property)
    if test.op == "exists":
        return value is not None
    if value is None:
        return False
    if test.op == "in":
        return isinstance(test.value, list) and value in test.value
    if test.op == "eq":
        return bool(value == test.value)
    if test.op == "neq":
        return bool(value != test.value)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, test.value))
    texts = isinstance(value, str) and isinstance(test.value, str)
    if not (numbers or texts):
        return False
    if test.op == "gt":
        return bool(value > test.value)
    if test.op == "gte":
        return bool(value >= test.value)
    if test.op == "lt":
        return bool(value < test.value)
    return bool(value <= test.value)


def _correlated(correlate: bool, key_property: str | None, key: str | None, event: HypotheticalEvent) -> bool:
    if not correlate or key_property is None:
        return True
    return key is not None and str(_lookup(event.properties, key_property)) == key


def dry_run(
    journey_id: str,
    definition: JourneyDefinition,
    *,
    profile_id: str,
    entry: Mapping[str, Any],
    events: Sequence[HypotheticalEvent],
    start: datetime,
    semantics: DryRunSemantics,
) -> dict[str, Any]:
    """Walk the definition from its start node; see the module's description."""
    key_property = definition.entry.key if isinstance(definition.entry, EventEntry) else None
    key_value = _lookup(entry.get("properties") or {}, key_property) if key_property else None
    entry_key = None if key_value is None else str(key_value)
    state = DryRunState(journey_id, profile_id, entry, entry_key, start, events)
    path: list[dict[str, Any]] = []
    exit_rules = [rule for rule in definition.exit_rules if isinstance(rule, EventExitRule)]

    def exit_event(until: datetime) -> HypotheticalEvent | None:
        """The first exit-rule event after now and at or before `until`."""
        for event in events:
            if state.at < event.at <= until and any(
                rule.event == event.event
                and property_matches(rule.where, event.properties)
                and _correlated(rule.correlate, key_property, entry_key, event)
                for rule in exit_rules
            ):
                return event
        return None

    def ended(reason: str, why: str) -> dict[str, Any]:
        return _answer(journey_id, definition, state, path, start, reason=reason, why=why)

    node_id: str | None = definition.start
    while node_id is not None:
        if len(path) >= MAX_STEPS:
            return ended("step_limit", f"walked {MAX_STEPS} nodes: the journey loops (through a delay)")
        node = definition.nodes[node_id]
        step: dict[str, Any] = {"node": node_id, "type": node.type, "at": _iso(state.at)}
        path.append(step)
        if isinstance(node, DelayFor | DelayUntilTime | DelayUntilTimestamp):
            until = max(semantics.delay_until(node, state), state.at)
            step["until"] = _iso(until)
            stop = exit_event(until)
            if stop is not None:
                state.at = stop.at
                return ended(EXIT_EVENT, f"{stop.event} at {_iso(stop.at)} matched an exit rule during the delay")
            state.at = until
            node_id = node.next
        elif isinstance(node, WaitForEvent):
            deadline = state.at + parse_duration(node.timeout)
            step["until"] = _iso(deadline)
            stop = exit_event(deadline)
            got = next(
                (
                    event
                    for event in events
                    if state.at < event.at <= deadline
                    and event.event == node.event
                    and property_matches(node.where, event.properties)
                    and _correlated(node.correlate, key_property, entry_key, event)
                ),
                None,
            )
            if stop is not None and (got is None or stop.at <= got.at):
                state.at = stop.at
                step["outcome"] = "exited"
                return ended(EXIT_EVENT, f"{stop.event} at {_iso(stop.at)} matched an exit rule during the wait")
            if got is not None:
                state.at = got.at
                step.update({"outcome": "received", "branch": "received", "why": f"{got.event} at {_iso(got.at)}"})
                node_id = node.received
            else:
                state.at = deadline
                step.update(
                    {"outcome": "timed_out", "branch": "timed_out", "why": f"no {node.event} within {node.timeout}"}
                )
                node_id = node.timed_out
        elif isinstance(node, ConditionSplit):
            branch, target, why = semantics.condition(node_id, node, state)
            step.update({"branch": branch, "why": why})
            node_id = target
        elif isinstance(node, RandomSplit):
            branch, split_target, why = semantics.split(node_id, node, state)
            step.update({"branch": branch, "why": why})
            if split_target is None:
                return ended(HOLDOUT, f"assigned to the holdout branch {branch!r}: sends nothing")
            node_id = split_target
        elif isinstance(node, Send):
            would = semantics.send(node_id, node, state)
            if definition.send_limit is not None and len(state.sends) >= definition.send_limit:
                would = {**would, "would_send": False, "reason": "capped_journey"}
            step["send"] = would
            if would.get("would_send", True):
                state.sends[node_id] = state.at
            node_id = node.next
        elif isinstance(node, Action):
            change = semantics.action(node_id, node, state)
            step["action"] = change
            if "add_tag" in change:
                state.tags_added.add(str(change["add_tag"]))
                state.tags_removed.discard(str(change["add_tag"]))
            if "remove_tag" in change:
                state.tags_removed.add(str(change["remove_tag"]))
                state.tags_added.discard(str(change["remove_tag"]))
            if "set_trait" in change:
                state.traits[str(change["set_trait"])] = change.get("value")
            node_id = node.next
        elif isinstance(node, Exit):
            return ended(COMPLETED, "reached an exit node")
    return ended(COMPLETED, "reached the end")  # not reached: every path ends at an exit node


def _answer(
    journey_id: str,
    definition: JourneyDefinition,
    state: DryRunState,
    path: list[dict[str, Any]],
    start: datetime,
    *,
    reason: str,
    why: str,
) -> dict[str, Any]:
    conversion = None
    goal = definition.goal
    if goal is not None:
        key_property = definition.entry.key if isinstance(definition.entry, EventEntry) else None
        window = parse_duration(goal.within)
        hit = next(
            (
                event
                for event in state.events
                if start <= event.at <= start + window
                and event.event == goal.event
                and property_matches(goal.where, event.properties)
                and _correlated(goal.correlate, key_property, state.entry_key, event)
            ),
            None,
        )
        value = None
        if hit is not None and goal.value_property:
            raw = _lookup(hit.properties, goal.value_property)
            value = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        conversion = {"converted": hit is not None, "at": _iso(hit.at) if hit else None, "value": value}
    return {
        "journey_id": journey_id,
        "profile_id": state.profile_id,
        "entry_key": state.entry_key or NO_KEY,
        "started_at": _iso(start),
        "ended_at": _iso(state.at),
        "exit_reason": reason,
        "why": why,
        "path": path,
        "sends": [step["send"] | {"node": step["node"], "at": step["at"]} for step in path if "send" in step],
        "conversion": conversion,
        "dry_run": True,
    }
