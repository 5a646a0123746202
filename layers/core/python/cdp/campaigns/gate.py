"""The check the message sender makes before a campaign send: is its run still going?

A paused or cancelled campaign (or run) takes effect within seconds: requests already on the
sender's queue are answered `skipped` (nothing sent, nothing recorded in the ledger, so a resumed
run sends them). One read of the campaign's status and the run's per campaign run, kept for
`ttl_ms` (2 s by default) per warm container.
"""

from __future__ import annotations

import threading

from cdp.campaigns.model import CANCELLED, PAUSED, STOPPED_RUN, parse_send_key
from cdp.campaigns.ports import CampaignStore
from cdp.ports import Clock

GATE_TTL_MS = 2000


class CampaignGate:
    def __init__(self, store: CampaignStore, clock: Clock, *, ttl_ms: int = GATE_TTL_MS) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl_ms
        self._cache: dict[tuple[str, str], tuple[int, str | None]] = {}
        self._lock = threading.Lock()

    def stopped(self, send_key: str) -> str | None:
        """`campaign_paused` or `campaign_cancelled` when the send must not be made now; None to go on
        (and for sends that are not a campaign's)."""
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
        elif campaign_status == PAUSED or run_status in STOPPED_RUN:
            reason = "campaign_paused"
        with self._lock:
            self._cache[parsed] = (now, reason)
        return reason
