"""The journey starter: one queued entry in, at most one run and one execution out.

For each `EntryRequest` (SQS, cdp.adapters.journey_flow.SqsEntryQueue): the journey must still be
live (published, not paused or archived); admission applies the re-entry policy and the cap on
concurrent runs and names the occurrence; the run is written; the version's state machine is
started under the run id as the execution name, paced to the StartExecution quota.

Crash safety: every step repeats safely. Admission admits a redelivered entry (same cause id) as
the same occurrence, so the run id is the same; `put_new` writes it once; Step Functions starts a
name once (ExecutionAlreadyExists: already started). A crash anywhere before the start leaves the
message on the queue, and its redelivery completes the start: no entry is lost or started twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from cdp.journeys.admission import READMITTED, Decision
from cdp.journeys.definition import JourneyDefinition, Reentry
from cdp.journeys.model import PUBLISHED, Journey, JourneyStore, PublishedVersion
from cdp.journeys.ports import EntryRequest
from cdp.journeys.retirement import RETIRED_VERSIONS
from cdp.journeys.runs import NO_KEY, ExecutionInput, Run, RunStore, run_id_for

DEFAULT_STARTS_PER_SECOND = 100  # under Step Functions' 150/s StartExecution quota in ap-northeast-1
DEFAULT_STARTER_CONCURRENCY = 2  # the queue's event source mapping runs at most this many at once

STARTED = "started"
ALREADY_STARTED = "already_started"
NOT_LIVE = "not_live"


class Admissions(Protocol):
    def admit(
        self, request: EntryRequest, reentry: Reentry, max_concurrent_runs: int, run_id_of: Callable[[int], str]
    ) -> Decision:
        """Admit the entry or say why not; `run_id_of(occurrence)` names the run an admission holds
        a concurrent-run slot for. An entry with a cause admitted before is admitted again, as the
        same occurrence."""
        ...


@dataclass(frozen=True, slots=True)
class Started:
    execution_arn: str
    new: bool  # False: an execution of that name existed (a redelivery)


class Executions(Protocol):
    """Step Functions, as the journey runtime uses it (cdp.adapters.journey_flow)."""

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> Started: ...

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        """Stop a running execution (one that has ended already is left alone)."""
        ...

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """SendTaskSuccess; False when the token is no longer valid (timed out, stopped, resumed)."""
        ...


class Pacer:
    """Spreads calls evenly at `per_second` (one slot each 1/per_second), across threads.

    The deployment's rate is split over the starters that run at once (the queue's maximum
    concurrency), so their sum stays under the quota."""

    def __init__(
        self,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


def pacer_for(starts_per_second: int, starter_concurrency: int, **clock: Any) -> Pacer:
    return Pacer(max(starts_per_second / max(starter_concurrency, 1), 0.1), **clock)


class _EntryMessage(BaseModel):
    """An entry as queued (`EntryRequest` fields)."""

    model_config = ConfigDict(extra="ignore")
    journey_id: StrictStr = Field(min_length=1)
    version: StrictInt = Field(ge=1)
    profile_id: StrictStr = Field(min_length=1)
    entry_key: StrictStr | None = None
    cause_id: StrictStr = Field(min_length=1)
    entered_at: StrictStr = Field(min_length=20)
    entry: dict[str, Any] = {}


def entry_to_json(request: EntryRequest) -> str:
    return json.dumps(asdict(request), ensure_ascii=False, separators=(",", ":"), default=str)


def entry_from_json(body: str) -> EntryRequest:
    """Raises ValueError (pydantic's ValidationError) when the body is not an entry."""
    message = _EntryMessage.model_validate_json(body)
    return EntryRequest(**message.model_dump())


class Starter:
    def __init__(
        self,
        journeys: JourneyStore,
        admissions: Admissions,
        runs: RunStore,
        executions: Executions,
        pacer: Pacer,
        *,
        cache_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._journeys = journeys
        self._admissions = admissions
        self._runs = runs
        self._executions = executions
        self._pacer = pacer
        # A burst starts thousands of runs of one version: its journey and version are read once
        # per `cache_seconds` (a pause applies within that delay, like other configuration).
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[
            tuple[str, int], tuple[float, Journey | None, PublishedVersion | None, JourneyDefinition | None]
        ] = {}
        self._cache_lock = threading.Lock()

    def _live(
        self, journey_id: str, number: int
    ) -> tuple[Journey | None, PublishedVersion | None, JourneyDefinition | None]:
        key, now = (journey_id, number), self._monotonic()
        with self._cache_lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1], cached[2], cached[3]
        journey = self._journeys.get(journey_id)
        version = self._journeys.version(journey_id, number)
        definition = version.definition if version is not None else None
        with self._cache_lock:
            self._cache[key] = (now, journey, version, definition)
        return journey, version, definition

    def start(self, request: EntryRequest) -> str:
        """The entry's outcome: started, already_started, not_live or the refusal's reason."""
        journey, version, definition = self._live(request.journey_id, request.version)
        if journey is None or version is None or definition is None or journey.status != PUBLISHED:
            return NOT_LIVE  # paused or archived since the entry was queued: no new runs
        if request.version in (journey.extra.get(RETIRED_VERSIONS) or ()):
            return NOT_LIVE  # superseded long ago, its machine deleted (cdp.journeys.retirement)
        if not version.state_machine_arn:
            raise RuntimeError(f"journey {request.journey_id} v{request.version} has no state machine")

        def name(occurrence: int) -> str:
            return run_id_for(request.journey_id, request.version, request.profile_id, request.entry_key, occurrence)

        decision = self._admissions.admit(request, definition.reentry, definition.max_concurrent_runs, name)
        if not decision.admitted:
            return decision.reason
        run_id = name(decision.occurrence)
        run = Run(
            run_id=run_id,
            journey_id=request.journey_id,
            version=request.version,
            profile_id=request.profile_id,
            entry_key=request.entry_key or NO_KEY,
            entered_at=request.entered_at,
            entry=request.entry,
            entered_as=request.profile_id,
        )
        created = self._runs.put_new(run)
        if not created and decision.reason == READMITTED:
            existing = self._runs.get(run_id)
            if existing is not None and existing.execution_arn:
                return ALREADY_STARTED  # a redelivery after the start was recorded
        execution_input = ExecutionInput(
            run_id=run_id,
            journey_id=run.journey_id,
            version=run.version,
            profile_id=run.profile_id,
            entry_key=run.entry_key,
            entered_at=run.entered_at,
            entry=run.entry,
        )
        self._pacer.wait()
        started = self._executions.start(version.state_machine_arn, run_id, execution_input.as_dict())
        self._runs.set_execution(run_id, started.execution_arn)
        return STARTED if started.new else ALREADY_STARTED
