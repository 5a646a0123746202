"""The scheduled RFM run: score everyone over the archive, write the changes back as traits.

RFM needs the whole population (scores are quintiles), so it is a batch: the archive gives each
live profile's last order and its daily order buckets, `rfm_scores` (the reference
implementation, cdp.profiles.rfm) scores them for the configured window, and every person whose
scores or group changed gets one `identify` event from the source `computed-rfm` with the traits
`rfm_recency`, `rfm_frequency`, `rfm_monetary`, `rfm_group` and `rfm_window_days`. Those events
go through the processor like any other: the traits carry their source and time, survive merges
(newest wins), show in the 360 view (and under computed_traits.rfm), and real-time segments on
them react at once. Event ids derive from the day, the window and the scores, so a rerun writes
nothing new. System events do not count as the person being seen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from cdp.clock import iso_from_ms
from cdp.events.raw import RawEvent
from cdp.observability import logger
from cdp.ports import Clock
from cdp.profiles.computed import BUCKET_DAYS, ComputedState, window_figures
from cdp.profiles.consent import admin_event
from cdp.profiles.rfm import DEFAULT_WINDOW_DAYS, RfmRow, RfmScore, rfm_scores
from cdp.segments.batch import ArchiveSource, LiveProfiles

RFM_SOURCE = "computed-rfm"
RFM_TRAITS = ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_group", "rfm_window_days")
BATCH = 100


class RawEventSink(Protocol):
    def store_once(self, events: Sequence[RawEvent]) -> list[bool]: ...


@dataclass(slots=True)
class RfmReport:
    window_days: int
    scored_at: str
    profiles: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    written: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "scored_at": self.scored_at,
            "profiles": self.profiles,
            "groups": dict(sorted(self.groups.items())),
            "changed": self.changed,
            "written": self.written,
            "seconds": round(self.seconds, 3),
        }


def rfm_traits(score: RfmScore, window_days: int) -> dict[str, Any]:
    return {
        "rfm_recency": score.recency,
        "rfm_frequency": score.frequency,
        "rfm_monetary": score.monetary,
        "rfm_group": score.group,
        "rfm_window_days": window_days,
    }


def archive_rfm_rows(db: Any, now: str, window_days: int) -> tuple[list[RfmRow], dict[str, dict[str, Any]]]:
    """RFM inputs of every live profile in the archive, and the RFM traits each has now."""
    rows: list[RfmRow] = []
    current: dict[str, dict[str, Any]] = {}
    cursor = db.execute(
        "SELECT profile_id, json_extract_string(computed, '$.last_purchase_at'), all_time_orders, ltv, daily, "
        "json_object('rfm_recency', json_extract(traits, '$.rfm_recency'), "
        "'rfm_frequency', json_extract(traits, '$.rfm_frequency'), "
        "'rfm_monetary', json_extract(traits, '$.rfm_monetary'), "
        "'rfm_group', json_extract(traits, '$.rfm_group'), "
        "'rfm_window_days', json_extract(traits, '$.rfm_window_days')) FROM live_profiles"
    )
    while batch := cursor.fetchmany(10_000):
        for profile_id, last_order_at, all_time_orders, ltv, daily, traits in batch:
            if window_days <= BUCKET_DAYS:
                state = ComputedState(daily={d["day"]: (int(d["orders"]), float(d["revenue"])) for d in daily or []})
                orders, revenue = window_figures(state, now, window_days)
            else:
                orders, revenue = int(all_time_orders or 0), float(ltv or 0.0)
            rows.append(RfmRow(profile_id, last_order_at, orders, revenue))
            current[profile_id] = orjson.loads(traits)
    return rows, current


class RfmJob:
    def __init__(
        self,
        archive: ArchiveSource,
        profiles: LiveProfiles,
        raw_events: RawEventSink,
        clock: Clock,
        *,
        window_days: int = DEFAULT_WINDOW_DAYS,
    ) -> None:
        self._archive = archive
        self._profiles = profiles
        self._raw_events = raw_events
        self._clock = clock
        self._window = window_days

    def run(self) -> RfmReport:
        from cdp.archive.snapshot import open_view

        started = time.perf_counter()
        now_ms = self._clock.now_ms()
        now_iso = iso_from_ms(now_ms)
        report = RfmReport(self._window, now_iso)
        db = open_view(self._archive.fetch_view(), datetime.fromtimestamp(now_ms / 1000, tz=UTC))
        try:
            rows, current = archive_rfm_rows(db, now_iso, self._window)
        finally:
            db.close()
        scores = rfm_scores(rows, now=now_iso, window_days=self._window)
        report.profiles = len(scores)
        changed: list[tuple[str, dict[str, Any]]] = []
        for profile_id, score in sorted(scores.items()):
            report.groups[score.group] = report.groups.get(score.group, 0) + 1
            wanted = rfm_traits(score, self._window)
            if wanted != current.get(profile_id):
                changed.append((profile_id, wanted))
        report.changed = len(changed)
        day = now_iso[:10]
        for start in range(0, len(changed), BATCH):
            chunk = changed[start : start + BATCH]
            live = self._profiles.get_many([profile_id for profile_id, _ in chunk])
            events = []
            for profile_id, traits in chunk:
                profile = live.get(profile_id)
                if profile is None or profile.merged_into or not profile.identifiers:
                    continue  # merged or gone since the archive was written: the next run scores the survivor
                events.append(
                    admin_event(
                        profile,
                        source=RFM_SOURCE,
                        payload={"type": "identify", "traits": traits},
                        context={"channel": "system"},
                        now_ms=now_ms,
                        request_key=f"rfm:{day}:{self._window}:{orjson.dumps(traits).decode()}",
                        purpose="record RFM scores",
                    )
                )
            report.written += sum(self._raw_events.store_once(events))
        report.seconds = time.perf_counter() - started
        logger.info("RFM scored", extra=report.as_dict())
        return report
