"""One stream batch -> its archive files, with poison records set aside instead of failing it.

A record the archive cannot encode (an integer past 64 bits, text that is not Unicode, stored
before the edge refused them) would fail the whole batch on every retry until it reached the
dead-letter queue with the innocent records around it. It is written to a quarantine file
(`archive/quarantine/<kind>/dt=<day>/<batch>.ndjson`, one line per record with its reason) and
the rest of the batch lands. The quarantine's name follows the batch, so a replay overwrites it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from cdp.archive.duck import UnwritableRow, write_parquet
from cdp.archive.files import EVENTS, PROFILES
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS


class ArchiveSink(Protocol):
    def put(self, kind: str, day: str, name: str, path: Path) -> str: ...

    def quarantine(self, kind: str, day: str, name: str, data: bytes) -> str: ...


class StreamBatch(Protocol):
    profiles: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @property
    def name(self) -> str: ...

    @property
    def day(self) -> str: ...


def write_batch(batch: StreamBatch, sink: ArchiveSink, folder: Path) -> dict[str, Any]:
    """Write the batch's files; what was written, and what was quarantined (keys and counts)."""
    report: dict[str, Any] = {"profiles": len(batch.profiles), "events": len(batch.events), "keys": []}
    quarantined: dict[str, int] = {}
    for kind, rows, columns in ((PROFILES, batch.profiles, PROFILE_COLUMNS), (EVENTS, batch.events, EVENT_COLUMNS)):
        if not rows:
            continue
        path = folder / f"{kind}.parquet"
        unwritable: list[UnwritableRow] = []
        if write_parquet(rows, columns, path, unwritable=unwritable):
            report["keys"].append(sink.put(kind, batch.day, batch.name, path))
        if unwritable:
            report["keys"].append(sink.quarantine(kind, batch.day, batch.name, quarantine_lines(unwritable)))
            quarantined[kind] = len(unwritable)
    if quarantined:
        report["quarantined"] = quarantined
    return report


def quarantine_lines(rows: Sequence[UnwritableRow]) -> bytes:
    """NDJSON of the set-aside rows with their reasons. The stdlib encoder keeps what orjson
    refused: big integers as they are, lone surrogates escaped, NaN as `NaN` (read it leniently)."""
    return b"".join(
        json.dumps({"reason": item.reason, "row": item.row}, default=str, sort_keys=True).encode("ascii") + b"\n"
        for item in rows
    )


__all__ = ["ArchiveSink", "quarantine_lines", "write_batch"]
