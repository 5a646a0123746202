"""In-memory fakes of the journey ports (cdp.journeys.runs.RunStore, cdp.journeys.model.JourneyStore)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from cdp.journeys.model import PUBLISHED, Journey, PublishedVersion
from cdp.journeys.runs import ACTIVE, EXITED, MAX_PATH, Run, Step


class InMemoryRunStore:
    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def put_new(self, run: Run) -> bool:
        with self._lock:
            if run.run_id in self.runs:
                return False
            self.runs[run.run_id] = run
            return True

    def _change(self, run_id: str, **changes: Any) -> None:
        with self._lock:
            self.runs[run_id] = replace(self.runs[run_id], **changes)

    def set_execution(self, run_id: str, execution_arn: str) -> None:
        self._change(run_id, execution_arn=execution_arn)

    def reach(self, run_id: str, step: Step, *, waiting: dict[str, Any] | None = None) -> bool:
        with self._lock:
            run = self.runs[run_id]
            if any(seen.node == step.node and seen.at == step.at for seen in run.path):
                return False
            path = (*run.path, step)[-MAX_PATH:]
            self.runs[run_id] = replace(run, node=step.node, node_since=step.at, path=path, waiting=waiting)
            return True

    def set_waiting(self, run_id: str, waiting: dict[str, Any] | None) -> None:
        self._change(run_id, waiting=waiting)

    def record_branch(self, run_id: str, node: str, branch: str) -> None:
        with self._lock:
            run = self.runs[run_id]
            self.runs[run_id] = replace(run, branches={**run.branches, node: branch})

    def record_send(self, run_id: str, node: str, outcome: str) -> None:
        with self._lock:
            run = self.runs[run_id]
            self.runs[run_id] = replace(run, sent={**run.sent, node: outcome})

    def record_click(self, run_id: str, node: str, at: str) -> bool:
        with self._lock:
            run = self.runs[run_id]
            if node in run.clicked:
                return False
            self.runs[run_id] = replace(run, clicked={**run.clicked, node: at})
            return True

    def record_conversion(self, run_id: str, at: str, value: float | None) -> bool:
        with self._lock:
            run = self.runs[run_id]
            if run.converted_at is not None:
                return False
            self.runs[run_id] = replace(run, converted_at=at, conversion_value=value)
            return True

    def finish(self, run_id: str, reason: str, at: str) -> bool:
        with self._lock:
            run = self.runs[run_id]
            if run.status != ACTIVE:
                return False
            self.runs[run_id] = replace(run, status=EXITED, exit_reason=reason, exited_at=at, waiting=None)
            return True

    def active_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        return [run for run in self.recent_for(profile_id, journey_id) if run.status == ACTIVE]

    def recent_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        runs = [
            run
            for run in self.runs.values()
            if run.profile_id == profile_id and (journey_id is None or run.journey_id == journey_id)
        ]
        return sorted(runs, key=lambda run: run.entered_at, reverse=True)

    def reassign(self, from_profile: str, to_profile: str) -> list[Run]:
        with self._lock:
            moved = [
                replace(run, profile_id=to_profile) for run in self.runs.values() if run.profile_id == from_profile
            ]
            for run in moved:
                self.runs[run.run_id] = run
            return moved

    def of_journey(self, journey_id: str, *, limit: int | None = None) -> list[Run]:
        runs = sorted(
            (run for run in self.runs.values() if run.journey_id == journey_id),
            key=lambda run: run.entered_at,
            reverse=True,
        )
        return runs[:limit] if limit is not None else runs


class InMemoryJourneyStore:
    """Published versions and journeys, as the runtime reads them."""

    def __init__(self) -> None:
        self.journeys: dict[str, Journey] = {}
        self.versions: dict[tuple[str, int], PublishedVersion] = {}

    def add_version(self, version: PublishedVersion, *, status: str = PUBLISHED) -> None:
        self.versions[(version.journey_id, version.version)] = version
        current = self.journeys.get(version.journey_id)
        versions = tuple(sorted({*(current.versions if current else ()), version.version}))
        self.journeys[version.journey_id] = Journey(
            journey_id=version.journey_id,
            status=status,
            draft=version.document,
            created_at=current.created_at if current else version.published_at,
            updated_at=version.published_at,
            live_version=version.version,
            versions=versions,
        )

    def get(self, journey_id: str) -> Journey | None:
        return self.journeys.get(journey_id)

    def version(self, journey_id: str, version: int) -> PublishedVersion | None:
        return self.versions.get((journey_id, version))

    def live(self) -> list[PublishedVersion]:
        return [
            self.versions[(journey.journey_id, journey.live_version)]
            for journey in self.journeys.values()
            if journey.status == PUBLISHED and journey.live_version is not None
        ]
