"""In-memory fakes of the retention ports (cdp.privacy.retention_store, retention_job.Sweeper)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from cdp.errors import Conflict
from cdp.privacy.retention import Kind, RetentionPolicy
from cdp.privacy.retention_job import RetentionRun, SweepPage
from cdp.privacy.retention_store import RunTaken


class FakeRetentionStore:
    def __init__(self) -> None:
        self.stored: RetentionPolicy | None = None
        self.runs: dict[str, RetentionRun] = {}
        self.saves = 0

    def policy(self, *, raw_event_ttl_days: int) -> RetentionPolicy:
        if self.stored is None:
            return RetentionPolicy(raw_event_ttl_days=raw_event_ttl_days)
        return RetentionPolicy.from_stored(
            self.stored.stored(), version=self.stored.version, raw_event_ttl_days=raw_event_ttl_days
        )

    def save_policy(self, policy: RetentionPolicy, *, expected_version: int) -> RetentionPolicy:
        current = self.stored.version if self.stored else 0
        if current != expected_version:
            raise Conflict("stale", code="rules_version_conflict")
        self.stored = policy
        return policy

    def save_run(self, run: RetentionRun, *, expected_revision: int) -> None:
        stored = self.runs.get(run.run_id)
        if (stored.revision if stored else 0) != expected_revision:
            raise RunTaken("taken")
        self.saves += 1
        self.runs[run.run_id] = RetentionRun.from_stored(copy.deepcopy(run.stored()))

    def get_run(self, run_id: str) -> RetentionRun | None:
        stored = self.runs.get(run_id)
        return RetentionRun.from_stored(copy.deepcopy(stored.stored())) if stored else None

    def recent_runs(self, limit: int) -> list[RetentionRun]:
        return [
            RetentionRun.from_stored(copy.deepcopy(self.runs[run_id].stored()))
            for run_id in sorted(self.runs, reverse=True)[:limit]
        ]


class FakeAgedItems:
    """A sweeper over in-memory items (key -> (kind, epoch ms)), `page` keys a page in key order,
    deleting those older than their kind's cutoff; `fail_after` pages raise once (a crash)."""

    def __init__(self, name: str, kinds: tuple[Kind, ...], items: Mapping[str, tuple[Kind, int]], page: int = 2):
        self.name = name
        self.kinds = kinds
        self.items = dict(items)
        self.page = page
        self.calls = 0
        self.fail_at_call: int | None = None

    def sweep(self, cutoffs_ms: Mapping[Kind, int], cursor: str | None) -> SweepPage:
        self.calls += 1
        if self.fail_at_call == self.calls:
            self.fail_at_call = None
            raise RuntimeError("crash in the middle of a run")
        keys = sorted(key for key in self.items if cursor is None or key > cursor)
        page, rest = keys[: self.page], keys[self.page :]
        removed: dict[Kind, int] = {}
        oldest: dict[Kind, int] = {}
        for key in page:
            kind, at = self.items[key]
            if at < cutoffs_ms[kind]:
                del self.items[key]
                removed[kind] = removed.get(kind, 0) + 1
            else:
                oldest[kind] = min(oldest.get(kind, at), at)
        return SweepPage(removed, oldest, page[-1] if rest else None)
