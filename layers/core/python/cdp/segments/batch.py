"""Scheduled recompute: the segment's rule as SQL over the archive, checked against the live data.

The archive (cdp.archive) is seconds to minutes behind the table, so its answer is a list of
candidates, not a verdict: every person whose archived answer differs from their membership is
decided on facts as current as the real-time evaluator's.

- If the segment reads no events and the person's live profile has the archived version, the
  archived facts are the live facts, and the archive's answer is applied as is (one BatchGet per
  100 people, no timeline reads) - this is what makes a first run over a large population cheap.
- Otherwise the real-time evaluator re-evaluates that person for that segment on the live profile
  and timeline (which also settles merged-away profiles).

So a rule such as "no order in the last 30 days" turns true on schedule, with no event, and a
recompute can never undo a fresher real-time decision. Entering and exiting go through the same
conditional writes and publish the same `segment.entered` / `segment.exited` as real time; a rerun
changes nothing. Each run ends with a size sample (segment size over time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb

from cdp.archive.snapshot import ArchiveView, open_view
from cdp.clock import iso_from_ms
from cdp.observability import logger
from cdp.ports import Clock
from cdp.profiles.model import Profile
from cdp.segments.realtime import CompiledSegment, SegmentEvaluator
from cdp.segments.sql import to_sql
from cdp.segments.store import SegmentStore, SizeSample, member_ids

BATCH_GET = 100


class ArchiveSource(Protocol):
    def fetch_view(self) -> ArchiveView:
        """The archive's snapshot and the change files since (local paths), and the newest
        change they include (None when empty)."""
        ...


class LiveProfiles(Protocol):
    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]: ...


@dataclass(slots=True)
class RecomputeReport:
    segment_id: str
    rule_version: int
    archive_as_of: str | None
    selected: int = 0  # people the archive puts in the segment
    members_before: int = 0
    members_after: int = 0
    entered: int = 0
    exited: int = 0
    applied_from_archive: int = 0  # archive and live profile agreed: applied without re-reading
    rechecked_live: int = 0  # decided by the real-time evaluator on live data
    query_seconds: float = 0.0
    seconds: float = 0.0
    entered_ids: list[str] = field(default_factory=list)
    exited_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "rule_version": self.rule_version,
            "archive_as_of": self.archive_as_of,
            "selected": self.selected,
            "members_before": self.members_before,
            "members_after": self.members_after,
            "entered": self.entered,
            "exited": self.exited,
            "applied_from_archive": self.applied_from_archive,
            "rechecked_live": self.rechecked_live,
            "query_seconds": round(self.query_seconds, 3),
            "seconds": round(self.seconds, 3),
        }


def select_from_archive(db: duckdb.DuckDBPyConnection, segment: CompiledSegment, now: datetime) -> dict[str, int]:
    """profile id -> archived version of everyone the rule selects in the archive."""
    where, params = to_sql(segment.rule, now)
    rows = db.execute(f"SELECT p.profile_id, p.version FROM profiles p WHERE {where}", params).fetchall()  # noqa: S608
    return {str(profile_id): int(version) for profile_id, version in rows}


class SegmentRecompute:
    def __init__(
        self,
        segments: SegmentStore,
        evaluator: SegmentEvaluator,
        profiles: LiveProfiles,
        archive: ArchiveSource,
        clock: Clock,
    ) -> None:
        self._segments = segments
        self._evaluator = evaluator
        self._profiles = profiles
        self._archive = archive
        self._clock = clock

    def run(self, segment_ids: Sequence[str] | None = None) -> list[RecomputeReport]:
        """Recompute these active segments (all active ones when None), dependencies first."""
        active = self._evaluator.active_segments()
        wanted = set(segment_ids) if segment_ids is not None else {segment.segment_id for segment in active}
        chosen = [segment for segment in active if segment.segment_id in wanted]
        if not chosen:
            return []
        view = self._archive.fetch_view()
        as_of = view.as_of
        now = datetime.fromtimestamp(self._clock.now_ms() / 1000, tz=UTC)
        read_segments = sorted({dependency for segment in chosen for dependency in segment.reads.segments})
        pairs = [(sid, pid) for sid in read_segments for pid in member_ids(self._segments, sid)]
        db = open_view(view, now, memberships=pairs)
        try:
            versions = dict(db.execute("SELECT profile_id, version FROM profiles").fetchall())
            reports = []
            for segment in chosen:
                report = self._recompute(db, segment, now, versions, as_of)
                reports.append(report)
                if any(segment.segment_id in other.reads.segments for other in chosen):
                    self._refresh_members(db, segment.segment_id)
            return reports
        finally:
            db.close()

    def _recompute(
        self,
        db: duckdb.DuckDBPyConnection,
        segment: CompiledSegment,
        now: datetime,
        versions: dict[str, int],
        as_of: datetime | None,
    ) -> RecomputeReport:
        started = time.perf_counter()
        definition = segment.definition
        report = RecomputeReport(
            segment.segment_id,
            definition.version,
            as_of.astimezone(UTC).isoformat().replace("+00:00", "Z") if as_of else None,
        )
        selected = select_from_archive(db, segment, now)
        report.query_seconds = time.perf_counter() - started
        current = set(member_ids(self._segments, segment.segment_id))
        report.selected, report.members_before = len(selected), len(current)
        decisions = [(pid, True) for pid in sorted(selected.keys() - current)]
        decisions += [(pid, False) for pid in sorted(current - selected.keys())]
        trust_archive = not segment.reads.events
        for chunk in _chunks(decisions, BATCH_GET):
            live = self._profiles.get_many([pid for pid, _ in chunk])
            for profile_id, inside in chunk:
                profile = live.get(profile_id)
                archived = versions.get(profile_id)
                if (
                    trust_archive
                    and profile is not None
                    and not profile.merged_into
                    and not profile.merging_into
                    and archived is not None
                    and profile.version == archived
                ):
                    self._evaluator.apply_membership(definition, profile, inside=inside)
                    report.applied_from_archive += 1
                    (report.entered_ids if inside else report.exited_ids).append(profile_id)
                    continue
                result = self._evaluator.reevaluate(profile_id, [segment.segment_id])
                report.rechecked_live += 1
                if segment.segment_id in result.entered:
                    report.entered_ids.append(profile_id)
                if segment.segment_id in result.exited or any(
                    segment.segment_id in exited for exited in result.exited_elsewhere.values()
                ):
                    report.exited_ids.append(profile_id)
        report.entered, report.exited = len(report.entered_ids), len(report.exited_ids)
        report.members_after = self._segments.count_members(segment.segment_id)
        self._segments.record_size(
            SizeSample(
                segment_id=segment.segment_id,
                at=iso_from_ms(self._clock.now_ms()),
                members=report.members_after,
                entered=report.entered,
                exited=report.exited,
                rule_version=definition.version,
            )
        )
        report.seconds = time.perf_counter() - started
        logger.info("segment recomputed", extra=report.as_dict())
        return report

    def _refresh_members(self, db: duckdb.DuckDBPyConnection, segment_id: str) -> None:
        """Segments recomputed later in this run read this one's new memberships."""
        db.execute("DELETE FROM segment_members WHERE segment_id = ?", [segment_id])
        rows = [(segment_id, pid) for pid in member_ids(self._segments, segment_id)]
        if rows:
            db.executemany("INSERT INTO segment_members VALUES (?, ?)", rows)


def _chunks(items: list[tuple[str, bool]], size: int) -> Iterator[list[tuple[str, bool]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
