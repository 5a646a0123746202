"""Compaction: the archive's many small files of closed days become one file per kind.

The stream writes one pair of files per batch (thousands a day). Once a day, every file of a
day before today is read and, per item, only its newest row (highest `seq`) is kept, removals
included: a removal must keep hiding older rows that a redelivered stream batch may write again
later. The result goes to `dt=<newest compacted day>/compacted-<digest>.parquet` first and the
inputs are deleted after, so a reader listing in between sees rows twice, which reading already
tolerates (newest row per item wins). A rerun over the same inputs writes the same name.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS

KINDS: Mapping[str, tuple[Mapping[str, str], str]] = {
    "profiles": (PROFILE_COLUMNS, "profile_id"),
    "events": (EVENT_COLUMNS, "profile_id, event_id"),
}


class ArchiveBucket(Protocol):
    def keys(self, kind: str) -> list[tuple[str, Any, str]]: ...

    def download(self, key: str, path: Path) -> None: ...

    def put(self, kind: str, day: str, name: str, path: Path) -> str: ...

    def delete(self, keys: list[str]) -> None: ...


@dataclass(slots=True)
class CompactionReport:
    files_in: dict[str, int] = field(default_factory=dict)
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    written: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"files_in": self.files_in, "rows_in": self.rows_in, "rows_out": self.rows_out, "written": self.written}


def day_of(key: str) -> str | None:
    """The `dt=YYYY-MM-DD` partition of an archive key."""
    for part in key.split("/"):
        if part.startswith("dt="):
            return part[3:]
    return None


def compact(bucket: ArchiveBucket, today: date) -> CompactionReport:
    from cdp.archive.duck import connect

    report = CompactionReport()
    for kind, (columns, item_key) in KINDS.items():
        closed = sorted(
            (key for key, _modified, _etag in bucket.keys(kind) if (day_of(key) or "9999") < today.isoformat()),
        )
        report.files_in[kind] = len(closed)
        if len(closed) < 2:
            continue
        newest_day = max(day_of(key) or "" for key in closed)
        name = "compacted-" + hashlib.sha256("\n".join(closed).encode()).hexdigest()[:32]
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for number, key in enumerate(closed):
                path = Path(folder) / f"{number:06d}.parquet"
                bucket.download(key, path)
                paths.append(path)
            out = Path(folder) / "out.parquet"
            listed = ", ".join(f"'{path}'" for path in paths)
            names = ", ".join(f'"{column}"' for column in columns)
            db = connect()
            try:
                report.rows_in[kind] = int(db.execute(f"SELECT count(*) FROM read_parquet([{listed}])").fetchone()[0])  # type: ignore[index]  # noqa: S608
                db.execute(
                    f"""
                    COPY (
                        SELECT {names} FROM read_parquet([{listed}], union_by_name = true)
                        QUALIFY row_number() OVER (PARTITION BY {item_key} ORDER BY seq DESC) = 1
                    ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
                    """  # noqa: S608 (our own temporary paths and constant column names)
                )
                report.rows_out[kind] = int(db.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0])  # type: ignore[index]  # noqa: S608
            finally:
                db.close()
            report.written[kind] = bucket.put(kind, newest_day, name, out)
        bucket.delete([key for key in closed if key != report.written[kind]])
    return report
