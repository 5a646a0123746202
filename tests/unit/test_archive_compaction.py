"""Compaction keeps, per item, the newest row of the closed days (removals too), writes first and
deletes after, and leaves what readers see unchanged."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cdp.archive.compaction import compact, day_of
from cdp.archive.duck import open_archive, write_parquet
from cdp.archive.files import ArchiveFiles
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, event_removal, event_row, padded_seq

from tests.unit.builders import canonical


class FolderBucket:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.deleted: list[str] = []
        self.order: list[str] = []

    def keys(self, kind: str) -> list[tuple[str, Any, str]]:
        found = sorted(p.relative_to(self.root).as_posix() for p in (self.root / "archive" / kind).rglob("*.parquet"))
        return [(key, None, "") for key in found]

    def download(self, key: str, path: Path) -> None:
        shutil.copy(self.root / key, path)

    def put(self, kind: str, day: str, name: str, path: Path) -> str:
        key = f"archive/{kind}/dt={day}/{name}.parquet"
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, self.root / key)
        self.order.append(f"put {key}")
        return key

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink()
            self.deleted.append(key)
        self.order.append("delete")

    def files(self) -> ArchiveFiles:
        def paths(kind: str) -> tuple[Path, ...]:
            return tuple(self.root / key for key, _, _ in self.keys(kind))

        return ArchiveFiles(paths("profiles"), paths("events"))


def _event(event_id: str) -> dict[str, Any]:
    return canonical(event_id=event_id, timestamp="2026-11-20T01:00:00.000Z", event="Order Completed").as_dict()


def _write(bucket: FolderBucket, day: str, name: str, events: list[dict[str, Any]]) -> None:
    write_parquet(events, EVENT_COLUMNS, bucket.root / f"archive/events/dt={day}/{name}.parquet")


def test_compaction_keeps_the_newest_row_per_item_and_reads_the_same(tmp_path: Path) -> None:
    bucket = FolderBucket(tmp_path)
    _write(bucket, "2026-11-20", "a", [event_row("ghost", _event("e1"), padded_seq("1"))])
    _write(
        bucket,
        "2026-11-21",
        "b",
        [event_removal("ghost", "e1", padded_seq("5")), event_row("amy", _event("e1"), padded_seq("6"))],
    )
    _write(
        bucket,
        "2026-11-21",
        "c",
        [event_row("amy", _event("e2"), padded_seq("7")), event_row("amy", _event("e2"), padded_seq("7"))],
    )
    _write(bucket, "2026-11-23", "today", [event_row("amy", _event("e3"), padded_seq("9"))])
    write_parquet([], PROFILE_COLUMNS, tmp_path / "archive/profiles/dt=2026-11-23/p.parquet")
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    before = open_archive(bucket.files(), now).execute("SELECT event_id, profile_id FROM events ORDER BY 1").fetchall()

    report = compact(bucket, date(2026, 11, 23))
    assert report.files_in["events"] == 3 and report.rows_in["events"] == 5
    assert report.rows_out["events"] == 3  # ghost/e1 (its removal), amy/e1, amy/e2
    assert report.written["events"].startswith("archive/events/dt=2026-11-21/compacted-")
    assert bucket.order == [f"put {report.written['events']}", "delete"]  # write first, delete after
    assert sorted(day_of(k) or "" for k in bucket.deleted) == ["2026-11-20", "2026-11-21", "2026-11-21"]
    after = open_archive(bucket.files(), now).execute("SELECT event_id, profile_id FROM events ORDER BY 1").fetchall()
    assert after == before == [("e1", "amy"), ("e2", "amy"), ("e3", "amy")]

    again = compact(bucket, date(2026, 11, 23))  # one closed file left: nothing to do
    assert again.files_in["events"] == 1 and "events" not in again.written
