"""The archive and its neighbours on moto: the core table's real stream records through the
archive_writer handler into S3 Parquet and back through DuckDB; segment history and sizes;
per-segment schedules; the newest-first timeline pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.s3_archive import S3Archive
from cdp.adapters.segment_schedules import SchedulerSegmentSchedules
from cdp.archive.duck import open_archive
from cdp.archive.snapshot import open_view
from cdp.segments.store import SizeSample
from cdp.settings import ENV_ARCHIVE_BUCKET, ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN, ENV_SEGMENT_SCHEDULE_GROUP

from tests.integration.conftest import Stack, lambda_record
from tests.integration.test_segments import fold

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _core_stream_records(stack: Stack) -> list[dict[str, Any]]:
    streams = stack.client("dynamodbstreams")
    core_id = next(m.table_logical_id for m in stack.resources.stream_mappings if m.function == "archive_writer")
    arn = stack.resources.stream_arns[core_id]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        response = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        records.extend(lambda_record(record, arn) for record in response["Records"])
    return records


@pytest.fixture
def profiles(stack: Stack) -> DynamoProfileStore:
    return DynamoProfileStore(stack.client("dynamodb"), stack.core_table)


def test_stream_batches_become_parquet_that_reads_back_as_the_live_profiles(
    stack: Stack, profiles: DynamoProfileStore, tmp_path: Path
) -> None:
    fold(profiles, "amy", "e1", traits={"city": "Taipei"})
    fold(profiles, "amy", "e2", event="Order Completed", channel="pos")
    fold(profiles, "ben", "e3", traits={"city": "Tainan"})
    records = _core_stream_records(stack)
    assert {r["dynamodb"]["Keys"]["sk"]["S"].split("#")[0] for r in records} >= {"PROFILE", "EVENT"}

    written = stack.invoke("archive_writer", {"Records": records})
    assert written["profiles"] == 3 and written["events"] == 3  # amy v1 and v2, ben v1; every entry
    bucket = stack.env("archive_writer", ENV_ARCHIVE_BUCKET)
    keys = sorted(o["Key"] for o in stack.client("s3").list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(written["keys"]) and len(keys) == 2
    assert stack.invoke("archive_writer", {"Records": records})["keys"] == written["keys"]  # a redelivery overwrites

    archive = S3Archive(stack.client("s3"), bucket, tmp_path)
    files, as_of = archive.fetch()
    assert as_of is not None and len(files.profiles) == len(files.events) == 1
    db = open_archive(files, NOW)
    assert db.execute(
        "SELECT profile_id, version, json_extract_string(traits, '$.city') FROM profiles ORDER BY 1"
    ).fetchall() == [
        ("amy", 2, "Taipei"),
        ("ben", 1, "Tainan"),
    ]
    assert db.execute("SELECT event_id, profile_id, name, channel FROM events ORDER BY 1").fetchall() == [
        ("e1", "amy", "Product Viewed", "web"),
        ("e2", "amy", "Order Completed", "pos"),
        ("e3", "ben", "Product Viewed", "web"),
    ]
    again, _ = archive.fetch()  # cached: nothing downloaded twice, and the same local files
    assert again == files


def _tables(db: Any) -> tuple[list[Any], list[Any]]:
    return (
        db.execute("SELECT * FROM profiles ORDER BY profile_id").fetchall(),
        db.execute("SELECT * FROM events ORDER BY event_id").fetchall(),
    )


def test_the_snapshot_refresh_folds_the_changes_in_and_readers_see_the_same_tables(
    stack: Stack, profiles: DynamoProfileStore, tmp_path: Path
) -> None:
    bucket = stack.env("archive_writer", ENV_ARCHIVE_BUCKET)
    archive = S3Archive(stack.client("s3"), bucket, tmp_path / "cache")
    before = archive.fetch_view()  # an empty archive: no snapshot, no changes
    assert before.snapshot is None and before.as_of is None and archive.query_bytes() == 0
    assert stack.invoke("archive_compactor", {"task": "snapshot"})["snapshot"]["refreshed"] is False

    fold(profiles, "amy", "e1", traits={"city": "Taipei"})
    fold(profiles, "ben", "e2", event="Order Completed", channel="pos")
    stack.invoke("archive_writer", {"Records": _core_stream_records(stack)})
    first = stack.invoke("archive_compactor", {"task": "snapshot"})["snapshot"]
    assert first["refreshed"] is True and first["rows"]["profiles"] == 2 and first["rows"]["events"] == 2
    manifest = archive.read_manifest()
    assert manifest is not None and manifest["snapshot_id"] == first["snapshot_id"] and manifest["as_of"]
    view = archive.fetch_view()
    assert view.snapshot is not None and view.changes.profiles == view.changes.events == ()
    assert archive.query_bytes() == 0  # nothing left for a query to rank itself
    files, as_of = archive.fetch()
    assert view.as_of == as_of
    assert _tables(open_view(view, NOW)) == _tables(open_archive(files, NOW))
    # nothing new: the refresh does nothing (a retry or an overlapping schedule is harmless)
    assert stack.invoke("archive_compactor", {"task": "snapshot"})["snapshot"] == {
        "refreshed": False,
        "snapshot_id": first["snapshot_id"],
        "as_of": first["as_of"],
    }

    # changes after the snapshot (a new person, amy's update) are read as changes since
    fold(profiles, "amy", "e3", event="Order Completed", channel="web")
    fold(profiles, "cy", "e4", traits={"city": "Tainan"})
    records = _core_stream_records(stack)
    stack.invoke("archive_writer", {"Records": records[len(records) // 2 :]})
    stack.invoke("archive_writer", {"Records": records})
    view = archive.fetch_view()
    assert view.changes.profiles and archive.query_bytes() > 0
    files, _ = archive.fetch()
    expected = _tables(open_archive(files, NOW))
    assert _tables(open_view(view, NOW)) == expected
    assert {row[0] for row in expected[0]} == {"amy", "ben", "cy"}
    second = stack.invoke("archive_compactor", {"task": "snapshot"})["snapshot"]
    assert second["refreshed"] is True and second["snapshot_id"] != first["snapshot_id"]
    view = archive.fetch_view()
    assert view.changes.profiles == view.changes.events == ()
    assert _tables(open_view(view, NOW)) == expected
    # a third refresh retires the first snapshot's folder; the previous one stays for readers on it
    fold(profiles, "dee", "e5")
    stack.invoke("archive_writer", {"Records": _core_stream_records(stack)})
    third = stack.invoke("archive_compactor", {"task": "snapshot"})["snapshot"]
    folders = {
        o["Key"].split("/")[2]
        for o in stack.client("s3").list_objects_v2(Bucket=bucket, Prefix="archive/snapshot/")["Contents"]
        if o["Key"].endswith(".parquet")
    }
    assert folders == {second["snapshot_id"], third["snapshot_id"]}


def test_history_per_segment_and_per_person_and_sizes(stack: Stack) -> None:
    segments = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)
    assert segments.enter("vip", "amy", at="2026-11-01T00:00:00.000Z", rule_version=1)
    assert segments.enter("vip", "ben", at="2026-11-02T00:00:00.000Z", rule_version=1)
    assert segments.exit("vip", "amy", at="2026-11-03T00:00:00.000Z", rule_version=2)
    assert segments.enter("lapsed", "amy", at="2026-11-04T00:00:00.000Z", rule_version=1)
    changes = [(c.profile_id, c.action, c.at[:10]) for c in segments.changes("vip", limit=10)]
    assert changes == [
        ("amy", "exited", "2026-11-03"),
        ("ben", "entered", "2026-11-02"),
        ("amy", "entered", "2026-11-01"),
    ]
    amy = [(c.segment_id, c.action) for c in segments.profile_changes("amy", limit=10)]
    assert amy == [("lapsed", "entered"), ("vip", "exited"), ("vip", "entered")]
    for day, members in (("01", 5), ("02", 7)):
        segments.record_size(SizeSample("vip", f"2026-11-{day}T01:00:00.000Z", members, 2, 0, 1))
    assert [s.members for s in segments.sizes("vip", limit=10)] == [7, 5]
    assert [s.members for s in segments.sizes("vip", limit=1)] == [7]


def test_one_schedule_per_segment_created_updated_and_deleted(stack: Stack) -> None:
    scheduler = stack.client("scheduler")
    group = stack.env("admin_api", ENV_SEGMENT_SCHEDULE_GROUP)
    target = stack.env("admin_api", ENV_SEGMENT_RECOMPUTE_FUNCTION_ARN)
    schedules = SchedulerSegmentSchedules(
        scheduler, group=group, target_arn=target, role_arn="arn:aws:iam::123456789012:role/r"
    )
    schedules.put("vip", 60)
    schedules.put("vip", 15)  # exists: updated in place
    found = scheduler.get_schedule(Name="vip", GroupName=group)
    assert found["ScheduleExpression"] == "rate(15 minutes)"
    assert found["Target"]["Arn"] == target and found["Target"]["Input"] == '{"segment_id": "vip"}'
    schedules.delete("vip")
    schedules.delete("vip")  # already gone: fine
    assert scheduler.list_schedules(GroupName=group)["Schedules"] == []
    # The daily jobs live in a group of their own, out of the segments' name space, and stay
    jobs = sorted(
        (s["GroupName"], s["Name"])
        for s in scheduler.list_schedules()["Schedules"]
        if not s["GroupName"].endswith("-journeys")  # the journeys' own daily sweep
    )
    assert [name for _, name in jobs] == ["archive-compaction", "archive-snapshot", "retention-daily", "rfm-daily"]
    assert {job_group for job_group, _ in jobs} != {group}


def test_the_timeline_pages_newest_first(stack: Stack, profiles: DynamoProfileStore) -> None:
    for n in range(5):
        fold(profiles, "amy", f"e{n}")
    first, cursor = profiles.timeline_before("amy", limit=2)
    assert len(first) == 2 and cursor is not None
    second, cursor = profiles.timeline_before("amy", limit=2, before=cursor)
    third, end = profiles.timeline_before("amy", limit=2, before=cursor)
    ids = [e["eventId"] for e in first + second + third]
    assert sorted(ids) == [f"e{n}" for n in range(5)] and len(set(ids)) == 5 and end is None


def test_a_record_the_archive_cannot_encode_is_quarantined_and_its_batch_lands(
    stack: Stack, profiles: DynamoProfileStore, tmp_path: Path
) -> None:
    # Given a profile whose traits hold an integer past 64 bits (stored before the edge refused them)
    fold(profiles, "amy", "e1", traits={"city": "Taipei", "points": 2**64})
    fold(profiles, "ben", "e2", traits={"city": "Tainan"})
    records = _core_stream_records(stack)

    # When the stream batch reaches the writer
    written = stack.invoke("archive_writer", {"Records": records})

    # Then only amy's profile change is set aside, with its reason; everyone else lands
    assert written["quarantined"] == {"profiles": 1}
    bucket = stack.env("archive_writer", ENV_ARCHIVE_BUCKET)
    s3 = stack.client("s3")
    (quarantine_key,) = [key for key in written["keys"] if key.startswith("archive/quarantine/profiles/")]
    (line,) = s3.get_object(Bucket=bucket, Key=quarantine_key)["Body"].read().splitlines()
    assert b"64-bit" in line and b'"profile_id": "amy"' in line and b"18446744073709551616" in line
    archive = S3Archive(s3, bucket, tmp_path)
    files, _ = archive.fetch()
    db = open_archive(files, NOW)
    assert db.execute("SELECT profile_id FROM profiles ORDER BY 1").fetchall() == [("ben",)]
    assert db.execute("SELECT event_id FROM events ORDER BY 1").fetchall() == [("e1",), ("e2",)]
    # a redelivery writes the same files, the quarantine included
    assert stack.invoke("archive_writer", {"Records": records})["keys"] == written["keys"]
