"""In-memory fakes of the journey ports (cdp.journeys.runs.RunStore, cdp.journeys.model.JourneyStore
with the lifecycle's writes, cdp.journeys.ports.JourneyMachines / EntrySchedules / RunEnder)."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from cdp.journeys.model import PUBLISHED, Journey, PublishedVersion
from cdp.journeys.runs import ACTIVE, EXITED, MAX_PATH, Run, Step
from cdp.journeys.service import LiveChange, changed_live_doc, live_doc, live_entry


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

    def reassign(self, from_profile: str, to_profile: str, run_ids: Collection[str] | None = None) -> list[Run]:
        with self._lock:
            moved = [
                replace(run, profile_id=to_profile)
                for run in self.runs.values()
                if run.profile_id == from_profile and (run_ids is None or run.run_id in run_ids)
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
        self.listing: dict[str, Any] = live_doc({})
        self.listing_revision = 0

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

    # the lifecycle's writes (cdp.journeys.service.JourneyAdminStore) ---------------------------
    def list(self) -> list[Journey]:
        return sorted(self.journeys.values(), key=lambda journey: journey.journey_id)

    def create(self, journey: Journey) -> bool:
        if journey.journey_id in self.journeys:
            return False
        self.journeys[journey.journey_id] = journey
        return True

    def replace(
        self,
        journey: Journey,
        *,
        expected_revision: int,
        version: PublishedVersion | None = None,
        live: LiveChange | None = None,
    ) -> bool:
        current = self.journeys.get(journey.journey_id)
        if current is None or current.revision != expected_revision:
            return False
        if version is not None:
            if (version.journey_id, version.version) in self.versions:
                return False
            self.versions[(version.journey_id, version.version)] = version
        self.journeys[journey.journey_id] = journey
        if live is not None:
            self.listing = changed_live_doc(self.listing, live)
            self.listing_revision += 1
        return True

    def delete(self, journey_id: str, *, expected_revision: int) -> bool:
        current = self.journeys.get(journey_id)
        if current is None or current.revision != expected_revision:
            return False
        del self.journeys[journey_id]
        return True

    def live_index(self) -> dict[str, Any]:
        if self.listing_revision == 0:  # only add_version used: the listing follows the journeys
            lines = {version.journey_id: live_entry(version) for version in self.live()}
            return {**live_doc(lines), "revision": 0}
        return {**self.listing, "revision": self.listing_revision}

    def live(self) -> list[PublishedVersion]:
        return [
            self.versions[(journey.journey_id, journey.live_version)]
            for journey in self.journeys.values()
            if journey.status == PUBLISHED and journey.live_version is not None
        ]


class InMemoryJourneyMachines:
    """JourneyMachines: one "state machine" per version, deploy idempotent; `fail` makes deploy raise."""

    def __init__(self, prefix: str = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:cdp-journey") -> None:
        self.prefix = prefix
        self.deployed: dict[str, PublishedVersion] = {}
        self.retired: list[str] = []
        self.fail: Exception | None = None

    def deploy(self, version: PublishedVersion) -> str:
        if self.fail is not None:
            raise self.fail
        arn = f"{self.prefix}-{version.journey_id}-v{version.version}"
        self.deployed.setdefault(arn, version)
        return arn

    def retire(self, state_machine_arn: str) -> None:
        self.deployed.pop(state_machine_arn, None)
        self.retired.append(state_machine_arn)


class InMemoryEntrySchedules:
    """EntrySchedules: the schedule per journey (only scheduled-cohort versions get one)."""

    def __init__(self) -> None:
        self.schedules: dict[str, PublishedVersion] = {}
        self.removed: list[str] = []

    def put(self, version: PublishedVersion) -> None:
        if version.document.get("entry", {}).get("type") == "schedule":
            self.schedules[version.journey_id] = version

    def remove(self, journey_id: str) -> None:
        self.schedules.pop(journey_id, None)
        self.removed.append(journey_id)


class InMemoryRunEnder:
    """RunEnder over an InMemoryRunStore: finishes the journey's active runs with the reason."""

    def __init__(self, runs: InMemoryRunStore, at: str = "2026-05-04T03:00:00.000Z") -> None:
        self.runs = runs
        self.at = at
        self.calls: list[tuple[str, str]] = []

    def end_all(self, journey_id: str, reason: str) -> int:
        self.calls.append((journey_id, reason))
        active = [run for run in self.runs.of_journey(journey_id) if run.status == ACTIVE]
        return sum(1 for run in active if self.runs.finish(run.run_id, reason, self.at))
