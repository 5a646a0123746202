"""cdp.archive.writer: a stream batch whose records the archive cannot all encode."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from cdp.archive.writer import write_batch


@dataclass
class Batch:
    profiles: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    name: str = "b1"
    day: str = "2026-11-23"


class Sink:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, Path] = {}
        self.quarantined: dict[str, bytes] = {}

    def put(self, kind: str, day: str, name: str, path: Path) -> str:
        key = f"archive/{kind}/dt={day}/{name}.parquet"
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        self.files[key] = target
        return key

    def quarantine(self, kind: str, day: str, name: str, data: bytes) -> str:
        key = f"archive/quarantine/{kind}/dt={day}/{name}.ndjson"
        self.quarantined[key] = data
        return key


def _profile(profile_id: str, seq: str, traits: dict[str, Any]) -> dict[str, Any]:
    return {"profile_id": profile_id, "seq": seq, "op": "upsert", "version": 1, "traits": traits}


def test_poison_rows_are_quarantined_with_their_reason_and_the_rest_written(tmp_path: Path) -> None:
    # Given a batch with a 2^64 integer in one profile, a lone surrogate in another, and a good one
    batch = Batch(
        profiles=[
            _profile("amy", "1", {"points": 2**64}),
            _profile("ben", "2", {"name": "\ud800"}),
            _profile("cat", "3", {"city": "Taipei"}),
        ]
    )
    sink = Sink(tmp_path / "bucket")
    work = tmp_path / "work"
    work.mkdir()

    # When it is written
    report = write_batch(batch, sink, work)

    # Then the good row is in the Parquet file and both poison rows are in the quarantine
    assert report["quarantined"] == {"profiles": 2}
    (parquet,) = sink.files.values()
    assert duckdb.sql(f"SELECT profile_id FROM '{parquet}'").fetchall() == [("cat",)]
    (data,) = sink.quarantined.values()
    lines = [json.loads(line) for line in data.splitlines()]
    assert [line["row"]["profile_id"] for line in lines] == ["amy", "ben"]
    assert "64-bit" in lines[0]["reason"] and lines[0]["row"]["traits"]["points"] == 2**64
    assert lines[1]["row"]["traits"]["name"] == "\ud800"  # kept as written (escaped in the file)
    assert data.isascii()


def test_a_batch_of_only_poison_rows_writes_no_parquet(tmp_path: Path) -> None:
    batch = Batch(profiles=[_profile("amy", "1", {"points": -(2**64)})])
    sink = Sink(tmp_path)

    report = write_batch(batch, sink, tmp_path)

    assert sink.files == {} and len(sink.quarantined) == 1
    assert report["keys"] == list(sink.quarantined)


def test_a_clean_batch_reports_no_quarantine(tmp_path: Path) -> None:
    sink = Sink(tmp_path / "bucket")
    report = write_batch(Batch(profiles=[_profile("cat", "3", {"n": 2**63 - 1})]), sink, tmp_path)

    assert "quarantined" not in report and sink.quarantined == {}
    assert len(report["keys"]) == 1
