"""Scheduled recompute on fakes: SQL over an archive written from the fake store, checked live."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cdp.archive.duck import ArchiveFiles, write_parquet
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, event_row, padded_seq, profile_row
from cdp.archive.snapshot import ArchiveView, SnapshotFiles, build_snapshot
from cdp.domain_events import SEGMENT_ENTERED, SEGMENT_EXITED
from cdp.segments.batch import SegmentRecompute

from tests.fakes import FakeProfileStore
from tests.unit.test_segment_realtime import CITY_TAIPEI, DAY_MS, World, world  # noqa: F401 (fixture)

BOUGHT_THIS_WEEK = {"event": {"name": "Order Completed", "within": {"last": {"days": 7}}}}
LAPSED = {
    "and": [
        {"attribute": {"field": "traits.city", "op": "exists"}},
        {"not": {"event": {"name": "Order Completed", "within": {"last": {"days": 7}}}}},
    ]
}


class SnapshotArchive:
    """Writes what the fake store holds when `snapshot()` is called, like the stream archiver."""

    def __init__(self, folder: Path, store: FakeProfileStore) -> None:
        self.folder, self.store, self.files = folder, store, ArchiveFiles((), ())
        self.fetches = 0

    def snapshot(self) -> None:
        at = datetime(2024, 5, 1, tzinfo=UTC)
        profiles = [profile_row(p, padded_seq(str(i)), at) for i, p in enumerate(self.store.profiles.values())]
        events = [
            event_row(pid, entry.document, padded_seq(str(1000 + n)))
            for pid, entries in self.store.timelines.items()
            for n, entry in enumerate(entries.values())
        ]
        write_parquet(profiles, PROFILE_COLUMNS, self.folder / "p.parquet")
        write_parquet(events, EVENT_COLUMNS, self.folder / "e.parquet")
        self.files = ArchiveFiles((self.folder / "p.parquet",), (self.folder / "e.parquet",))

    def fetch_view(self) -> ArchiveView:
        """The snapshot path: what was archived folded into a snapshot, nothing since."""
        self.fetches += 1
        folder = self.folder / f"snapshot-{self.fetches}"
        build_snapshot(None, self.files, folder, datetime(2024, 5, 1, tzinfo=UTC).date())
        return ArchiveView(SnapshotFiles.in_folder(folder), ArchiveFiles((), ()), datetime(2024, 5, 1, tzinfo=UTC))


@pytest.fixture
def batch(world: World, tmp_path: Path) -> tuple[SegmentRecompute, SnapshotArchive]:  # noqa: F811
    archive = SnapshotArchive(tmp_path, world.profiles)
    return SegmentRecompute(world.segments, world.evaluator, world.profiles, archive, world.clock), archive


def test_an_attribute_segment_fills_from_the_archive_without_reading_timelines(world: World, batch) -> None:  # noqa: F811
    recompute, archive = batch
    world.define("taipei", CITY_TAIPEI)
    for n in range(250):
        world.person(f"p{n:03d}", city="Taipei" if n % 2 else "Tainan")
    archive.snapshot()
    [report] = recompute.run()
    assert (report.selected, report.entered, report.exited, report.applied_from_archive) == (125, 125, 0, 125)
    assert report.rechecked_live == 0 and world.timeline_reads == []
    assert world.segments.count_members("taipei") == 125
    assert len(world.publisher.named(SEGMENT_ENTERED)) == 125
    assert [s.members for s in world.segments.sizes("taipei", limit=5)] == [125]
    [again] = recompute.run(["taipei"])  # a rerun changes and publishes nothing
    assert (again.entered, again.exited) == (0, 0)
    assert len(world.publisher.named(SEGMENT_ENTERED)) == 125
    assert [s.members for s in world.segments.sizes("taipei", limit=5)] == [125, 125]


def test_a_stale_archive_is_checked_against_the_live_profile(world: World, batch) -> None:  # noqa: F811
    recompute, archive = batch
    world.define("taipei", CITY_TAIPEI)
    world.person("moved", city="Taipei")
    world.person("arrived", city="Tainan")
    archive.snapshot()
    world.person("moved", version=2, city="Kaohsiung")  # changed after the archive was written
    world.person("arrived", version=2, city="Taipei")  # in real time this would have entered already
    [report] = recompute.run()
    assert report.selected == 1 and report.rechecked_live == 1
    assert world.segments.count_members("taipei") == 0  # "moved" is not entered on stale facts
    assert report.entered == 0


def test_time_passing_alone_moves_people_in_and_out(world: World, batch) -> None:  # noqa: F811
    recompute, archive = batch
    world.define("lapsed", LAPSED)
    world.define("recent", BOUGHT_THIS_WEEK)
    world.person("amy", city="Taipei")
    world.order("amy", "2024-05-01T10:00:00.000Z")
    archive.snapshot()
    world.clock.advance(DAY_MS)
    reports = {r.segment_id: r for r in recompute.run()}
    assert reports["recent"].entered_ids == ["amy"] and reports["lapsed"].entered == 0
    assert reports["recent"].rechecked_live == 1  # event rules are always decided on the live timeline
    world.clock.advance(8 * DAY_MS)  # no event at all: the week passes
    reports = {r.segment_id: r for r in recompute.run()}
    assert reports["recent"].exited_ids == ["amy"] and reports["lapsed"].entered_ids == ["amy"]
    names = [(e.name, e.detail["segmentId"]) for e in world.publisher.published]
    assert names == [
        (SEGMENT_ENTERED, "recent"),
        (SEGMENT_ENTERED, "lapsed"),
        (SEGMENT_EXITED, "recent"),
    ]


def test_a_merged_away_member_exits(world: World, batch) -> None:  # noqa: F811
    recompute, archive = batch
    world.define("taipei", CITY_TAIPEI)
    world.person("loser", city="Taipei")
    archive.snapshot()
    recompute.run()
    loser = world.profiles.profiles["loser"]
    loser.merged_into, loser.version = "winner", 2
    world.person("winner", city="Kaohsiung")
    archive.snapshot()
    [report] = recompute.run()
    assert report.exited_ids == ["loser"] and world.segments.count_members("taipei") == 0


def test_nothing_to_recompute_reads_no_archive(world: World, batch) -> None:  # noqa: F811
    recompute, archive = batch
    assert recompute.run() == [] and archive.fetches == 0
