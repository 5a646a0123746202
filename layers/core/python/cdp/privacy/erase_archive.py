"""Erase a person from the Parquet archive: the files holding them rewritten without them, and
the snapshot replaced by one without them.

Archive rows carry the profile id (profile changes and timeline changes, removals included), so
a person's rows are those whose `profile_id` is one of theirs. One DuckDB query over the listed
change files finds which files hold any (reading the `profile_id` column only); each is rewritten
in place, or deleted when nothing else is left in it. The snapshot's four parts are filtered the
same way into a new snapshot folder; the manifest then names it, with the rewritten files' new
ETags (they are still included: they only lost the person's rows), and the folders that held the
person are deleted. Idempotent: a second pass finds no rows and changes nothing.

A snapshot refresh running at the same moment may publish a snapshot built from the old files;
the verification pass then finds the person again and the workflow goes round once more.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cdp.archive.files import EVENTS, PROFILES
from cdp.archive.snapshot import EVENT_ROW_GROUP, PROFILE_ROW_GROUP, SNAPSHOT_PARTS, SnapshotFiles
from cdp.privacy.erase import Person

ROW_GROUPS = {"profiles": PROFILE_ROW_GROUP, "events": EVENT_ROW_GROUP, "profile_rest": None, "event_rest": None}


class ArchiveBucket(Protocol):
    """What the erase needs of the archive bucket (cdp.adapters.s3_archive.S3Archive)."""

    def keys(self, kind: str) -> list[tuple[str, datetime, str]]: ...

    def local(self, key: str, etag: str) -> Path: ...

    def replace(self, key: str, path: Path) -> str:
        """Upload `path` over `key`; the object's new ETag."""
        ...

    def delete(self, keys: list[str]) -> None: ...

    def read_manifest(self) -> dict[str, Any] | None: ...

    def write_manifest(self, manifest: dict[str, Any]) -> None: ...

    def put_snapshot_part(self, snapshot_id: str, part: str, path: Path) -> str: ...

    def delete_snapshot(self, snapshot_id: str) -> None: ...


@dataclass(slots=True)
class ArchivePass:
    """What one pass did: rows removed, change files rewritten or deleted, snapshot replaced."""

    rows: int = 0
    files_rewritten: int = 0
    files_deleted: int = 0
    files_scanned: int = 0
    snapshot_replaced: bool = False


class ArchiveErasure:
    """The archive as an ErasureStore: one call is one whole pass (its cost is the scan)."""

    name = "archive"

    def __init__(self, bucket: ArchiveBucket, workdir: Path | None = None) -> None:
        self._bucket = bucket
        self._workdir = workdir
        self.last_pass = ArchivePass()

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]:
        self.last_pass = erase_from_archive(self._bucket, person.profile_ids, self._workdir)
        return self.last_pass.rows, True

    def remaining(self, person: Person) -> int:
        return count_in_archive(self._bucket, person.profile_ids)


def _ids_sql(profile_ids: tuple[str, ...] | list[str]) -> str:
    return ", ".join("'" + pid.replace("'", "''") + "'" for pid in profile_ids)


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _rows_by_file(db: Any, paths: list[Path], ids: str) -> dict[str, int]:
    if not paths:
        return {}
    listed = ", ".join(f"'{_quoted(path)}'" for path in paths)
    found = db.execute(
        f"SELECT filename, count(*) FROM read_parquet([{listed}], filename = true, union_by_name = true) "  # noqa: S608
        f"WHERE profile_id IN ({ids}) GROUP BY filename"
    ).fetchall()
    return {str(name): int(count) for name, count in found}


def _snapshot_parts(bucket: ArchiveBucket, manifest: dict[str, Any] | None) -> dict[str, Path]:
    if manifest is None:
        return {}
    return {part: bucket.local(manifest["files"][part], manifest["snapshot_id"]) for part in SNAPSHOT_PARTS}


def count_in_archive(bucket: ArchiveBucket, profile_ids: tuple[str, ...] | list[str]) -> int:
    """The person's rows left in the change files and the current snapshot."""
    from cdp.archive.duck import connect

    if not profile_ids:
        return 0
    paths = [bucket.local(key, etag) for kind in (PROFILES, EVENTS) for key, _, etag in bucket.keys(kind)]
    paths += list(_snapshot_parts(bucket, bucket.read_manifest()).values())
    db = connect()
    try:
        return sum(_rows_by_file(db, paths, _ids_sql(profile_ids)).values())
    finally:
        db.close()


def erase_from_archive(
    bucket: ArchiveBucket, profile_ids: tuple[str, ...] | list[str], workdir: Path | None = None
) -> ArchivePass:
    from cdp.archive.duck import connect

    done = ArchivePass()
    if not profile_ids:
        return done
    ids = _ids_sql(profile_ids)
    manifest = bucket.read_manifest()
    included: dict[str, dict[str, str]] = {kind: dict(v) for kind, v in (manifest or {}).get("changes", {}).items()}
    db = connect()
    try:
        with tempfile.TemporaryDirectory(dir=workdir) as folder:
            for kind in (PROFILES, EVENTS):
                listed = bucket.keys(kind)
                local = {str(bucket.local(key, etag)): (key, etag) for key, _, etag in listed}
                done.files_scanned += len(local)
                found = _rows_by_file(db, [Path(path) for path in local], ids)
                for path, rows in sorted(found.items()):
                    key, etag = local[path]
                    total = int(db.execute(f"SELECT count(*) FROM read_parquet('{_quoted(Path(path))}')").fetchone()[0])  # type: ignore[index]  # noqa: S608
                    done.rows += rows
                    if total == rows:
                        bucket.delete([key])
                        done.files_deleted += 1
                        if included.get(kind, {}).get(key) == etag:
                            del included[kind][key]
                        continue
                    target = Path(folder) / f"{kind}-{done.files_rewritten}.parquet"
                    _copy_without(db, Path(path), target, ids, None)
                    new_etag = bucket.replace(key, target)
                    done.files_rewritten += 1
                    if included.get(kind, {}).get(key) == etag:
                        included[kind][key] = new_etag  # still in the snapshot: only the person left
            if manifest is not None:
                parts = _snapshot_parts(bucket, manifest)
                found = _rows_by_file(db, list(parts.values()), ids)
                if found:
                    done.rows += sum(found.values())
                    _replace_snapshot(db, bucket, manifest, parts, included, ids, Path(folder))
                    done.snapshot_replaced = True
                elif included != manifest.get("changes", {}):
                    bucket.write_manifest({**manifest, "changes": included})
    finally:
        db.close()
    return done


def _copy_without(db: Any, source: Path, target: Path, ids: str, row_group: int | None) -> None:
    options = "FORMAT parquet, COMPRESSION zstd" + (f", ROW_GROUP_SIZE {row_group}" if row_group else "")
    db.execute(
        f"COPY (SELECT * FROM read_parquet('{_quoted(source)}') WHERE profile_id IS NULL OR profile_id NOT IN ({ids})) "  # noqa: S608
        f"TO '{_quoted(target)}' ({options})"
    )


def _replace_snapshot(
    db: Any,
    bucket: ArchiveBucket,
    manifest: dict[str, Any],
    parts: dict[str, Path],
    included: dict[str, dict[str, str]],
    ids: str,
    folder: Path,
) -> None:
    """A new snapshot folder without the person, named by the old one and whom it left out (a
    retry rewrites the same objects); then the manifest; then the folders that held them."""
    old_id = str(manifest["snapshot_id"])
    snapshot_id = hashlib.sha256(f"{old_id}\x00erase\x00{ids}".encode()).hexdigest()[:32]
    out = SnapshotFiles.in_folder(folder / "snapshot")
    (folder / "snapshot").mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    for part, target in out.parts().items():
        _copy_without(db, parts[part], target, ids, ROW_GROUPS[part])
        rows[part] = int(db.execute(f"SELECT count(*) FROM read_parquet('{_quoted(target)}')").fetchone()[0])  # noqa: S608
        files[part] = bucket.put_snapshot_part(snapshot_id, part, target)
    bucket.write_manifest(
        {**manifest, "snapshot_id": snapshot_id, "previous_id": None, "files": files, "rows": rows, "changes": included}
    )
    # Readers still on the old snapshot read it again (a deleted part is listed anew).
    bucket.delete_snapshot(old_id)
    if manifest.get("previous_id") and manifest["previous_id"] != snapshot_id:
        bucket.delete_snapshot(str(manifest["previous_id"]))
