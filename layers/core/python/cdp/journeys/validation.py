"""Graph checks on a journey definition whose shape is valid (cdp.journeys.definition).

Each problem is a BadRequest `invalid_journey` with `details.path` (a JSON pointer into the
document) and `details.reason`; every problem found is in `details.errors`, the first one is
the answer's `path` / `reason`. What is checked:

- `start` and every `next` / branch target names a node; every node is reachable from `start`;
- a loop passes through a delay or a wait (`delay`, `delay_until_time`, `wait_for_event`):
  a loop without one would spin the execution through Step Functions' transition quota;
- no single wait (a delay's `duration`, a wait's `timeout`, `delay_until_time.at_least`, a
  positive `delay_until_timestamp.offset`) is longer than `MAX_WAIT`, and no path adds up fixed
  waits past it (a Standard execution lives one year at most; loops are followed once, up to
  where they turn back);
- a condition branch's `when` is a segment rule (cdp.segments.rules) or a shortcut:
  `{"in_segment": "<segment id>"}`, `{"clicked": "<node>"}` where the node is a send node that
  comes before the condition;
- a `left_segment` exit rule without `segment_id` needs a segment entry; `correlate` (and
  re-entry `per_key`) needs an event entry with a `key`;
- each send node's template exists and is active (through `TemplateLookup`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from cdp.errors import BadRequest
from cdp.journeys.definition import (
    ERROR_CODE,
    MAX_WAIT,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    EventEntry,
    JourneyDefinition,
    LeftSegmentExitRule,
    Node,
    RandomSplit,
    Send,
    WaitForEvent,
    parse_definition,
    parse_duration,
    successors,
)
from cdp.segments.rules import parse_rule

MAX_ERRORS = 20
# Nodes that hold a run for a while: a loop through one of them cannot spin.
WAITING_NODES = (DelayFor, DelayUntilTime, WaitForEvent)
LINK_CLICKED = "Link Clicked"
SEGMENT_ID = re.compile(r"[A-Za-z0-9_.:#@-]{1,128}")


class TemplateRecord(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def latest_version(self) -> int: ...


class TemplateLookup(Protocol):
    """The template store's record lookup (cdp.messaging.templates.store.TemplateStore.get)."""

    def get(self, template_id: str) -> TemplateRecord | None: ...


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    reason: str


def _escape(part: str | int) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _pointer(*parts: str | int) -> str:
    return "".join(f"/{_escape(part)}" for part in parts)


def check_document(document: Any, templates: TemplateLookup | None) -> JourneyDefinition:
    """Parse (shape) and check (graph, templates) a definition document; the definition when valid."""
    definition = parse_definition(document)
    validate(definition, templates)
    return definition


def validate(definition: JourneyDefinition, templates: TemplateLookup | None) -> None:
    """Raise BadRequest(invalid_journey) when the definition breaks a rule; `templates` None
    skips the template check (a definition read back from a published version)."""
    found = problems(definition, templates)
    if found:
        first = found[0]
        raise BadRequest(
            f"invalid journey at {first.path or '/'}: {first.reason}",
            code=ERROR_CODE,
            details={
                "path": first.path,
                "reason": first.reason,
                "errors": [{"path": p.path, "reason": p.reason} for p in found[:MAX_ERRORS]],
            },
        )


def problems(definition: JourneyDefinition, templates: TemplateLookup | None) -> list[Problem]:
    """Every problem, in document order of the rules above."""
    found = list(_targets(definition))
    if found:
        return found  # the graph checks below walk the edges: they need every target to exist
    found.extend(_unreachable(definition))
    found.extend(_loops(definition))
    found.extend(_waits(definition))
    found.extend(_conditions(definition))
    found.extend(_settings(definition))
    if templates is not None:
        found.extend(_templates(definition, templates))
    return found


# --- edges -------------------------------------------------------------------------------------
def edges(node_id: str, node: Node) -> list[tuple[str, str]]:
    """(JSON pointer of the field, target node id) of each way out of a node."""
    base = ("nodes", node_id)
    if isinstance(node, WaitForEvent):
        return [(_pointer(*base, "received"), node.received), (_pointer(*base, "timed_out"), node.timed_out)]
    if isinstance(node, ConditionSplit):
        out = [(_pointer(*base, "branches", i, "next"), branch.next) for i, branch in enumerate(node.branches)]
        return [*out, (_pointer(*base, "else"), node.else_)]
    if isinstance(node, RandomSplit):
        return [
            (_pointer(*base, "branches", i, "next"), branch.next)
            for i, branch in enumerate(node.branches)
            if branch.next is not None
        ]
    return [(_pointer(*base, "next"), target) for target in successors(node)]


def _targets(definition: JourneyDefinition) -> Iterator[Problem]:
    if definition.start not in definition.nodes:
        yield Problem("/start", f"no node `{definition.start}`")
    for node_id, node in definition.nodes.items():
        for path, target in edges(node_id, node):
            if target not in definition.nodes:
                yield Problem(path, f"no node `{target}`")


def _reachable(definition: JourneyDefinition, origin: str) -> set[str]:
    seen = {origin}
    stack = [origin]
    while stack:
        for target in successors(definition.nodes[stack.pop()]):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _unreachable(definition: JourneyDefinition) -> Iterator[Problem]:
    reached = _reachable(definition, definition.start)
    for node_id in definition.nodes:
        if node_id not in reached:
            yield Problem(_pointer("nodes", node_id), f"node `{node_id}` cannot be reached from `start`")


def _loops(definition: JourneyDefinition) -> Iterator[Problem]:
    """A cycle among the nodes that do not wait: reported at the edge that closes it."""
    nodes = definition.nodes
    quick = {node_id for node_id, node in nodes.items() if not isinstance(node, WAITING_NODES)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    reported: set[str] = set()
    for root in nodes:
        if root not in quick or root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, Iterator[tuple[str, str]]]] = [(root, iter(edges(root, nodes[root])))]
        while stack:
            node_id, out = stack[-1]
            step = next(out, None)
            if step is None:
                state[node_id] = 2
                stack.pop()
                continue
            path, target = step
            if target not in quick:
                continue
            if state.get(target) == 1:
                if path not in reported:
                    reported.add(path)
                    loop = [name for name, _ in stack[[name for name, _ in stack].index(target) :]]
                    shown = " → ".join([*loop, target])
                    yield Problem(path, f"a loop without a delay or a wait ({shown})")
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(edges(target, nodes[target]))))


# --- waits -------------------------------------------------------------------------------------
def longest_wait(node: Node) -> timedelta:
    """The longest a node can hold a run for sure (0 when it depends on data)."""
    if isinstance(node, DelayFor):
        return parse_duration(node.duration)
    if isinstance(node, WaitForEvent):
        return parse_duration(node.timeout)
    if isinstance(node, DelayUntilTime):
        first = parse_duration(node.at_least) if node.at_least else timedelta(0)
        # then the next HH:MM: within a day, or within a week on allowed weekdays
        return first + (timedelta(days=7) if node.weekdays else timedelta(days=1))
    return timedelta(0)


def _waits(definition: JourneyDefinition) -> Iterator[Problem]:
    limit = f"{MAX_WAIT.days} days (a Step Functions execution lives one year at most)"
    too_long: set[str] = set()
    for node_id, node in definition.nodes.items():
        field, value = None, None
        if isinstance(node, DelayFor):
            field, value = "duration", node.duration
        elif isinstance(node, WaitForEvent):
            field, value = "timeout", node.timeout
        elif isinstance(node, DelayUntilTime) and node.at_least is not None:
            field, value = "at_least", node.at_least
        elif isinstance(node, DelayUntilTimestamp) and not node.offset.startswith("-"):
            field, value = "offset", node.offset  # a timestamp of now plus the offset
        if field is not None and value is not None and parse_duration(value) > MAX_WAIT:
            too_long.add(node_id)
            yield Problem(_pointer("nodes", node_id, field), f"a wait of {value} is longer than {limit}")
    if too_long:
        return
    over = _longest_path(definition)
    if over is not None:
        node_id, path = over
        shown = " → ".join(path)
        yield Problem(_pointer("nodes", node_id), f"the waits along {shown} add up to more than {limit}")


def _longest_path(definition: JourneyDefinition) -> tuple[str, list[str]] | None:
    """The first node where a path from `start` has waited longer than MAX_WAIT, with the path;
    back edges (loops) are not followed. None when every path fits."""
    nodes = definition.nodes
    order: list[str] = []  # reverse post-order over the graph without back edges
    state: dict[str, int] = {}
    forward: dict[str, list[str]] = {node_id: [] for node_id in nodes}
    state[definition.start] = 1
    stack: list[tuple[str, Iterator[str]]] = [(definition.start, iter(successors(nodes[definition.start])))]
    while stack:
        node_id, out = stack[-1]
        target = next(out, None)
        if target is None:
            state[node_id] = 2
            order.append(node_id)
            stack.pop()
            continue
        if state.get(target) == 1:
            continue  # a back edge: loops are not unrolled
        forward[node_id].append(target)
        if target not in state:
            state[target] = 1
            stack.append((target, iter(successors(nodes[target]))))
    order.reverse()
    # Longest wait accumulated on arrival at each node, and the path that gave it.
    arrival: dict[str, timedelta] = {definition.start: timedelta(0)}
    best_from: dict[str, str | None] = {definition.start: None}
    for node_id in order:
        if node_id not in arrival:
            continue
        leaving = arrival[node_id] + longest_wait(nodes[node_id])
        if leaving > MAX_WAIT:
            path = [node_id]
            previous = best_from[node_id]
            while previous is not None:
                path.append(previous)
                previous = best_from[previous]
            return node_id, list(reversed(path))
        for target in forward[node_id]:
            if target not in arrival or leaving > arrival[target]:
                arrival[target] = leaving
                best_from[target] = node_id
    return None


# --- conditions --------------------------------------------------------------------------------
def shortcut(when: dict[str, Any]) -> tuple[str, str] | None:
    """("in_segment", id) or ("clicked", node) for the condition shortcuts, else None (a rule)."""
    if len(when) == 1:
        ((key, value),) = when.items()
        if key in ("in_segment", "clicked") and isinstance(value, str):
            return key, value
    return None


def _conditions(definition: JourneyDefinition) -> Iterator[Problem]:
    nodes = definition.nodes
    for node_id, node in nodes.items():
        if not isinstance(node, ConditionSplit):
            continue
        for index, branch in enumerate(node.branches):
            base = ("nodes", node_id, "branches", index, "when")
            short = shortcut(branch.when)
            if short is None:
                try:
                    parse_rule(branch.when)
                except BadRequest as error:
                    details = error.details if isinstance(error.details, dict) else {}
                    inner = str(details.get("path", ""))
                    yield Problem(_pointer(*base) + inner, str(details.get("reason", error.message)))
                continue
            kind, value = short
            if kind == "in_segment":
                if not SEGMENT_ID.fullmatch(value):
                    yield Problem(_pointer(*base, "in_segment"), "a segment id (1 to 128 of A-Z, a-z, 0-9, _.:#@-)")
                continue
            sent = nodes.get(value)
            if not isinstance(sent, Send):
                yield Problem(_pointer(*base, "clicked"), f"`{value}` is not a send node")
            elif node_id not in _reachable(definition, value):
                yield Problem(_pointer(*base, "clicked"), f"the send node `{value}` does not come before `{node_id}`")


# --- journey-level settings --------------------------------------------------------------------
def _settings(definition: JourneyDefinition) -> Iterator[Problem]:
    entry = definition.entry
    keyed = isinstance(entry, EventEntry) and entry.key is not None
    keyless = "needs an event entry with a `key` (the property the run is keyed by)"
    for node_id, node in definition.nodes.items():
        if isinstance(node, WaitForEvent) and node.correlate and not keyed:
            yield Problem(_pointer("nodes", node_id, "correlate"), f"`correlate` {keyless}")
    for index, rule in enumerate(definition.exit_rules):
        if isinstance(rule, LeftSegmentExitRule):
            if rule.segment_id is None and getattr(entry, "segment_id", None) is None:
                yield Problem(
                    _pointer("exit_rules", index),
                    "`left_segment` without `segment_id` needs a segment entry (it means the entry segment)",
                )
        elif rule.correlate and not keyed:
            yield Problem(_pointer("exit_rules", index, "correlate"), f"`correlate` {keyless}")
    if definition.goal is not None and definition.goal.correlate and not keyed:
        yield Problem("/goal/correlate", f"`correlate` {keyless}")
    if definition.reentry.mode == "per_key" and not keyed:
        yield Problem("/reentry/mode", f"`per_key` {keyless}")


def _templates(definition: JourneyDefinition, templates: TemplateLookup) -> Iterator[Problem]:
    for node_id, node in definition.nodes.items():
        if not isinstance(node, Send):
            continue
        template = templates.get(node.template_id)
        path = _pointer("nodes", node_id, "template_id")
        if template is None:
            yield Problem(path, f"no template `{node.template_id}`")
        elif template.status != "active":
            yield Problem(path, f"template `{node.template_id}` is {template.status}")


def send_templates(definition: JourneyDefinition) -> list[str]:
    """The template ids the send nodes name, each once, in document order."""
    return list(dict.fromkeys(node.template_id for node in definition.nodes.values() if isinstance(node, Send)))


def listened_events(definition: JourneyDefinition, *, entries: bool = True) -> list[str]:
    """The event names this definition reacts to: its entry event (unless `entries` is False: a
    paused journey starts no run), and what its runs wait for, exit on, convert on, click."""
    names: set[str] = set()
    if entries and isinstance(definition.entry, EventEntry):
        names.add(definition.entry.event)
    for node in definition.nodes.values():
        if isinstance(node, WaitForEvent):
            names.add(node.event)
        elif isinstance(node, Send):
            names.add(LINK_CLICKED)
    for rule in definition.exit_rules:
        if not isinstance(rule, LeftSegmentExitRule):
            names.add(rule.event)
    if definition.goal is not None:
        names.add(definition.goal.event)
    return sorted(names)


def listened_segments(definition: JourneyDefinition) -> list[str]:
    """The segments whose entries / exits matter: the entry segment, left_segment exit rules'."""
    entry_segment = getattr(definition.entry, "segment_id", None)
    names: set[str] = {entry_segment} if entry_segment else set()
    for rule in definition.exit_rules:
        if isinstance(rule, LeftSegmentExitRule):
            segment = rule.segment_id or entry_segment
            if segment:
                names.add(segment)
    return sorted(names)
