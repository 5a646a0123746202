"""Runs: one person going through one published journey version, on one Step Functions execution.

The contract between the parts of the journey runtime:
- the starter admits an entry (re-entry policy, concurrent-run cap), writes the run, and starts
  the version's state machine with `ExecutionInput` under the run id as the execution name;
- the state machine's tasks call the journey step function with `{"op", "node", "run": ...}`;
- the journey event consumer resumes waits, applies exit rules and records conversions and clicks;
- reports and the runs route read the run records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

ACTIVE = "active"
EXITED = "exited"

# Why a run ended (`journey.exited` reason, report rows).
COMPLETED = "completed"  # reached an exit node
HOLDOUT = "holdout"  # assigned to a random split's control group
EXIT_EVENT = "exit_event"  # an exit rule's event
LEFT_SEGMENT = "left_segment"
ARCHIVED = "archived"
MERGED = "merged"  # the same keyed entry of the person a merge joined already runs
FAILED = "failed"  # the execution failed (see its history)
ERASED = "erased"

NO_KEY = "-"  # the entry key of an unkeyed entry
MAX_PATH = 50  # nodes remembered per run (a loop keeps the newest)


def run_id_for(journey_id: str, version: int, profile_id: str, entry_key: str | None, occurrence: int) -> str:
    """The execution name: a duplicate entry (same journey, version, person, key and occurrence)
    derives the same name, and Step Functions starts it at most once. 80 characters at most."""
    material = f"{journey_id}\x1f{version}\x1f{profile_id}\x1f{entry_key or NO_KEY}\x1f{occurrence}"
    return "jr-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def send_key(run_id: str, node_id: str) -> str:
    """A send node's key at the send point: a retried task sends at most once."""
    return f"journey:{run_id}:{node_id}"


@dataclass(frozen=True, slots=True)
class Step:
    """A node the run reached, and what happened there."""

    node: str
    at: str  # ISO-8601 UTC
    outcome: str | None = None  # sent / suppressed:<reason> / branch:<name> / received / timed_out / ...


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    journey_id: str
    version: int
    profile_id: str
    entry_key: str  # NO_KEY when the entry is not keyed
    entered_at: str  # ISO-8601 UTC
    status: str = ACTIVE
    node: str | None = None  # where the person is now
    node_since: str | None = None
    waiting: dict[str, Any] | None = None  # {"kind": "delay"|"event", "until": iso, "event": name}
    path: tuple[Step, ...] = ()
    branches: dict[str, str] = field(default_factory=dict)  # split node -> branch name
    sent: dict[str, str] = field(default_factory=dict)  # send node -> outcome (sent, suppressed:<why>, failed)
    clicked: dict[str, str] = field(default_factory=dict)  # send node -> first click time
    converted_at: str | None = None
    conversion_value: float | None = None
    exited_at: str | None = None
    exit_reason: str | None = None
    execution_arn: str | None = None
    entry: dict[str, Any] = field(default_factory=dict)  # the entry event's name and properties
    # The person the run entered as: a merge moves the run to the survivor, an unmerge back here.
    entered_as: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = [asdict(step) for step in self.path]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        fields = dict(data)
        fields["path"] = tuple(Step(**step) for step in fields.get("path", ()))
        return cls(**fields)

    def reached(self, node: str, at: str, outcome: str | None = None) -> Run:
        path = (*self.path, Step(node, at, outcome))[-MAX_PATH:]
        return replace(self, node=node, node_since=at, path=path, waiting=None)


@dataclass(frozen=True, slots=True)
class ExecutionInput:
    """What a run's execution starts with (`$.run` in the state machine)."""

    run_id: str
    journey_id: str
    version: int
    profile_id: str
    entry_key: str
    entered_at: str
    entry: dict[str, Any]  # {"event": name or None, "properties": {...}, "segment_id": ...}

    def as_dict(self) -> dict[str, Any]:
        return {"run": asdict(self)}


class RunStore(Protocol):
    """Run records (DynamoDB adapter: cdp.adapters.dynamodb.journey_runs; fake: tests/fakes_journeys.py).

    Every write is field-level and idempotent, so the step function (retried by Step Functions),
    the event consumer and the starter can write one run at the same time without losing a field.
    """

    def get(self, run_id: str) -> Run | None: ...

    def put_new(self, run: Run) -> bool:
        """Create the run; False when a run with that id exists already (nothing written)."""
        ...

    def set_execution(self, run_id: str, execution_arn: str) -> None: ...

    def reach(self, run_id: str, step: Step, *, waiting: dict[str, Any] | None = None) -> bool:
        """Append `step` (node, the state's entered time, outcome) and move the run there, unless a
        step with the same node and time was appended already (a retried task). False then."""
        ...

    def set_waiting(self, run_id: str, waiting: dict[str, Any] | None) -> None: ...

    def record_branch(self, run_id: str, node: str, branch: str) -> None: ...

    def record_send(self, run_id: str, node: str, outcome: str) -> None: ...

    def record_click(self, run_id: str, node: str, at: str) -> bool:
        """The first click on the node's message (False when one was recorded already)."""
        ...

    def record_conversion(self, run_id: str, at: str, value: float | None) -> bool:
        """The run's first conversion (False when it converted already)."""
        ...

    def finish(self, run_id: str, reason: str, at: str) -> bool:
        """End an active run; False when it had ended already (so `journey.exited` is told once)."""
        ...

    def active_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        """The person's active runs (of one journey, or of all)."""
        ...

    def recent_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        """The person's runs, active or ended (newest first): conversions land within a goal window
        after exit too."""
        ...

    def reassign(self, from_profile: str, to_profile: str, run_ids: Collection[str] | None = None) -> list[Run]:
        """A merge: the merged-away person's runs now belong to the survivor; an unmerge: the
        `run_ids` the restored person entered go back to them. Returns the runs moved."""
        ...

    def of_journey(self, journey_id: str, *, limit: int | None = None) -> list[Run]:
        """Every run of the journey (reports), newest first."""
        ...
