"""The query-ready archive: a compacted, deduplicated snapshot plus the change files since it.

Reading the raw archive (`open_archive`) loads every change file and ranks every row on every
query. The snapshot does that once: per profile its newest row, per (profile, timeline entry)
pair its newest row, split into what readers need and what a later merge needs:

- `profiles`: the live profiles (newest row not a removal, not merged away), in profile order;
- `profile_rest`: the profiles whose newest row is a removal or a merge (tombstones: a replayed
  older change must not bring them back);
- `events`: per timeline entry the row `open_archive` keeps, sorted by name then time so that a
  rule's `name = ? AND ts >= ?` skips most row groups;
- `event_rest`: every other newest-per-pair row: removals, and the copies a merge left under the
  merged-away profile (the moved entry wins by its newer `seq`; if its new home is removed later,
  the older copy is what `open_archive` shows again, so the snapshot keeps it).

Every file keeps the archive's own columns (`seq`, `op`, ...), so a snapshot is itself a valid
set of change rows: the next snapshot is (previous snapshot + changes since) resolved again, and
a reader resolves only the items that changed since, with the same rules as `open_archive`.
Keeping the highest `seq` per item is idempotent and order-free, so reading a change file that is
already in the snapshot (e.g. a compacted copy of included files) changes nothing but the cost.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cdp.archive.files import EVENTS, PROFILES, ArchiveFiles
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, REMOVE
from cdp.profiles.computed import WINDOWS_DAYS

if TYPE_CHECKING:
    import duckdb

SNAPSHOT_PARTS = ("profiles", "profile_rest", "events", "event_rest")
EVENT_ROW_GROUP = 122_880  # DuckDB's default: about 160 row groups per 20,000,000 events
_EVALUATED_AT = '"evaluated_at":"'
PROFILE_ROW_GROUP = 4_096  # small: a preview sample reads 20 rows in full, not 20 large row groups


@dataclass(frozen=True, slots=True)
class SnapshotFiles:
    """The four local Parquet files of one snapshot."""

    profiles: Path
    profile_rest: Path
    events: Path
    event_rest: Path

    @classmethod
    def in_folder(cls, folder: Path) -> SnapshotFiles:
        return cls(*(folder / f"{part}.parquet" for part in SNAPSHOT_PARTS))

    def parts(self) -> dict[str, Path]:
        return dict(zip(SNAPSHOT_PARTS, (self.profiles, self.profile_rest, self.events, self.event_rest), strict=True))


@dataclass(frozen=True, slots=True)
class ArchiveView:
    """What a query reads: a snapshot (None before the first one) and the change files not in it."""

    snapshot: SnapshotFiles | None
    changes: ArchiveFiles
    as_of: datetime | None  # the newest change the answer includes (None: the archive is empty)


class SnapshotBucket(Protocol):
    """Where the archive and its snapshot live (cdp.adapters.s3_archive.S3Archive)."""

    def keys(self, kind: str) -> list[tuple[str, datetime, str]]: ...

    def local(self, key: str, etag: str) -> Path: ...

    def read_manifest(self) -> dict[str, Any] | None: ...

    def write_manifest(self, manifest: dict[str, Any]) -> None: ...

    def put_snapshot_part(self, snapshot_id: str, part: str, path: Path) -> str: ...

    def delete_snapshot(self, snapshot_id: str) -> None: ...


def refresh(bucket: SnapshotBucket, built_at: datetime, workdir: Path | None = None) -> dict[str, Any]:
    """Fold the change files the current snapshot does not include into a new snapshot.

    Idempotent: with nothing new it does nothing, and the new snapshot's id is a digest of the
    previous id and the files folded in, so a retry after a failure rewrites the same objects.
    Safe with readers: the new objects are written first, then the manifest is replaced; the
    snapshot before the previous one is deleted last (a reader still on the previous one keeps it).
    """
    manifest = bucket.read_manifest()
    included: dict[str, dict[str, str]] = manifest["changes"] if manifest else {}
    listed = {kind: bucket.keys(kind) for kind in (PROFILES, EVENTS)}
    new = {kind: [item for item in listed[kind] if included.get(kind, {}).get(item[0]) != item[2]] for kind in listed}
    previous_id = manifest["snapshot_id"] if manifest else None
    if not any(new.values()):
        return {"refreshed": False, "snapshot_id": previous_id, "as_of": manifest["as_of"] if manifest else None}
    digest = hashlib.sha256(str(previous_id).encode())
    for kind in (PROFILES, EVENTS):
        for key, _modified, etag in new[kind]:
            digest.update(f"\n{kind} {key} {etag}".encode())
    snapshot_id = digest.hexdigest()[:32]
    previous = None
    if manifest is not None:
        previous = SnapshotFiles(
            *(bucket.local(manifest["files"][part], manifest["snapshot_id"]) for part in SNAPSHOT_PARTS)
        )
    changes = ArchiveFiles(
        profiles=tuple(bucket.local(key, etag) for key, _, etag in new[PROFILES]),
        events=tuple(bucket.local(key, etag) for key, _, etag in new[EVENTS]),
    )
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        rows = build_snapshot(previous, changes, Path(folder), built_at.astimezone(UTC).date())
        files = {
            part: bucket.put_snapshot_part(snapshot_id, part, path)
            for part, path in SnapshotFiles.in_folder(Path(folder)).parts().items()
        }
    moments = [modified for items in listed.values() for _key, modified, _etag in items]
    if manifest is not None and manifest.get("as_of"):
        moments.append(datetime.fromisoformat(str(manifest["as_of"]).replace("Z", "+00:00")))
    as_of = _iso(max(moments)) if moments else None
    bucket.write_manifest(
        {
            "format": 1,
            "snapshot_id": snapshot_id,
            "previous_id": previous_id,
            "as_of": as_of,  # the newest change file folded in: the snapshot's watermark
            "built_at": _iso(built_at),
            "files": files,
            "rows": rows,
            "changes": {kind: {key: etag for key, _, etag in listed[kind]} for kind in listed},
        }
    )
    retired = manifest.get("previous_id") if manifest else None
    if retired and retired not in (snapshot_id, previous_id):
        bucket.delete_snapshot(retired)
    return {
        "refreshed": True,
        "snapshot_id": snapshot_id,
        "as_of": as_of,
        "files_folded": {kind: len(new[kind]) for kind in new},
        "rows": rows,
    }


def build_snapshot(previous: SnapshotFiles | None, changes: ArchiveFiles, out: Path, day: date) -> dict[str, int]:
    """Write the snapshot of (previous snapshot + changes) into the folder `out`; rows per part.

    Live profiles also carry their computed traits with the order windows completed for `day`
    (as text split around `evaluated_at`: `computed_head`, `computed_tail`) and the last day those windows stay the same
    (`stable_until`: an order bucket leaves a window, or a future-dated one enters), so a reader
    on a day up to then reuses them instead of recomputing the windows of every profile."""
    from cdp.archive.duck import _load_changes, connect

    out.mkdir(parents=True, exist_ok=True)
    target = SnapshotFiles.in_folder(out)
    profile_inputs = [*changes.profiles, *((previous.profiles, previous.profile_rest) if previous else ())]
    event_inputs = [*changes.events, *((previous.events, previous.event_rest) if previous else ())]
    db = connect()
    try:
        db.execute("SET preserve_insertion_order = false")
        _load_changes(db, "profile_in", profile_inputs, PROFILE_COLUMNS)
        db.execute(
            """
            CREATE TEMP TABLE profile_newest AS
            SELECT * FROM profile_in QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY seq DESC) = 1
            """
        )
        db.execute("DROP TABLE profile_in")
        live = f"op <> '{REMOVE}' AND merged_into IS NULL"
        _copy(
            db,
            f"SELECT * EXCLUDE (computed_text) FROM (SELECT *, {_windows_columns(day)} FROM "  # noqa: S608
            f"(SELECT *, {_computed_text(day)} AS computed_text FROM profile_newest WHERE {live})) ORDER BY profile_id",
            target.profiles,
            PROFILE_ROW_GROUP,
        )
        _copy(db, f"SELECT * FROM profile_newest WHERE NOT ({live}) ORDER BY profile_id", target.profile_rest, None)  # noqa: S608
        db.execute("DROP TABLE profile_newest")
        _load_changes(db, "event_in", event_inputs, EVENT_COLUMNS)
        db.execute(
            """
            CREATE TEMP TABLE event_newest AS
            SELECT * FROM event_in
            QUALIFY row_number() OVER (PARTITION BY profile_id, event_id ORDER BY seq DESC) = 1
            """
        )
        db.execute("DROP TABLE event_in")
        db.execute(
            f"""
            CREATE TEMP TABLE event_ranked AS
            SELECT *, CASE WHEN op = '{REMOVE}' THEN 0
                ELSE row_number() OVER (PARTITION BY event_id, op = '{REMOVE}' ORDER BY seq DESC) END AS rank
            FROM event_newest
            """  # noqa: S608 (constants only)
        )
        db.execute("DROP TABLE event_newest")
        names = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
        _copy(db, f"SELECT {names} FROM event_ranked WHERE rank = 1 ORDER BY name, ts", target.events, EVENT_ROW_GROUP)  # noqa: S608
        _copy(db, f"SELECT {names} FROM event_ranked WHERE rank <> 1 ORDER BY event_id", target.event_rest, None)  # noqa: S608
        db.execute("DROP TABLE event_ranked")
        counts = {}
        for part, path in target.parts().items():
            counts[part] = int(db.execute(f"SELECT count(*) FROM read_parquet('{_quoted(path)}')").fetchone()[0])  # type: ignore[index]  # noqa: S608
        return counts
    finally:
        db.close()


def open_view(
    view: ArchiveView,
    now: datetime,
    *,
    memberships: Iterable[tuple[str, str]] = (),
    connection: duckdb.DuckDBPyConnection | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection with `profiles`, `events` and `segment_members` as `open_archive` would give
    for every change file, read from the snapshot (views over its Parquet: a query reads only the
    columns and row groups it needs) with the items changed since resolved again."""
    from cdp.archive.duck import _load_changes, completed_computed, connect, open_archive

    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if view.snapshot is None:  # no snapshot yet: everything is changes
        return open_archive(view.changes, now, memberships=memberships, connection=connection)
    snapshot = view.snapshot
    db = connection or connect()
    _load_changes(db, "profile_changes", view.changes.profiles, PROFILE_COLUMNS)
    _load_changes(db, "event_changes", view.changes.events, EVENT_COLUMNS)
    main_profiles, rest_profiles = _quoted(snapshot.profiles), _quoted(snapshot.profile_rest)
    columns = ", ".join(f'"{name}"' for name in PROFILE_COLUMNS)
    profile_rows = f"SELECT {columns}, windows_day, computed_head, computed_tail, stable_until FROM read_parquet('{main_profiles}')"  # noqa: S608
    if _count(db, "profile_changes"):
        # Resolve the changed profiles on their keys only (the snapshot's wide rows stay unread):
        # the winner is the newest row; a snapshot row that still wins stays where it is.
        db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE profile_winners AS
            WITH touched AS (SELECT DISTINCT profile_id FROM profile_changes WHERE profile_id IS NOT NULL)
            SELECT profile_id, seq, op, merged_into, src FROM (
                SELECT profile_id, seq, op, merged_into, 0 AS src FROM read_parquet('{main_profiles}')
                WHERE profile_id IN (SELECT profile_id FROM touched)
                UNION ALL SELECT profile_id, seq, op, merged_into, 1 FROM read_parquet('{rest_profiles}')
                WHERE profile_id IN (SELECT profile_id FROM touched)
                UNION ALL SELECT profile_id, seq, op, merged_into, 2 FROM profile_changes
            )
            QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY seq DESC, src) = 1
            """  # noqa: S608 (our own paths)
        )
        names = ", ".join(f'c."{name}"' for name in PROFILE_COLUMNS)
        db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE profile_delta AS
            SELECT {names} FROM profile_changes c JOIN profile_winners w USING (profile_id, seq)
            WHERE w.src = 2 AND w.op <> '{REMOVE}' AND w.merged_into IS NULL
            QUALIFY row_number() OVER (PARTITION BY c.profile_id) = 1
            """  # noqa: S608 (constant column names)
        )
        profile_rows = (
            f"{profile_rows} WHERE profile_id NOT IN (SELECT profile_id FROM profile_winners WHERE src <> 0) "  # noqa: S608
            f"UNION ALL SELECT {columns}, NULL, NULL, NULL, NULL FROM profile_delta"
        )
    db.execute(f"CREATE OR REPLACE TEMP VIEW profile_rows AS {profile_rows}")
    # live_profiles: the archive's own columns (RFM reads the daily buckets), as open_archive has it
    db.execute(f"CREATE OR REPLACE TEMP VIEW live_profiles AS SELECT {columns} FROM profile_rows")  # noqa: S608
    today = now.astimezone(UTC).date()
    evaluated_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    db.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW profiles AS
        SELECT profile_id, version, traits, consent, tags, line_status, identifier_types,
            CASE WHEN windows_day <= DATE '{today.isoformat()}' AND stable_until >= DATE '{today.isoformat()}'
                 THEN CAST(computed_head || '{evaluated_at}' || computed_tail AS JSON)
                 ELSE {completed_computed(today, evaluated_at)} END AS computed
        FROM profile_rows
        """  # noqa: S608 (constants and a formatted time)
    )
    event_columns = "event_id, profile_id, type, name, ts, channel, properties"
    main_events, rest_events = _quoted(snapshot.events), _quoted(snapshot.event_rest)
    live_events = f"read_parquet('{main_events}')"
    if _count(db, "event_changes"):
        # open_archive's two steps on keys only: newest row per (profile, entry), then the newest
        # surviving pair per entry; the snapshot's row wins ties (a replayed batch moves nothing).
        db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE event_winners AS
            WITH touched AS (SELECT DISTINCT event_id FROM event_changes WHERE event_id IS NOT NULL)
            SELECT event_id, profile_id, seq, src FROM (
                SELECT * FROM (
                    SELECT event_id, profile_id, seq, op, 0 AS src FROM read_parquet('{main_events}')
                    WHERE event_id IN (SELECT event_id FROM touched)
                    UNION ALL SELECT event_id, profile_id, seq, op, 1 FROM read_parquet('{rest_events}')
                    WHERE event_id IN (SELECT event_id FROM touched)
                    UNION ALL SELECT event_id, profile_id, seq, op, 2 FROM event_changes
                )
                QUALIFY row_number() OVER (PARTITION BY profile_id, event_id ORDER BY seq DESC, src) = 1
            )
            WHERE op <> '{REMOVE}'
            QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY seq DESC, src) = 1
            """  # noqa: S608 (our own paths)
        )
        db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE event_delta AS
            SELECT {", ".join(f"c.{name}" for name in event_columns.split(", "))} FROM (
                SELECT {event_columns}, seq FROM event_changes
                UNION ALL SELECT {event_columns}, seq FROM read_parquet('{rest_events}')
            ) c JOIN event_winners w USING (event_id, profile_id, seq)
            WHERE w.src <> 0
            QUALIFY row_number() OVER (PARTITION BY c.event_id) = 1
            """  # noqa: S608 (our own paths and constant column names)
        )
        db.execute(
            "CREATE OR REPLACE TEMP TABLE event_dropped AS SELECT DISTINCT event_id FROM event_changes "
            "WHERE event_id IS NOT NULL AND event_id NOT IN (SELECT event_id FROM event_winners WHERE src = 0)"
        )
        live_events = (
            f"(SELECT {event_columns} FROM {live_events} WHERE event_id NOT IN (SELECT event_id FROM event_dropped) "  # noqa: S608
            "UNION ALL SELECT * FROM event_delta)"
        )
    db.execute(f"CREATE OR REPLACE TEMP VIEW events AS SELECT {event_columns} FROM {live_events}")  # noqa: S608
    db.execute("CREATE OR REPLACE TEMP TABLE segment_members (segment_id VARCHAR, profile_id VARCHAR)")
    pairs = list(memberships)
    if pairs:
        db.executemany("INSERT INTO segment_members VALUES (?, ?)", pairs)
    return db


def _computed_text(day: date) -> str:
    from cdp.archive.duck import completed_computed

    return f"CAST({completed_computed(day, '-')} AS VARCHAR)"


def _windows_columns(day: date) -> str:
    """windows_day, computed_head / computed_tail and stable_until of a live profile row (over
    `computed_text`, its computed traits for `day`; see build_snapshot)."""

    def first_inside(days: int) -> str:
        first = (day - timedelta(days=days - 1)).isoformat()
        inside = f"list_filter(daily, lambda d: d.day >= '{first}' AND d.day <= '{day.isoformat()}')"
        return f"list_min(list_transform({inside}, lambda d: CAST(d.day AS DATE))) + {days - 1}"

    future = f"list_min(list_transform(list_filter(daily, lambda d: d.day > '{day.isoformat()}'), lambda d: CAST(d.day AS DATE))) - 1"
    leaving = ", ".join(first_inside(days) for days in WINDOWS_DAYS)
    # split around the evaluation time, so a reader only concatenates (no search, no JSON work)
    text = "computed_text"
    cut = f"strpos({text}, '{_EVALUATED_AT}-\"') + {len(_EVALUATED_AT)}"
    return (
        f"DATE '{day.isoformat()}' AS windows_day, "
        f"left({text}, {cut} - 1) AS computed_head, "
        f"substr({text}, {cut} + 1) AS computed_tail, "
        f"least({leaving}, {future}, DATE '9999-12-31') AS stable_until"
    )


def _copy(db: duckdb.DuckDBPyConnection, query: str, path: Path, row_group: int | None) -> None:
    temporary = path.with_suffix(".tmp")
    options = "FORMAT parquet, COMPRESSION zstd" + (f", ROW_GROUP_SIZE {row_group}" if row_group else "")
    db.execute(f"COPY ({query}) TO '{_quoted(temporary)}' ({options})")
    temporary.replace(path)


def _count(db: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]  # noqa: S608


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quoted(path: Path | str) -> str:
    return str(path).replace("'", "''")
