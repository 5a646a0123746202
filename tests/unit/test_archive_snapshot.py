"""The snapshot path gives exactly the tables `open_archive` gives over every change file: random
change streams (upserts, removals, merges, entries moved between profiles, replayed batches) are
cut into a snapshot, a second snapshot built on the first, and changes since, in any order."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cdp.archive.duck import open_archive, write_parquet
from cdp.archive.files import ArchiveFiles
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, REMOVE, UPSERT
from cdp.archive.snapshot import ArchiveView, SnapshotFiles, build_snapshot, open_view
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
PROFILES = [f"p{n}" for n in range(5)]
EVENTS = [f"e{n}" for n in range(8)]

CHANGE = st.one_of(
    st.tuples(st.just("profile"), st.sampled_from(PROFILES), st.sampled_from([UPSERT, UPSERT, REMOVE, "merge"])),
    st.tuples(
        st.just("event"),
        st.sampled_from(PROFILES),
        st.sampled_from(EVENTS),
        st.sampled_from([UPSERT, UPSERT, REMOVE]),
    ),
)


def _row(change: tuple[Any, ...], seq: int) -> tuple[str, dict[str, Any]]:
    padded = f"{seq:040d}"
    if change[0] == "profile":
        _, profile_id, op = change
        if op == REMOVE:
            return "profiles", {"profile_id": profile_id, "seq": padded, "op": REMOVE}
        day = (NOW - timedelta(days=seq % 40)).date().isoformat()
        return "profiles", {
            "profile_id": profile_id,
            "seq": padded,
            "op": UPSERT,
            "version": seq,
            "merged_into": "p0" if op == "merge" else None,
            "traits": {"seq": seq},
            "consent": {},
            "tags": ["vip"] if seq % 2 else [],
            "line_status": "friend",
            "identifier_types": ["email"],
            "computed": {"ltv": seq},
            "all_time_orders": seq % 3,
            "ltv": float(seq),
            "daily": [{"day": day, "orders": 1, "revenue": 10.5}],
        }
    _, profile_id, event_id, op = change
    if op == REMOVE:
        return "events", {"event_id": event_id, "profile_id": profile_id, "seq": padded, "op": REMOVE}
    return "events", {
        "event_id": event_id,
        "profile_id": profile_id,
        "seq": padded,
        "op": UPSERT,
        "type": "track",
        "name": ["Order Completed", "Product Viewed"][seq % 2],
        "ts": (NOW - timedelta(hours=seq)).isoformat(),
        "channel": "web",
        "properties": {"revenue": seq},
    }


def _write(folder: Path, name: str, rows: list[tuple[str, dict[str, Any]]]) -> ArchiveFiles:
    profiles = [row for kind, row in rows if kind == "profiles"]
    events = [row for kind, row in rows if kind == "events"]
    write_parquet(profiles, PROFILE_COLUMNS, folder / f"{name}-p.parquet")
    write_parquet(events, EVENT_COLUMNS, folder / f"{name}-e.parquet")
    return ArchiveFiles((folder / f"{name}-p.parquet",), (folder / f"{name}-e.parquet",))


def _tables(db: Any) -> tuple[list[Any], ...]:
    profiles = db.execute("SELECT * FROM profiles ORDER BY profile_id").fetchall()
    events = db.execute("SELECT * FROM events ORDER BY event_id").fetchall()
    live = db.execute("SELECT * FROM live_profiles ORDER BY profile_id").fetchall()  # what RFM reads
    return profiles, events, live


def _join(*files: ArchiveFiles) -> ArchiveFiles:
    return ArchiveFiles(
        tuple(p for f in files for p in f.profiles),
        tuple(p for f in files for p in f.events),
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshot")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.lists(CHANGE, min_size=1, max_size=40),
    order=st.randoms(use_true_random=False),
    cuts=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    replays=st.integers(0, 5),
    age=st.sampled_from([0, 1, 3, 29, 31]),  # days the snapshots are older than the query
)
def test_snapshot_and_changes_since_equal_the_whole_archive(
    root: Path, changes: list[Any], order: Any, cuts: tuple[float, float], replays: int, age: int
) -> None:
    day = (NOW - timedelta(days=age)).date()
    seqs = list(range(1, len(changes) + 1))
    order.shuffle(seqs)  # stream order need not be file order
    rows = [_row(change, seq) for change, seq in zip(changes, seqs, strict=True)]
    first, second = sorted(int(len(rows) * cut) for cut in cuts)
    folder = Path(tempfile.mkdtemp(dir=root))
    before = _write(folder, "a", rows[:first])
    between = _write(folder, "b", rows[first:second])
    # a replayed batch: older rows written again after the snapshots
    after = _write(folder, "c", rows[second:] + rows[:replays])
    everything = _join(before, between, after)
    expected = _tables(open_archive(everything, NOW))

    assert _tables(open_view(ArchiveView(None, everything, NOW), NOW)) == expected  # no snapshot yet
    build_snapshot(None, before, folder / "s1", day)
    one = SnapshotFiles.in_folder(folder / "s1")
    assert _tables(open_view(ArchiveView(one, _join(between, after), NOW), NOW)) == expected
    build_snapshot(one, between, folder / "s2", day)
    two = SnapshotFiles.in_folder(folder / "s2")
    assert _tables(open_view(ArchiveView(two, after, NOW), NOW)) == expected
    # a change file already in the snapshot (e.g. a compacted copy) read again changes nothing
    assert _tables(open_view(ArchiveView(two, _join(before, after), NOW), NOW)) == expected
    build_snapshot(two, after, folder / "s3", NOW.date())
    assert _tables(open_view(ArchiveView(SnapshotFiles.in_folder(folder / "s3"), ArchiveFiles((), ()), NOW), NOW)) == (
        expected
    )


def test_merge_after_the_snapshot_moves_events_and_hides_the_merged_profile(tmp_path: Path) -> None:
    before = _write(
        tmp_path,
        "a",
        [
            _row(("profile", "p1", UPSERT), 1),
            _row(("profile", "p2", UPSERT), 2),
            _row(("event", "p2", "e1", UPSERT), 3),
        ],
    )
    build_snapshot(None, before, tmp_path / "s", NOW.date())
    # p2 merges into p0: its entry moves (removed there, written under the survivor), p2 is merged away
    after = _write(
        tmp_path,
        "b",
        [
            _row(("profile", "p0", UPSERT), 10),
            _row(("profile", "p2", "merge"), 11),
            _row(("event", "p2", "e1", REMOVE), 12),
            _row(("event", "p0", "e1", UPSERT), 13),
        ],
    )
    db = open_view(ArchiveView(SnapshotFiles.in_folder(tmp_path / "s"), after, NOW), NOW)
    assert [r[0] for r in db.execute("SELECT profile_id FROM profiles ORDER BY 1").fetchall()] == ["p0", "p1"]
    assert db.execute("SELECT event_id, profile_id FROM events").fetchall() == [("e1", "p0")]
    assert _tables(db) == _tables(open_archive(_join(before, after), NOW))


def test_snapshot_lays_events_out_by_name_then_time(tmp_path: Path) -> None:
    rows = [_row(("event", "p1", f"e{n}", UPSERT), n) for n in range(1, 9)]
    build_snapshot(None, _write(tmp_path, "a", rows), tmp_path / "s", NOW.date())
    import duckdb

    names = duckdb.sql(f"SELECT name, ts FROM read_parquet('{tmp_path / 's' / 'events.parquet'}')").fetchall()
    assert names == sorted(names)
