"""In-memory fakes of the journey runtime's ports around executions (admissions, executions,
waits, the entry queue, handled-event marks)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cdp.clock import iso_from_ms
from cdp.journeys.admission import (
    PERSON,
    READMITTED,
    Decision,
    EntryRecord,
    decide,
    live_runs,
    merged,
    record_key,
    remembered,
    unmerged,
)
from cdp.journeys.definition import Reentry
from cdp.journeys.ports import EntryRequest, Wait
from cdp.journeys.starter import Started

from tests.fakes import FixedClock
from tests.fakes_journeys import InMemoryRunStore


class InMemoryAdmissions:
    """The JENTRY records in a dict, with the same decisions as the DynamoDB adapter."""

    def __init__(self, runs: InMemoryRunStore, clock: FixedClock) -> None:
        self.records: dict[tuple[str, str, str], EntryRecord] = {}
        self._runs = runs
        self._clock = clock
        self._lock = threading.Lock()

    def admit(
        self, request: EntryRequest, reentry: Reentry, max_concurrent_runs: int, run_id_of: Callable[[int], str]
    ) -> Decision:
        with self._lock:
            base = (request.journey_id, request.profile_id)
            record = record_key(request, reentry)
            person = self.records.get((*base, PERSON), EntryRecord())
            keyed = self.records.get((*base, record), EntryRecord()) if record != PERSON else None
            now_ms = self._clock.now_ms()
            statuses = {run_id: (run.status if (run := self._runs.get(run_id)) else None) for run_id in person.active}
            live = live_runs(person, statuses, datetime.fromtimestamp(now_ms / 1000, tz=UTC))
            decision = decide(request, reentry, max_concurrent_runs, person=person, keyed=keyed, live_runs=live)
            if not decision.admitted or decision.reason == READMITTED:
                return decision
            run_id = run_id_of(decision.occurrence)
            active = {key: value for key, value in person.active.items() if key in live}
            active[run_id] = iso_from_ms(now_ms)
            self.records[(*base, PERSON)] = EntryRecord(
                occurrences=person.occurrences + 1,
                causes=person.causes
                if keyed is not None
                else remembered(person.causes, request.cause_id, decision.occurrence),
                last_run_id=run_id,
                last_entered_at=request.entered_at,
                active=active,
                revision=person.revision + 1,
            )
            if keyed is not None:
                self.records[(*base, record)] = EntryRecord(
                    occurrences=keyed.occurrences + 1,
                    causes=remembered(keyed.causes, request.cause_id, decision.occurrence),
                    last_run_id=run_id,
                    last_entered_at=request.entered_at,
                    revision=keyed.revision + 1,
                )
            return decision

    def merge(self, journey_id: str, from_profile: str, to_profile: str) -> int:
        return self._fold(journey_id, from_profile, to_profile, lambda c, r: merged(c, r, from_profile))

    def unmerge(self, journey_id: str, survivor: str, restored: str, returned_runs: Collection[str]) -> int:
        return self._fold(journey_id, restored, survivor, lambda c, r: unmerged(c, r, restored, returned_runs))

    def _fold(
        self,
        journey_id: str,
        source: str,
        target: str,
        combine: Callable[[EntryRecord, EntryRecord], EntryRecord | None],
    ) -> int:
        with self._lock:
            changed = 0
            for (journey, profile, record), entry in list(self.records.items()):
                if journey != journey_id or profile != source:
                    continue
                after = combine(self.records.get((journey_id, target, record), EntryRecord()), entry)
                if after is not None:
                    self.records[(journey_id, target, record)] = after
                    changed += 1
            return changed


@dataclass
class FakeExecutions:
    """Step Functions' names: a name starts once; tokens resume once."""

    started: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # name -> (machine, input)
    stopped: list[tuple[str, str, str]] = field(default_factory=list)
    resumed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    live_tokens: set[str] = field(default_factory=set)
    crash_after_start: int = 0  # the next N starts raise after starting (a crash after the call)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> Started:
        arn = state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + name
        with self._lock:
            new = name not in self.started
            if new:
                self.started[name] = (state_machine_arn, payload)
            if self.crash_after_start:
                self.crash_after_start -= 1
                raise RuntimeError("the starter died after StartExecution")
        return Started(arn, new)

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        self.stopped.append((execution_arn, error, cause))

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        if task_token not in self.live_tokens:
            return False
        self.live_tokens.discard(task_token)
        self.resumed.append((task_token, output))
        return True


class InMemoryWaitStore:
    def __init__(self) -> None:
        self.waits: dict[tuple[str, str, str, str], Wait] = {}

    def _key(self, wait: Wait) -> tuple[str, str, str, str]:
        return (wait.profile_id, wait.event, wait.correlation or "*", wait.run_id)

    def register(self, wait: Wait) -> None:
        self.waits[self._key(wait)] = wait

    def waiting_for(self, profile_id: str, event: str) -> list[Wait]:
        return [w for w in self.waits.values() if w.profile_id == profile_id and w.event == event]

    def remove(self, wait: Wait) -> None:
        current = self.waits.get(self._key(wait))
        if current is not None and current.task_token == wait.task_token:
            del self.waits[self._key(wait)]

    def reassign(self, from_profile: str, to_profile: str, run_ids: Collection[str] | None = None) -> list[Wait]:
        moved = [
            replace(w, profile_id=to_profile)
            for w in self.waits.values()
            if w.profile_id == from_profile and (run_ids is None or w.run_id in run_ids)
        ]
        for wait in moved:
            del self.waits[(from_profile, wait.event, wait.correlation or "*", wait.run_id)]
            self.register(wait)
        return moved


@dataclass
class FakeEntryQueue:
    queued: list[EntryRequest] = field(default_factory=list)

    def enqueue(self, requests: Sequence[EntryRequest]) -> None:
        self.queued.extend(requests)


@dataclass
class FakeMarks:
    marked: set[str] = field(default_factory=set)

    def seen(self, event_id: str) -> bool:
        return event_id in self.marked

    def mark(self, event_id: str) -> None:
        self.marked.add(event_id)
