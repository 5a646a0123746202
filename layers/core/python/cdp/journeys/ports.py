"""What the journey domain needs from the outside (adapters in cdp.adapters; fakes in tests/fakes_journeys.py)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp.journeys.model import PublishedVersion


class JourneyMachines(Protocol):
    """Each published version runs on a state machine of its own (cdp.journeys.compiler)."""

    def deploy(self, version: PublishedVersion) -> str:
        """Create (or find) the version's state machine; returns its ARN. Idempotent."""
        ...

    def retire(self, state_machine_arn: str) -> None:
        """Delete a version's state machine once no run is on it."""
        ...


class EntrySchedules(Protocol):
    """Scheduled-cohort entries: one EventBridge Scheduler schedule per journey."""

    def put(self, version: PublishedVersion) -> None:
        """Create or replace the journey's schedule (a no-op for other entry types)."""
        ...

    def remove(self, journey_id: str) -> None: ...


class RunEnder(Protocol):
    def end_all(self, journey_id: str, reason: str) -> int:
        """Stop every active run of the journey (archive); returns how many were ended."""
        ...


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """One person to start on one journey version: what the starter queue carries."""

    journey_id: str
    version: int
    profile_id: str
    entry_key: str | None  # the entry key's value (keyed event entries), else None
    cause_id: str  # what caused it (the event id, `segment:<id>:<entered_at>`, the cohort firing)
    entered_at: str  # ISO-8601 UTC
    entry: dict[str, Any] = field(default_factory=dict)  # {"event", "properties", "segment_id"}


class EntryQueue(Protocol):
    def enqueue(self, requests: Sequence[EntryRequest]) -> None:
        """Hand entries to the starter (SQS; starts are paced to the StartExecution quota)."""
        ...


@dataclass(frozen=True, slots=True)
class Wait:
    """A run waiting for an event: resumed with SendTaskSuccess on `task_token`."""

    run_id: str
    journey_id: str
    node: str
    profile_id: str
    event: str
    correlation: str | None  # the property name and value to match (`cart_id=C1`), or None
    where: list[dict[str, Any]]  # PropertyFilter documents
    task_token: str
    expires_at: str  # ISO-8601 UTC: the task's timeout (the item's TTL follows it)


class WaitStore(Protocol):
    def register(self, wait: Wait) -> None:
        """Keep the wait, keyed (person, event, correlation); a retried task replaces its token."""
        ...

    def waiting_for(self, profile_id: str, event: str) -> list[Wait]: ...

    def remove(self, wait: Wait) -> None: ...

    def reassign(self, from_profile: str, to_profile: str, run_ids: Collection[str] | None = None) -> list[Wait]:
        """A merge: the merged-away person's waits now wait on the survivor."""
        ...
