"""A journey's report, computed from its run records (cdp.journeys.runs.Run) and a published
definition: no counters, so a retried step or a replayed event cannot inflate a figure.

- per node: runs that entered it (its id is on the run's path), runs waiting there now (active
  runs at the node) and runs that ended there, by reason;
- per send node: sent, held (quiet hours), suppressed by reason, failed, clicked (the first click of the run on the
  node's message) and CTR (clicked over sent);
- conversion: a run converts when `converted_at` lies within the goal's window after entry; its
  value is summed;
- per branch of a condition or random split (`Run.branches`) and of a wait for an event
  (`received` / `timed_out`, read from the path): the runs that took it, the CTR of the sends
  reached after it (the send nodes reachable from the branch) and their conversion rate;
- per random split with a holdout: holdout versus treatment conversion, the difference in
  percentage points and a two-sided two-proportion z-test (pooled; normal approximation).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from cdp.journeys.definition import (
    ConditionSplit,
    JourneyDefinition,
    Node,
    RandomSplit,
    Send,
    WaitForEvent,
    parse_duration,
    successors,
)
from cdp.journeys.runs import ACTIVE, Run

SENT = "sent"
SUPPRESSED = "suppressed"
FAILED = "failed"
HELD = "held"  # quiet hours: the send point releases it later


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def converted(run: Run, within: timedelta | None) -> bool:
    """The run converted within the goal's window after it entered."""
    if within is None or run.converted_at is None:
        return False
    delay = _time(run.converted_at) - _time(run.entered_at)
    return timedelta(0) <= delay <= within


def send_outcome(outcome: str) -> tuple[str, str | None]:
    """`sent` / `suppressed:<reason>` / `failed[:<reason>]` as (kind, reason)."""
    kind, _, reason = outcome.partition(":")
    return kind, reason or None


def two_proportion_test(hits_a: int, size_a: int, hits_b: int, size_b: int) -> tuple[float | None, float | None]:
    """(z, two-sided p-value) of H0: the two rates are equal, with the pooled standard error.
    None when a group is empty or neither or both groups ever hit (no variance)."""
    if size_a == 0 or size_b == 0:
        return None, None
    pooled = (hits_a + hits_b) / (size_a + size_b)
    error = math.sqrt(pooled * (1 - pooled) * (1 / size_a + 1 / size_b))
    if error == 0:
        return None, None
    z = (hits_a / size_a - hits_b / size_b) / error
    return z, math.erfc(abs(z) / math.sqrt(2))


def reachable_sends(definition: JourneyDefinition, start: str) -> set[str]:
    """The send nodes reachable from `start` (included)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in definition.nodes:
            continue
        seen.add(node_id)
        todo.extend(successors(definition.nodes[node_id]))
    return {node_id for node_id in seen if isinstance(definition.nodes[node_id], Send)}


class _Group:
    """Runs, their sends (over a set of send nodes), clicks and conversions."""

    def __init__(self) -> None:
        self.runs = 0
        self.sent = 0
        self.clicked = 0
        self.converted = 0
        self.value = 0.0

    def add(self, run: Run, sends: Iterable[str], is_converted: bool) -> None:
        self.runs += 1
        for node in sends:
            outcome = run.sent.get(node)
            if outcome is not None and send_outcome(outcome)[0] == SENT:
                self.sent += 1
                self.clicked += node in run.clicked
        if is_converted:
            self.converted += 1
            self.value += run.conversion_value or 0.0

    def figures(self, *, with_goal: bool) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "sent": self.sent,
            "clicked": self.clicked,
            "ctr": _rate(self.clicked, self.sent),
            "converted": self.converted if with_goal else None,
            "conversion_rate": _rate(self.converted, self.runs) if with_goal else None,
            "conversion_value": round(self.value, 2) if with_goal else None,
        }


def _branches_taken(run: Run, splits: dict[str, Node]) -> dict[str, str]:
    """The recorded split branches, and each wait's outcome: the step after the wait on the path
    (its `received` or `timed_out` node), else the wait step's own outcome."""
    taken = dict(run.branches)
    for index, step in enumerate(run.path):
        node = splits.get(step.node)
        if not isinstance(node, WaitForEvent) or step.node in taken:
            continue
        following = run.path[index + 1].node if index + 1 < len(run.path) else None
        if following is not None and following == node.received:
            taken[step.node] = "received"
        elif following is not None and following == node.timed_out:
            taken[step.node] = "timed_out"
        elif step.outcome in ("received", "timed_out"):
            taken[step.node] = step.outcome
    return taken


def _node_row(node: Node | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": node.type if node is not None else None,
        "entered": 0,
        "waiting_now": 0,
        "exited": {},
        "converted": 0,
    }
    if isinstance(node, Send):
        row.update(
            {
                "template_id": node.template_id,
                "sent": 0,
                "held": 0,
                "suppressed": {},
                "failed": 0,
                "clicked": 0,
                "ctr": None,
            }
        )
    return row


def journey_report(
    journey_id: str,
    definition: JourneyDefinition,
    runs: Iterable[Run],
    *,
    version: int | None = None,
) -> dict[str, Any]:
    """The report over `runs` (those of `version` only when given), laid on `definition`'s nodes;
    nodes of other versions that runs went through are listed too (`type` null)."""
    within = parse_duration(definition.goal.within) if definition.goal is not None else None
    with_goal = within is not None
    nodes: dict[str, dict[str, Any]] = {node_id: _node_row(node) for node_id, node in definition.nodes.items()}
    splits: dict[str, Node] = {
        node_id: node
        for node_id, node in definition.nodes.items()
        if isinstance(node, ConditionSplit | RandomSplit | WaitForEvent)
    }
    branch_sends: dict[tuple[str, str], set[str]] = {}
    for node_id, node in splits.items():
        if isinstance(node, ConditionSplit):
            for branch in node.branches:
                branch_sends[(node_id, branch.name)] = reachable_sends(definition, branch.next)
            branch_sends[(node_id, "else")] = reachable_sends(definition, node.else_)
        elif isinstance(node, WaitForEvent):
            branch_sends[(node_id, "received")] = reachable_sends(definition, node.received)
            branch_sends[(node_id, "timed_out")] = reachable_sends(definition, node.timed_out)
        elif isinstance(node, RandomSplit):
            for split_branch in node.branches:
                target = split_branch.next
                branch_sends[(node_id, split_branch.name)] = (
                    set() if target is None else reachable_sends(definition, target)
                )
    branches: dict[str, dict[str, _Group]] = {
        node_id: {name: _Group() for (split, name) in branch_sends if split == node_id} for node_id in splits
    }

    total = _Group()
    statuses: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    for run in runs:
        if run.journey_id != journey_id or (version is not None and run.version != version):
            continue
        is_converted = converted(run, within)
        total.add(run, run.sent, is_converted)
        statuses[run.status] += 1
        if run.status != ACTIVE:
            exits[run.exit_reason or "unknown"] += 1
        for node_id in dict.fromkeys(step.node for step in run.path):
            row = nodes.setdefault(node_id, _node_row(None))
            row["entered"] += 1
            row["converted"] += is_converted
        if run.node is not None:
            row = nodes.setdefault(run.node, _node_row(None))
            if run.status == ACTIVE:
                row["waiting_now"] += 1
            else:
                ended = run.exit_reason or "unknown"
                row["exited"][ended] = row["exited"].get(ended, 0) + 1
        for node_id, outcome in run.sent.items():
            row = nodes.setdefault(node_id, _node_row(None))
            if "sent" not in row:
                row.update({"sent": 0, "held": 0, "suppressed": {}, "failed": 0, "clicked": 0, "ctr": None})
            kind, why = send_outcome(outcome)
            if kind == SENT:
                row["sent"] += 1
                row["clicked"] += node_id in run.clicked
            elif kind == HELD:
                row["held"] += 1
            elif kind == FAILED:
                row["failed"] += 1
            else:  # suppressed:<reason>, or another outcome of the send point by its name
                key = (why or "unknown") if kind == SUPPRESSED else kind
                row["suppressed"][key] = row["suppressed"].get(key, 0) + 1
        for node_id, name in _branches_taken(run, splits).items():
            if node_id not in branches:
                continue
            group = branches[node_id].get(name)
            if group is None:  # a branch the definition no longer has
                group = branches[node_id][name] = _Group()
            group.add(run, branch_sends.get((node_id, name), set()), is_converted)
    for row in nodes.values():
        if "sent" in row:
            row["ctr"] = _rate(row["clicked"], row["sent"])

    figures = total.figures(with_goal=with_goal)
    return {
        "journey_id": journey_id,
        "version": version,
        "goal": None if definition.goal is None else {"event": definition.goal.event, "within": definition.goal.within},
        "runs": {
            "total": total.runs,
            "active": statuses.get(ACTIVE, 0),
            "exited": dict(sorted(exits.items())),
        },
        "sent": figures["sent"],
        "clicked": figures["clicked"],
        "ctr": figures["ctr"],
        "converted": figures["converted"],
        "conversion_rate": figures["conversion_rate"],
        "conversion_value": figures["conversion_value"],
        "nodes": nodes,
        "branches": {
            node_id: {name: group.figures(with_goal=with_goal) for name, group in groups.items()}
            for node_id, groups in branches.items()
        },
        "holdouts": _holdouts(definition, branches, with_goal=with_goal),
    }


def _holdouts(
    definition: JourneyDefinition, branches: dict[str, dict[str, _Group]], *, with_goal: bool
) -> dict[str, Any]:
    """Per random split with a holdout: its conversion against every other branch's together."""
    answer: dict[str, Any] = {}
    for node_id, node in definition.nodes.items():
        if not isinstance(node, RandomSplit):
            continue
        holdout = next((branch.name for branch in node.branches if branch.holdout), None)
        if holdout is None:
            continue
        groups = branches[node_id]
        control = groups[holdout]
        treated = [group for name, group in groups.items() if name != holdout]
        runs = sum(group.runs for group in treated)
        hits = sum(group.converted for group in treated)
        treatment_rate = _rate(hits, runs) if with_goal else None
        holdout_rate = _rate(control.converted, control.runs) if with_goal else None
        z, p_value = two_proportion_test(hits, runs, control.converted, control.runs) if with_goal else (None, None)
        answer[node_id] = {
            "holdout_branch": holdout,
            "treatment": {"runs": runs, "converted": hits if with_goal else None, "conversion_rate": treatment_rate},
            "holdout": {
                "runs": control.runs,
                "converted": control.converted if with_goal else None,
                "conversion_rate": holdout_rate,
            },
            "difference_pp": None
            if treatment_rate is None or holdout_rate is None
            else round((hits / runs - control.converted / control.runs) * 100, 4),
            "z": None if z is None else round(z, 4),
            "p_value": None if p_value is None else round(p_value, 6),
        }
    return answer
