"""Preflight jobs: the preflight of an audience too big to walk within one admin request.

The admin API tries the preflight within its time budget (cdp.campaigns.preflight); when the
audience is bigger it answers 202 with a job (the archive queries' job record, kind
`campaign_preflight`, polled at `GET /admin/v1/jobs/{id}`) and hands the tally so far to a fresh
invocation of itself. Each invocation walks pages for up to the time budget and hands the tally on
(in the invocation's payload, so a redelivered step repeats the same pages from the same state);
the last one stores the figures on the campaign (`last_preflight`, with the job id) and finishes
the job. `send` then uses those figures while they are fresh instead of walking again, and answers
409 `preflight_running` while the job walks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from cdp.archive.jobs import JOB_TTL_SECONDS, STATUS_RUNNING, QueryJob, job_url
from cdp.campaigns.model import DRAFT, Campaign
from cdp.campaigns.ports import CampaignStore
from cdp.campaigns.preflight import Preflight, PreflightInputs, Tally
from cdp.clock import epoch_seconds, iso_from_ms
from cdp.errors import CdpError, Conflict
from cdp.observability import logger
from cdp.ports import Clock

PREFLIGHT_JOB_KIND = "campaign_preflight"
# A job still `running` this long after it started lost its chain of invocations: start another.
STALE_MS = 30 * 60 * 1000
# `send` uses a finished job's figures this long after they were evaluated, then walks again.
FRESH_MS = 60 * 60 * 1000


class JobStore(Protocol):
    """The archive queries' job records (cdp.adapters.dynamodb.query_jobs)."""

    def create(self, job: QueryJob, *, expires_at: int) -> None: ...

    def finish(
        self, job_id: str, *, at: str, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None
    ) -> None: ...

    def get(self, job_id: str) -> QueryJob | None: ...


class PreflightSteps(Protocol):
    def continue_preflight(self, step: dict[str, Any]) -> None:
        """Run the next step (`{"job_id", "campaign_id", "tally"}`) in a fresh invocation."""
        ...


# The preflight and its inputs for a campaign, built fresh in each invocation.
Walker = Callable[[Campaign], tuple[Preflight, PreflightInputs]]


def fresh_figures(campaign: Campaign, now_ms: int) -> dict[str, Any] | None:
    """A finished preflight job's figures that `send` may use instead of walking again."""
    figures = campaign.last_preflight
    if not figures or not figures.get("job_id") or campaign.preflight_job is not None:
        return None
    evaluated = epoch_seconds(str(figures["evaluated_at"])) * 1000
    return figures if 0 <= now_ms - evaluated <= FRESH_MS else None


def running_conflict(job: QueryJob) -> Conflict:
    return Conflict(
        "the campaign's preflight is still walking its audience; send again once its job is done",
        code="preflight_running",
        details={"job_id": job.job_id, "status_url": job_url(job.job_id), "created_at": job.created_at},
    )


class PreflightJobs:
    def __init__(self, store: CampaignStore, jobs: JobStore, steps: PreflightSteps, clock: Clock) -> None:
        self._store = store
        self._jobs = jobs
        self._steps = steps
        self._clock = clock

    def running(self, campaign: Campaign) -> QueryJob | None:
        """The campaign's preflight job while it walks (None once done, failed, expired or lost)."""
        reference = campaign.preflight_job
        if not reference:
            return None
        job = self._jobs.get(reference["job_id"])
        if job is None or job.status != STATUS_RUNNING:
            return None
        if self._clock.now_ms() - epoch_seconds(job.created_at) * 1000 > STALE_MS:
            return None
        return job

    def start(self, campaign: Campaign, tally: Tally) -> QueryJob:
        """Record a job on the campaign (compare-and-set) and hand it the tally so far."""
        now_ms = self._clock.now_ms()
        job = QueryJob(
            job_id=uuid.uuid4().hex,
            kind=PREFLIGHT_JOB_KIND,
            request={"campaign_id": campaign.campaign_id},
            status=STATUS_RUNNING,
            created_at=iso_from_ms(now_ms),
        )
        self._jobs.create(job, expires_at=now_ms // 1000 + JOB_TTL_SECONDS)
        marked = replace(
            campaign, preflight_job={"job_id": job.job_id, "started_at": job.created_at}, version=campaign.version + 1
        )
        if not self._store.replace(marked, expected_version=campaign.version):
            self._fail(job.job_id, "campaign_changed", "the campaign changed meanwhile; ask again")
            raise Conflict(f"campaign {campaign.campaign_id} changed meanwhile; read it again", code="campaign_changed")
        try:
            self._steps.continue_preflight(
                {"job_id": job.job_id, "campaign_id": campaign.campaign_id, "tally": tally.as_dict()}
            )
        except CdpError:
            self._fail(job.job_id, "job_not_started", "the preflight could not be started; try again")
            raise
        return job

    def step(self, job_id: str, campaign_id: str, tally_data: dict[str, Any], walker: Walker) -> str:
        """One invocation's share of the walk: `continued`, `done`, `failed` or `skipped`."""
        job = self._jobs.get(job_id)
        if job is None or job.status != STATUS_RUNNING:
            return "skipped"  # expired, or a redelivery after the job finished
        campaign = self._store.get(campaign_id)
        if campaign is None or (campaign.preflight_job or {}).get("job_id") != job_id:
            self._fail(job_id, "campaign_changed", "the campaign was edited, deleted or preflighted again")
            return "failed"
        try:
            preflight, inputs = walker(campaign)
            tally = preflight.step(campaign, inputs, Tally.from_dict(tally_data))
            if not tally.done:
                self._steps.continue_preflight({"job_id": job_id, "campaign_id": campaign_id, "tally": tally.as_dict()})
                return "continued"
            figures = {**preflight.result(campaign, inputs, tally), "job_id": job_id}
        except CdpError as error:
            self._fail(job_id, error.code, error.message, error.status)
            return "failed"
        self._record(campaign_id, job_id, figures)
        self._jobs.finish(job_id, at=iso_from_ms(self._clock.now_ms()), result=figures)
        logger.info("campaign preflight done", extra={"campaign_id": campaign_id, "audience": figures["audience"]})
        return "done"

    def _record(self, campaign_id: str, job_id: str, figures: dict[str, Any]) -> None:
        for _attempt in range(5):  # compare-and-set against admin edits
            campaign = self._store.get(campaign_id)
            if campaign is None or (campaign.preflight_job or {}).get("job_id") != job_id:
                return
            # A campaign sent or cancelled meanwhile keeps the send's figures; the job's are on the job.
            kept = figures if campaign.status == DRAFT else campaign.last_preflight
            done = replace(campaign, last_preflight=kept, preflight_job=None, version=campaign.version + 1)
            if self._store.replace(done, expected_version=campaign.version):
                return

    def _fail(self, job_id: str, code: str, message: str, status: int = 409) -> None:
        error = {"error": code, "message": message, "status": status}
        self._jobs.finish(job_id, at=iso_from_ms(self._clock.now_ms()), error=error)
