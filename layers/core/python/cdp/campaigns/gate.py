"""The check the message sender makes before a campaign send: is its run still going?

A paused or cancelled campaign (or run) takes effect within seconds: requests already on the
sender's queue are answered `skipped` (nothing sent, nothing recorded in the ledger, so a resumed
run sends them). One read of the campaign's status and the run's per campaign run, kept for
`ttl_ms` (2 s by default) per warm container.

LINE's monthly limit stops a campaign too: when the send point records a campaign's LINE send as
`quota_exhausted`, `stop_exhausted` marks its run `quota_exhausted` and pauses the campaign
(`paused_reason: quota_exhausted`, resuming to `sending`), so the runner stops paging and the
requests still queued are answered `skipped` / `quota_exhausted` without calling LINE again (and
sent after `resume`, once the limit allows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace

from cdp.campaigns.model import (
    CANCELLED,
    PAUSED,
    QUOTA_EXHAUSTED,
    RUN_QUOTA_EXHAUSTED,
    RUN_SENDING,
    RUN_SENT,
    SCHEDULED,
    SENDING,
    SENT,
    STOPPED_RUN,
    parse_send_key,
)
from cdp.campaigns.ports import CampaignStore
from cdp.clock import iso_from_ms
from cdp.messaging.send_point import SendResult
from cdp.observability import logger
from cdp.ports import Clock

GATE_TTL_MS = 2000
# A campaign whose current run still has requests on the queue: fanning out, or all handed out
# (`sent`; a recurring one back to `scheduled`).
STOPPABLE = frozenset({SENDING, SENT, SCHEDULED})


class CampaignGate:
    def __init__(self, store: CampaignStore, clock: Clock, *, ttl_ms: int = GATE_TTL_MS) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl_ms
        self._cache: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._lock = threading.Lock()

    def stopped(self, send_key: str) -> str | None:
        """`campaign_paused`, `campaign_cancelled` or `quota_exhausted` when the send must not be
        made now; None to go on (and for sends that are not a campaign's)."""
        parsed = parse_send_key(send_key)
        if parsed is None:
            return None
        now = self._clock.now_ms()
        with self._lock:
            cached = self._cache.get(parsed)
        if cached is not None and 0 <= now - cached[0] < self._ttl:  # a clock set back re-reads
            return cached[1]
        campaign_status, run_status = self._store.run_status(*parsed)
        reason = None
        if campaign_status == CANCELLED or run_status == "cancelled":
            reason = "campaign_cancelled"
        elif run_status == RUN_QUOTA_EXHAUSTED:
            reason = QUOTA_EXHAUSTED
        elif campaign_status == PAUSED or run_status in STOPPED_RUN:
            reason = "campaign_paused"
        with self._lock:
            self._cache[parsed] = (now, reason)
        return reason

    def stop_exhausted(self, results: Iterable[SendResult]) -> list[tuple[str, str]]:
        """Stop every campaign run whose send LINE refused for the monthly limit; the runs stopped."""
        runs = {
            parsed
            for result in results
            if result.reason == QUOTA_EXHAUSTED and (parsed := parse_send_key(result.send_key)) is not None
        }
        stopped = []
        for campaign_id, run_id in sorted(runs):
            with self._lock:
                self._cache[(campaign_id, run_id)] = (self._clock.now_ms(), QUOTA_EXHAUSTED)
            if self._stop_run(campaign_id, run_id):
                stopped.append((campaign_id, run_id))
                logger.warning(
                    "LINE's monthly limit: campaign paused",
                    extra={"campaign_id": campaign_id, "run_id": run_id, "reason": QUOTA_EXHAUSTED},
                )
            self._pause_campaign(campaign_id, run_id)
        return stopped

    def _stop_run(self, campaign_id: str, run_id: str) -> bool:
        for _attempt in range(5):  # compare-and-set against the runner's cursor writes
            run = self._store.get_run(campaign_id, run_id)
            if run is None or run.status not in (RUN_SENDING, RUN_SENT):
                return False  # already stopped (paused, cancelled, or by another sender)
            if self._store.replace_run(
                replace(run, status=RUN_QUOTA_EXHAUSTED, version=run.version + 1), expected_version=run.version
            ):
                return True
        return False

    def _pause_campaign(self, campaign_id: str, run_id: str) -> None:
        for _attempt in range(5):  # compare-and-set against the runner and the admin API
            campaign = self._store.get(campaign_id)
            if campaign is None or campaign.status not in STOPPABLE or campaign.current_run != run_id:
                return
            # `resume` fans the run out again from its first page: the ledger answers those sent.
            paused = campaign.moved(
                PAUSED, iso_from_ms(self._clock.now_ms()), resume_to=SENDING, paused_reason=QUOTA_EXHAUSTED
            )
            if self._store.replace(paused, expected_version=campaign.version):
                return
