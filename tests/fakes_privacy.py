"""In-memory fakes of the ports a person export reads and writes (cdp.privacy)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cdp.errors import StoreUnavailable
from cdp.identity.merge import MergeLedger, TimelineEntry
from cdp.journeys.runs import Run
from cdp.privacy.export_jobs import STATUS_RUNNING, ExportJob
from cdp.profiles.model import Profile
from cdp.segments.store import Membership, MembershipChange, SegmentDefinition


class FakePeople:
    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.timelines: dict[str, list[TimelineEntry]] = {}
        self.ledgers: dict[str, MergeLedger] = {}

    def get(self, profile_id: str) -> Profile | None:
        return self.profiles.get(profile_id)

    def timeline(self, profile_id: str) -> list[TimelineEntry]:
        return sorted(self.timelines.get(profile_id, []), key=lambda entry: entry.sort_key)

    def merges_into(self, profile_id: str, limit: int = 100) -> list[MergeLedger]:
        return [ledger for ledger in self.ledgers.values() if ledger.survivor == profile_id][:limit]

    def get_ledger(self, merge_id: str) -> MergeLedger | None:
        return self.ledgers.get(merge_id)


class FakeSegments:
    def __init__(self) -> None:
        self.definitions_list: list[SegmentDefinition] = []
        self.members: list[Membership] = []

    def memberships(self, profile_id: str) -> list[Membership]:
        return [m for m in self.members if m.profile_id == profile_id]

    def definitions(self) -> list[SegmentDefinition]:
        return list(self.definitions_list)


class FakeExportReads:
    def __init__(self) -> None:
        self.history: list[MembershipChange] = []
        self.raw: dict[str, dict[str, Any]] = {}
        self.sends: dict[str, dict[str, Any]] = {}
        self.raw_reads: list[list[str]] = []

    def segment_history(self, profile_id: str) -> list[MembershipChange]:
        return [change for change in self.history if change.profile_id == profile_id]

    def raw_events(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        self.raw_reads.append(list(event_ids))
        return [self.raw[event_id] for event_id in event_ids if event_id in self.raw]

    def send_records(self, send_keys: Sequence[str]) -> list[dict[str, Any]]:
        return [self.sends[key] for key in send_keys if key in self.sends]


class FakeExportJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}
        self.stages: list[str] = []

    def create(self, job: ExportJob, *, expires_at: int) -> bool:
        if job.job_id in self.jobs and not self.jobs[job.job_id].restartable:
            return False
        self.jobs[job.job_id] = job
        return True

    def get(self, job_id: str) -> ExportJob | None:
        return self.jobs.get(job_id)

    def update(self, job: ExportJob) -> bool:
        current = self.jobs.get(job.job_id)
        if current is None or current.status != STATUS_RUNNING:
            return False
        self.jobs[job.job_id] = replace(job)
        self.stages.append(job.stage)
        return True


class FakeExportFiles:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    def presigned_get(self, key: str, *, expires_seconds: int, filename: str, content_type: str) -> str:
        return f"https://files.example/{key}?expires={expires_seconds}&name={filename}&type={content_type}"


class FakeExportStarter:
    def __init__(self, *, failing: bool = False) -> None:
        self.started: list[str] = []
        self.failing = failing

    def start_export(self, job_id: str) -> None:
        if self.failing:
            raise StoreUnavailable("the function could not be invoked")
        self.started.append(job_id)


class FakeJourneyRuns:
    def __init__(self, runs: Sequence[Run] = ()) -> None:
        self.runs = list(runs)

    def recent_for(self, profile_id: str, journey_id: str | None = None) -> list[Run]:
        return [run for run in self.runs if run.profile_id == profile_id]
