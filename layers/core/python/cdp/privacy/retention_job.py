"""The daily retention job: delete what is past retention, kind by kind, and record each run.

A run is keyed by the schedule's occurrence (its scheduled time; the UTC day for a run started
by hand), so a retried or redelivered occurrence is the same run. Its cutoffs are fixed when it
starts, so a run resumed by a later invocation deletes exactly what the first one would have.
Each sweeper works a page at a time and hands back a cursor; the run is saved after every page,
so a run cut short (Lambda's time limit, a crash) resumes from the last page saved, and a page
repeated after a crash deletes nothing twice (deleting a deleted item is a no-op). A run that
has not finished is resumed before another starts. A finished run makes its occurrence a no-op,
so the schedule's retries and duplicate deliveries change nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cdp.clock import iso_from_ms, ms_from_datetime
from cdp.errors import Conflict
from cdp.privacy.retention import RULES, SWEPT, Kind, RetentionPolicy, parse_changes
from cdp.privacy.retention_store import RetentionStore, RunTaken

RUNS_SHOWN = 10
# Stop starting pages when less than this is left of the invocation: a page must fit in it.
SAFETY_MARGIN_MS = 60_000


@dataclass(frozen=True, slots=True)
class SweepPage:
    """What one page of a sweep did: removed and the oldest kept (epoch ms) per kind, and where
    the next page starts (None: the sweep is complete)."""

    removed: Mapping[Kind, int]
    oldest_kept_ms: Mapping[Kind, int]
    cursor: str | None


class Sweeper(Protocol):
    """Deletes the items of its kinds older than their cutoffs, one page per call."""

    name: str
    kinds: tuple[Kind, ...]

    def sweep(self, cutoffs_ms: Mapping[Kind, int], cursor: str | None) -> SweepPage: ...


@dataclass(slots=True)
class KindReport:
    cutoff: str
    removed: int = 0
    oldest_kept_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        oldest = iso_from_ms(self.oldest_kept_ms) if self.oldest_kept_ms is not None else None
        return {"cutoff": self.cutoff, "removed": self.removed, "oldest_kept": oldest}


@dataclass(slots=True)
class RetentionRun:
    run_id: str  # the schedule's occurrence (its scheduled time), or the UTC day it started
    started_at: str
    policy_version: int
    kinds: dict[Kind, KindReport]
    cursors: dict[str, str | None] = field(default_factory=dict)  # sweeper -> next page (absent: not started)
    done: list[str] = field(default_factory=list)  # sweepers that finished
    updated_at: str = ""
    finished_at: str | None = None
    invocations: int = 0
    revision: int = 0  # saves so far: each save expects the previous one (two invocations never both advance)
    # Not stored: this invocation found the run advanced by another one, which carries it on.
    yielded: bool = field(default=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def cutoffs_ms(self, kinds: Sequence[Kind]) -> dict[Kind, int]:
        return {kind: _ms(self.kinds[kind].cutoff) for kind in kinds if kind in self.kinds}

    def record(self, page: SweepPage) -> None:
        for kind, removed in page.removed.items():
            self.kinds[kind].removed += removed
        for kind, oldest in page.oldest_kept_ms.items():
            report = self.kinds[kind]
            report.oldest_kept_ms = oldest if report.oldest_kept_ms is None else min(report.oldest_kept_ms, oldest)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "finished_at": self.finished_at,
            "status": "finished" if self.finished else "running",
            "policy_version": self.policy_version,
            "invocations": self.invocations,
            "kinds": {kind: report.as_dict() for kind, report in self.kinds.items()},
        }

    def stored(self) -> dict[str, Any]:
        document = self.as_dict()
        document["kinds"] = {
            kind: {"cutoff": r.cutoff, "removed": r.removed, "oldest_kept_ms": r.oldest_kept_ms}
            for kind, r in self.kinds.items()
        }
        document["cursors"] = dict(self.cursors)
        document["done"] = list(self.done)
        document["revision"] = self.revision
        return document

    @classmethod
    def from_stored(cls, document: Mapping[str, Any]) -> RetentionRun:
        kinds: dict[Kind, KindReport] = {
            kind: KindReport(value["cutoff"], int(value["removed"]), value.get("oldest_kept_ms"))
            for kind, value in document["kinds"].items()
        }
        return cls(
            run_id=document["run_id"],
            started_at=document["started_at"],
            policy_version=int(document["policy_version"]),
            kinds=kinds,
            cursors=dict(document.get("cursors", {})),
            done=list(document.get("done", [])),
            updated_at=document.get("updated_at", ""),
            finished_at=document.get("finished_at"),
            invocations=int(document.get("invocations", 0)),
            revision=int(document.get("revision", 0)),
        )


def _ms(iso: str) -> int:
    return ms_from_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")))


class Clock(Protocol):
    def now_ms(self) -> int: ...


class RetentionJob:
    def __init__(
        self,
        store: RetentionStore,
        sweepers: Sequence[Sweeper],
        clock: Clock,
        *,
        raw_event_ttl_days: int,
        margin_ms: int = SAFETY_MARGIN_MS,
    ) -> None:
        self._store = store
        self._sweepers = sweepers
        self._clock = clock
        self._raw_event_ttl_days = raw_event_ttl_days
        self._margin_ms = margin_ms

    def run(self, remaining_ms: Callable[[], int], *, run_id: str | None = None) -> RetentionRun:
        """Resume an unfinished run, else start run `run_id` (the schedule's occurrence; default:
        today's UTC day) unless it already ran, and sweep until done or out of time. Answers the
        run: `finished` tells the caller whether to continue in a new invocation."""
        now_ms = self._clock.now_ms()
        run = self._current(now_ms, run_id or iso_from_ms(now_ms)[:10])
        if run.finished:
            return run
        run.invocations += 1
        # A quarter of the invocation at most (a short local timeout still sweeps), and at least
        # one page per invocation, so a continuation always makes progress.
        margin = min(self._margin_ms, remaining_ms() // 4)
        first_page = [True]

        def time_left() -> bool:
            if first_page[0]:
                first_page[0] = False
                return True
            return remaining_ms() > margin

        try:
            for sweeper in self._sweepers:
                if sweeper.name not in run.done:
                    self._sweep(run, sweeper, time_left)
                    if sweeper.name not in run.done:
                        return run  # out of time: saved, resumed by the next invocation
            run.finished_at = iso_from_ms(self._clock.now_ms())
            return self._save(run)
        except RunTaken:
            # Another invocation saved the run meanwhile (a continuation and a late retry): it
            # carries on; what this one deleted is gone either way (counted by at most one).
            latest = self._store.recent_runs(1)
            current = latest[0] if latest else run
            current.yielded = True
            return current

    def _sweep(self, run: RetentionRun, sweeper: Sweeper, time_left: Callable[[], bool]) -> None:
        cutoffs = run.cutoffs_ms(sweeper.kinds)
        while time_left():
            page = sweeper.sweep(cutoffs, run.cursors.get(sweeper.name))
            run.record(page)
            run.cursors[sweeper.name] = page.cursor
            if page.cursor is None:
                run.done.append(sweeper.name)
                run.cursors.pop(sweeper.name, None)
                self._save(run)
                return
            self._save(run)
        self._save(run)

    def _current(self, now_ms: int, run_id: str) -> RetentionRun:
        latest = self._store.recent_runs(1)
        if latest and not latest[0].finished:
            return latest[0]
        done = self._store.get_run(run_id)
        if done is not None:
            return done
        policy = self._store.policy(raw_event_ttl_days=self._raw_event_ttl_days)
        return new_run(policy, now_ms, [kind for sweeper in self._sweepers for kind in sweeper.kinds], run_id)

    def _save(self, run: RetentionRun) -> RetentionRun:
        run.updated_at = iso_from_ms(self._clock.now_ms())
        run.revision += 1
        self._store.save_run(run, expected_revision=run.revision - 1)
        return run


def new_run(policy: RetentionPolicy, now_ms: int, kinds: Sequence[Kind], run_id: str) -> RetentionRun:
    now = datetime.fromisoformat(iso_from_ms(now_ms).replace("Z", "+00:00"))
    started = iso_from_ms(now_ms)
    reports = {
        kind: KindReport(iso_from_ms(ms_from_datetime(policy.cutoff(kind, now))))
        for kind in SWEPT
        if kind in kinds and RULES[kind].configurable
    }
    return RetentionRun(run_id=run_id, started_at=started, policy_version=policy.version, kinds=reports)


def report(store: RetentionStore, *, raw_event_ttl_days: int, runs: int = RUNS_SHOWN) -> dict[str, Any]:
    """The GET answer: the policy in force and the latest runs, newest first."""
    return {
        **store.policy(raw_event_ttl_days=raw_event_ttl_days).as_dict(),
        "runs": [run.as_dict() for run in store.recent_runs(runs)],
    }


def update_policy(
    store: RetentionStore,
    days: Mapping[str, Any],
    *,
    expected_version: int,
    now_ms: int,
    raw_event_ttl_days: int,
) -> RetentionPolicy:
    """Validate a PUT's `days` (400 naming the field), then save them compare-and-set (409 when
    `expected_version` is not the stored one). Applies from the next run: a running run keeps the
    cutoffs it started with."""
    changes = parse_changes(days)
    current = store.policy(raw_event_ttl_days=raw_event_ttl_days)
    if current.version != expected_version:
        raise Conflict(
            f"the retention settings changed since version {expected_version}; read them again",
            code="retention_version_conflict",
            details={"version": current.version},
        )
    return store.save_policy(
        current.with_changes(changes, updated_at=iso_from_ms(now_ms)), expected_version=expected_version
    )
