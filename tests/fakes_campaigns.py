"""In-memory fakes of the campaign ports (cdp.campaigns.ports), with the adapters' semantics."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from cdp.campaigns.model import Campaign, Run
from cdp.campaigns.ports import LineQuota


class FakeCampaignStore:
    def __init__(self) -> None:
        self.campaigns: dict[str, Campaign] = {}
        self.runs: dict[tuple[str, str], Run] = {}
        self.reads = 0

    def create(self, campaign: Campaign) -> bool:
        if campaign.campaign_id in self.campaigns:
            return False
        self.campaigns[campaign.campaign_id] = campaign
        return True

    def get(self, campaign_id: str) -> Campaign | None:
        self.reads += 1
        return self.campaigns.get(campaign_id)

    def list(self) -> list[Campaign]:
        return [self.campaigns[key] for key in sorted(self.campaigns)]

    def replace(self, campaign: Campaign, *, expected_version: int) -> bool:
        stored = self.campaigns.get(campaign.campaign_id)
        if stored is None or stored.version != expected_version:
            return False
        self.campaigns[campaign.campaign_id] = campaign
        return True

    def delete(self, campaign_id: str, *, expected_version: int) -> bool:
        stored = self.campaigns.get(campaign_id)
        if stored is None or stored.version != expected_version:
            return False
        del self.campaigns[campaign_id]
        for key in [key for key in self.runs if key[0] == campaign_id]:
            del self.runs[key]
        return True

    def get_run(self, campaign_id: str, run_id: str) -> Run | None:
        self.reads += 1
        return self.runs.get((campaign_id, run_id))

    def start_run(self, run: Run) -> bool:
        key = (run.campaign_id, run.run_id)
        if key in self.runs:
            return False
        self.runs[key] = run
        return True

    def replace_run(self, run: Run, *, expected_version: int) -> bool:
        key = (run.campaign_id, run.run_id)
        stored = self.runs.get(key)
        if stored is None or stored.version != expected_version:
            return False
        self.runs[key] = run
        return True

    def run_status(self, campaign_id: str, run_id: str) -> tuple[str | None, str | None]:
        self.reads += 1
        campaign, run = self.campaigns.get(campaign_id), self.runs.get((campaign_id, run_id))
        return (campaign.status if campaign else None), (run.status if run else None)


class FakeSendQueue:
    """The sender's queue: messages of send requests, in order; `fail_after` raises on the nth
    enqueue (a crash of the fan-out after some pages)."""

    def __init__(self) -> None:
        self.messages: list[list[dict[str, Any]]] = []
        self.fail_after: int | None = None
        self.calls = 0

    def enqueue(self, batches: Sequence[list[dict[str, Any]]]) -> None:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            self.fail_after = None
            raise RuntimeError("crashed while queueing")
        self.messages.extend(copy.deepcopy(list(batches)))

    def take(self) -> list[list[dict[str, Any]]]:
        taken, self.messages = self.messages, []
        return taken


class FakeContinuation:
    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []

    def continue_run(self, campaign_id: str, run_id: str) -> None:
        self.pending.append((campaign_id, run_id))


class FakeQuota:
    def __init__(self, limit: int | None = None, consumption: int = 0) -> None:
        self.current: LineQuota | None = LineQuota(limit, consumption)

    def quota(self, line_channel: str) -> LineQuota | None:
        return self.current


class FakeCapCounts:
    """Reads the send point's fake counters (tests.fakes_messaging.FakeFrequencyCaps)."""

    def __init__(self, counters: Mapping[tuple[str, str], set[str]]) -> None:
        self._counters = counters

    def counts(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[tuple[str, str], int]:
        return {
            (pid, key): len(self._counters[(pid, key)])
            for pid, keys in wanted.items()
            for key in keys
            if (pid, key) in self._counters
        }


class FakeQueryJobs:
    """The job records (cdp.adapters.dynamodb.query_jobs): created running, finished once."""

    def __init__(self) -> None:
        from cdp.archive.jobs import QueryJob

        self.jobs: dict[str, QueryJob] = {}

    def create(self, job: Any, *, expires_at: int) -> None:
        assert job.job_id not in self.jobs
        self.jobs[job.job_id] = job

    def finish(
        self, job_id: str, *, at: str, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None
    ) -> None:
        from dataclasses import replace

        job = self.jobs.get(job_id)
        if job is None or job.status != "running":
            return
        status = "done" if error is None else "failed"
        self.jobs[job_id] = replace(
            job, status=status, finished_at=at, result=copy.deepcopy(result), error=copy.deepcopy(error)
        )

    def get(self, job_id: str) -> Any:
        return self.jobs.get(job_id)


class FakePreflightSteps:
    """The asynchronous invoke of a preflight job's next step: kept as JSON, as Lambda would."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []

    def continue_preflight(self, step: dict[str, Any]) -> None:
        import json

        self.pending.append(json.loads(json.dumps(step)))
