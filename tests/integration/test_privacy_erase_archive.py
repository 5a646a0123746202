"""Erase from the Parquet archive on moto S3: the change files and the snapshot that held the
person rewritten without them; readers see everyone else exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.s3_archive import S3Archive
from cdp.archive.duck import connect, open_archive
from cdp.archive.snapshot import open_view
from cdp.privacy.erase import Person
from cdp.privacy.erase_archive import ArchiveErasure, count_in_archive
from cdp.settings import ENV_ARCHIVE_BUCKET

from tests.integration.conftest import Stack
from tests.integration.test_archive import _core_stream_records, _tables
from tests.integration.test_segments import fold

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _every_parquet_row_mentioning(stack: Stack, bucket: str, folder: Path, needle: str) -> int:
    """Every Parquet object in the bucket read whole, any column's text searched."""
    s3, found = stack.client("s3"), 0
    db = connect()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".parquet"):
                continue
            path = folder / item["Key"].replace("/", "_")
            s3.download_file(bucket, item["Key"], str(path))
            rows = db.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
            found += sum(needle in repr(row) for row in rows)
    return found


def test_archive_files_and_snapshot_are_rewritten_without_the_person(stack: Stack, tmp_path: Path) -> None:
    profiles = DynamoProfileStore(stack.client("dynamodb"), stack.core_table)
    bucket = stack.env("archive_writer", ENV_ARCHIVE_BUCKET)
    archive = S3Archive(stack.client("s3"), bucket, tmp_path / "cache")
    fold(profiles, "amy", "e1", traits={"city": "Taipei"})
    fold(profiles, "ben", "e2", event="Order Completed", channel="pos")
    stack.invoke("archive_writer", {"Records": _core_stream_records(stack)})
    assert stack.invoke("archive_compactor", {"task": "snapshot"})["snapshot"]["refreshed"]
    # after the snapshot: amy again (a change file of her own) and a new person
    fold(profiles, "amy", "e3", event="Order Completed", channel="web")
    fold(profiles, "cy", "e4", traits={"city": "Tainan"})
    records = _core_stream_records(stack)
    stack.invoke("archive_writer", {"Records": records[len(records) // 2 :]})
    files_before, _ = archive.fetch()
    expected = _tables(open_archive(files_before, NOW))
    assert {row[0] for row in expected[0]} == {"amy", "ben", "cy"}
    assert count_in_archive(archive, ["amy"]) > 0

    store = ArchiveErasure(archive, tmp_path)
    amy = Person("amy", ("amy",), ())
    removed, done = store.erase(amy, limit=100)
    assert done and removed > 0 and store.last_pass.snapshot_replaced
    assert store.last_pass.files_rewritten + store.last_pass.files_deleted >= 1
    assert store.remaining(amy) == 0
    assert _every_parquet_row_mentioning(stack, bucket, tmp_path, "amy") == 0

    # everyone else reads exactly as before, through the snapshot and through the change files
    without_amy = tuple([row for row in table if "amy" not in repr(row)] for table in expected)
    assert _tables(open_view(archive.fetch_view(), NOW)) == without_amy
    assert _tables(open_archive(archive.fetch()[0], NOW)) == without_amy
    # a second pass finds nothing and changes nothing; a later refresh keeps her out
    manifest = archive.read_manifest()
    assert store.erase(amy, limit=100) == (0, True) and archive.read_manifest() == manifest
    stack.invoke("archive_writer", {"Records": _core_stream_records(stack)})
    stack.invoke("archive_compactor", {"task": "snapshot"})
    # a replayed stream batch (it still held her changes) brings rows back: the verification
    # pass is what notices, and the workflow's next round removes them
    assert store.remaining(amy) > 0
    assert store.erase(amy, limit=100)[0] > 0 and store.remaining(amy) == 0
