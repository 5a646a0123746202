"""The fan-out: a run of a campaign hands one send request per recipient to the message sender,
never in one invocation for a big audience.

An invocation reads up to `pages_per_invocation` pages of members (500 each), turns each person
into a `SendRequest` with the send key `campaign:<campaign>:<run>:<profile>`, puts them on the
sender's SQS queue in messages of `batch_size` requests, then records the page's cursor on the
run (compare-and-set). When pages remain it hands the run to a fresh invocation of itself
(asynchronous invoke); the last page marks the run `sent`.

A crash between the enqueue and the cursor's record repeats that page: the sender answers the
repeated send keys from its ledger, so nobody is messaged twice. A paused or cancelled run stops
at the next page; the sender checks the run's state before each send (cdp.campaigns.gate), so
requests already queued are not sent either. `resume` fans the run out again from the start: the
ledger answers those already sent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cdp.campaigns.audience import Audience
from cdp.campaigns.model import (
    CANCELLED,
    DRAFT,
    PAUSED,
    RUN_SENDING,
    RUN_SENT,
    SCHEDULED,
    SENDING,
    SENT,
    SINGLE_RUN,
    Campaign,
    Run,
    run_id_for,
    send_key,
)
from cdp.campaigns.ports import CampaignStore, Continuation, SendQueue
from cdp.clock import iso_from_ms
from cdp.observability import logger
from cdp.ports import Clock

BATCH_SIZE = 250  # send requests per queue message (about 400 bytes each; SQS takes 256 KiB): 2 per page
PAGES_PER_INVOCATION = 20  # 10,000 members per invocation, well inside the function's timeout


def send_request(campaign: Campaign, run: Run, profile_id: str) -> dict[str, Any]:
    """What the sender gets for one recipient (cdp.messaging.request.SendRequest)."""
    request: dict[str, Any] = {
        "send_key": send_key(campaign.campaign_id, run.run_id, profile_id),
        "profile_id": profile_id,
        "template_id": campaign.template_id,
        "kind": "campaign",
        "purpose": campaign.purpose,
        "campaign_id": campaign.campaign_id,
        "channels": list(campaign.channels),
        "in_quiet_hours": campaign.in_quiet_hours,
        "line_channel": campaign.line_channel,
        "data": {"campaign_run": run.run_id},
    }
    if run.template_version is not None:
        request["template_version"] = run.template_version
    if campaign.quiet_hours:
        request["quiet_hours"] = dict(campaign.quiet_hours)
    if campaign.frequency_cap is not None:
        request["campaign_cap"] = campaign.frequency_cap
    return request


class CampaignRunner:
    def __init__(
        self,
        *,
        store: CampaignStore,
        audience: Audience,
        queue: SendQueue,
        continuation: Continuation,
        clock: Clock,
        pages_per_invocation: int = PAGES_PER_INVOCATION,
        batch_size: int = BATCH_SIZE,
        page_size: int = 500,
    ) -> None:
        self._store = store
        self._audience = audience
        self._queue = queue
        self._continuation = continuation
        self._clock = clock
        self._pages = pages_per_invocation
        self._batch = batch_size
        self._page_size = page_size

    def fire(self, campaign_id: str, scheduled_time: str | None = None) -> dict[str, Any]:
        """A schedule fired (or `send` with `now`): start the run, then fan out its first pages.
        A redelivered firing finds its run and only continues it."""
        campaign = self._store.get(campaign_id)
        if campaign is None or campaign.status in (DRAFT, PAUSED, CANCELLED, SENT):
            logger.info(
                "campaign firing skipped",
                extra={"campaign_id": campaign_id, "status": getattr(campaign, "status", None)},
            )
            return {"campaign_id": campaign_id, "skipped": campaign.status if campaign else "not_found"}
        recurring = campaign.schedule.kind == "recurring"
        run_id = run_id_for(scheduled_time) if recurring else SINGLE_RUN
        now = iso_from_ms(self._clock.now_ms())
        run = Run(campaign.campaign_id, run_id, RUN_SENDING, now, campaign.template_version)
        if not self._store.start_run(run):
            existing = self._store.get_run(campaign.campaign_id, run_id)
            if existing is None or existing.status != RUN_SENDING:
                return {
                    "campaign_id": campaign_id,
                    "run_id": run_id,
                    "skipped": existing.status if existing else "gone",
                }
        self._move_campaign(campaign_id, SENDING, run_id=run_id)
        return self.fan_out(campaign_id, run_id)

    def fan_out(self, campaign_id: str, run_id: str) -> dict[str, Any]:
        campaign = self._store.get(campaign_id)
        run = self._store.get_run(campaign_id, run_id)
        if campaign is None or run is None or run.status != RUN_SENDING or campaign.status != SENDING:
            return {"campaign_id": campaign_id, "run_id": run_id, "stopped": run.status if run else "gone"}
        now = datetime.fromtimestamp(self._clock.now_ms() / 1000, tz=UTC)
        pages = self._audience.pages(campaign, now, after=run.cursor, page_size=self._page_size)
        done = False
        for _ in range(self._pages):
            page = next(pages, None)
            if page is None:
                done = True
                break
            room = None if campaign.max_recipients is None else max(0, campaign.max_recipients - run.enqueued)
            people = page.people if room is None else page.people[:room]
            requests = [send_request(campaign, run, person.profile_id) for person in people]
            batches = [requests[i : i + self._batch] for i in range(0, len(requests), self._batch)]
            if batches:
                self._queue.enqueue(batches)
            moved = replace(
                run,
                cursor=page.after,
                enqueued=run.enqueued + len(requests),
                audience=run.audience + page.members,
                version=run.version + 1,
            )
            if not self._store.replace_run(moved, expected_version=run.version):
                # paused, cancelled or another invocation moved it: that writer decides what follows
                return {"campaign_id": campaign_id, "run_id": run_id, "stopped": "run_changed"}
            run = moved
            full = campaign.max_recipients is not None and run.enqueued >= campaign.max_recipients
            if page.after is None or full:
                done = True
                break
        if not done:
            self._continuation.continue_run(campaign_id, run_id)
            return {"campaign_id": campaign_id, "run_id": run_id, "enqueued": run.enqueued, "continued": True}
        finished = replace(run, status=RUN_SENT, finished_at=iso_from_ms(self._clock.now_ms()), version=run.version + 1)
        if self._store.replace_run(finished, expected_version=run.version):
            after = SCHEDULED if campaign.schedule.kind == "recurring" else SENT
            self._move_campaign(campaign_id, after, run_id=run_id, only_from=SENDING)
        logger.info(
            "campaign run handed to the sender",
            extra={"campaign_id": campaign_id, "run_id": run_id, "enqueued": run.enqueued},
        )
        return {"campaign_id": campaign_id, "run_id": run_id, "enqueued": run.enqueued, "audience": run.audience}

    def _move_campaign(self, campaign_id: str, status: str, *, run_id: str, only_from: str | None = None) -> None:
        for _attempt in range(5):  # compare-and-set against admin edits (pause, cancel)
            campaign = self._store.get(campaign_id)
            if campaign is None or campaign.status in (PAUSED, CANCELLED):
                return
            if only_from is not None and (campaign.status != only_from or campaign.current_run != run_id):
                return
            runs = campaign.runs if run_id in campaign.runs else (*campaign.runs, run_id)
            moved = campaign.moved(status, iso_from_ms(self._clock.now_ms()), current_run=run_id, runs=runs)
            if self._store.replace(moved, expected_version=campaign.version):
                return
