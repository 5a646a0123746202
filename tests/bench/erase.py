"""Erase benchmark: what erasing one person costs.

1. `person` (the local stack, in-process moto): a person with CDP_BENCH_ERASE_EVENTS [10,000]
   events (store orders, product views) beside 200 other people: raw events in the raw table, her
   first event and the others' folded by the real processor, her other timeline entries written
   by the profile store's own timeline write (moto folds ~3 events a second); archived by the real archive writer from the core table's stream (batches of 1,000, as the
   stream mapping), with a snapshot refreshed; then `POST /admin/v1/profiles/{id}/erase` through
   the admin API and the Step Functions workflow (moto executes it; the steps are the real
   privacy_erase handler) until the record says `erased`. Reports the wall time of the erase, the
   record (items removed per store, the verification) and the archive files rewritten.
2. `archive_1m` (the cached bench archive, tests/bench/segments_batch.py: 1,000,000 profiles,
   20,000,000 events): the archive pass for the person with the most events, the generated files
   laid out as a snapshot (profiles / profile_rest / events / event_rest) in a folder bucket.
   Reports the files read and rewritten, the rows removed, the bytes rewritten, time and peak RSS.
   Heavy: run it under `flock /work/wt/heavy.lock` (it reads ~460 MB of Parquet).

    .venv/bin/python -m tests.bench.erase [person|archive_1m|all]   (also part of `make bench`)

Results: tests/bench/results/erase-<time>.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.run import RESULTS, ROOT, moto_stack
from tests.bench.segments_batch import _env_int, generate_archive, load_average, peak_rss_mib

ADMIN_TOKEN = "bench-admin-token"
STREAM_BATCH = 1000


def _stream_records(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every record of the stream, as Lambda delivers them."""
    from tests.integration.conftest import lambda_record

    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        cursor = iterator["ShardIterator"]
        while cursor:
            response = streams.get_records(ShardIterator=cursor, Limit=1000)
            records.extend(lambda_record(record, arn) for record in response["Records"])
            if not response["Records"]:
                break
            cursor = response.get("NextShardIterator")
    return records


def person_benchmark(events: int) -> dict[str, Any]:
    import boto3
    from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
    from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
    from cdp.identity.identifiers import Identifier
    from cdp.identity.rules import DEFAULT_RULES
    from cdp.profiles.processor import EventProcessor

    from infra.local.lambda_runtime import LambdaRuntime
    from infra.local.lambda_service import LocalLambdaService, install
    from tests.fakes import FakePublisher, FixedClock
    from tests.integration.conftest import api_event, response_json
    from tests.unit.identity_helpers import normalizer_for, person_event

    os.environ["CDP_ADMIN_TOKEN"] = ADMIN_TOKEN
    runtime = LambdaRuntime()
    service = LocalLambdaService(runtime, {})
    undo = install(service)  # before the machines exist: moto keeps executable machines apart
    try:
        with moto_stack() as (resources, _config):
            service.register(resources.function_arns)
            env = resources.function_env
            dynamodb = boto3.client("dynamodb")
            core, raw_table = env["event_processor"]["CDP_CORE_TABLE"], env["line_webhook"]["CDP_RAW_EVENTS_TABLE"]
            store = DynamoProfileStore(dynamodb, core)
            raw = DynamoRawEventStore(dynamodb, raw_table, ttl_seconds=86400)
            processor = EventProcessor(normalizer_for, store, FakePublisher(), FixedClock())
            started = time.perf_counter()
            batch = []
            for i in range(events):
                minute, second = divmod(i % 3600, 60)
                day = 1 + (i // 3600) % 28
                name = "Order Completed" if i % 10 == 0 else "Product Viewed"
                batch.append(
                    person_event(
                        f"amy-{i}",
                        phones=["0912345678"],
                        member="M-AMY",
                        event=name,
                        properties={"total": 10, "sku": f"S{i % 50}"},
                        timestamp=f"2026-11-{day:02d}T09:{minute:02d}:{second:02d}.000Z",
                    )
                )
            for n in range(200):  # other people beside her
                batch.append(person_event(f"other-{n}", member=f"M-{n}", event="Product Viewed"))
            raw.put_all(batch)
            # The first of her events and everyone else's through the processor; the rest of hers
            # as timeline entries written by the store itself (what a fold writes per event, without
            # its reads and transaction: moto takes ~0.3 s per fold, 50 minutes for 10,000).
            for event in [batch[0], *batch[events:]]:
                processor.process(event)
            amy_profile = store.get(str(store.owner(Identifier("phone", "+886912345678"))))
            assert amy_profile is not None
            normalizer = normalizer_for(DEFAULT_RULES)
            for event in batch[1:events]:
                store.record_timeline(
                    event=normalizer.normalize(event), profile=amy_profile, attached=[], applied_at=event.received_at
                )
            loaded_s = time.perf_counter() - started
            amy = store.owner(Identifier("phone", "+886912345678"))
            assert amy is not None
            # the archive, as the stream mapping feeds it; then the hourly snapshot
            streams = boto3.client("dynamodbstreams")
            core_logical = next(m.table_logical_id for m in resources.stream_mappings if m.function == "archive_writer")
            records = _stream_records(streams, resources.stream_arns[core_logical])
            for start in range(0, len(records), STREAM_BATCH):
                runtime.invoke("archive_writer", {"Records": records[start : start + STREAM_BATCH]})
            runtime.invoke("archive_compactor", {"task": "snapshot"})
            archived_s = time.perf_counter() - started - loaded_s

            bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            path = f"/admin/v1/profiles/{amy}/erase"

            def call(method: str) -> tuple[int, Any]:
                event = api_event(method, path, resource="/admin/v1/profiles/{id}/erase", headers=bearer,
                                  path_parameters={"id": amy})  # fmt: skip
                answer = runtime.invoke("admin_api", event)
                return answer["statusCode"], response_json(answer)

            erase_started = time.perf_counter()
            status, record = call("POST")
            assert status == 202, record
            while record["status"] == "running" and time.perf_counter() - erase_started < 1800:
                time.sleep(0.5)
                record = call("GET")[1]
            erase_s = time.perf_counter() - erase_started
    finally:
        undo()
    return {
        "events_of_the_person": events,
        "other_people": 200,
        "load_s": round(loaded_s, 1),
        "archive_s": round(archived_s, 1),
        "stream_records_archived": len(records),
        "erase_s": round(erase_s, 1),
        "note": "moto in-process: each DynamoDB call costs moto's own time; Step Functions waits 1 s to settle",
        "record": record,
    }


class FolderBucket:
    """cdp.privacy.erase_archive.ArchiveBucket over a local folder (no S3 in the 1M measurement)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written_bytes = 0
        self.manifest: dict[str, Any] | None = None

    def keys(self, kind: str) -> list[tuple[str, Any, str]]:
        found = sorted(p.relative_to(self.root).as_posix() for p in (self.root / "archive" / kind).rglob("*.parquet"))
        return [(key, None, str((self.root / key).stat().st_mtime_ns)) for key in found]

    def local(self, key: str, etag: str) -> Path:
        return self.root / key

    def replace(self, key: str, path: Path) -> str:
        self.written_bytes += path.stat().st_size
        (self.root / key).unlink()
        shutil.copy(path, self.root / key)
        return str((self.root / key).stat().st_mtime_ns)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)

    def read_manifest(self) -> dict[str, Any] | None:
        return self.manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest

    def put_snapshot_part(self, snapshot_id: str, part: str, path: Path) -> str:
        key = f"archive/snapshot/{snapshot_id}/{part}.parquet"
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, self.root / key)
        self.written_bytes += path.stat().st_size
        return key

    def delete_snapshot(self, snapshot_id: str) -> None:
        shutil.rmtree(self.root / "archive" / "snapshot" / snapshot_id, ignore_errors=True)


def archive_1m_benchmark(profiles: int, events: int) -> dict[str, Any]:
    import duckdb
    from cdp.privacy.erase_archive import count_in_archive, erase_from_archive

    archive = generate_archive(profiles, events)
    main_events, replayed = archive.files.events
    main_profiles, older = archive.files.profiles
    db = duckdb.connect()
    person, person_events = db.execute(
        f"SELECT profile_id, count(*) FROM read_parquet('{main_events}') GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    db.close()
    with tempfile.TemporaryDirectory(dir=ROOT / "tests" / "bench" / "results") as folder:
        root = Path(folder)
        bucket = FolderBucket(root)
        snapshot = root / "archive" / "snapshot" / "bench"
        snapshot.mkdir(parents=True)
        parts = {"profiles": main_profiles, "profile_rest": older, "events": main_events, "event_rest": replayed}
        files = {}
        for part, source in parts.items():
            (snapshot / f"{part}.parquet").symlink_to(source)  # read only: the erase writes new parts
            files[part] = f"archive/snapshot/bench/{part}.parquet"
        bucket.manifest = {"snapshot_id": "bench", "previous_id": None, "files": files, "changes": {}, "rows": {}}
        read_bytes = sum(Path(p).stat().st_size for p in parts.values())
        started = time.perf_counter()
        done = erase_from_archive(bucket, [str(person)], root)
        erase_s = time.perf_counter() - started
        started = time.perf_counter()
        left = count_in_archive(bucket, [str(person)])
        verify_s = time.perf_counter() - started
    return {
        "profiles": profiles,
        "events": events,
        "person_events": int(person_events),
        "files_read": done.files_scanned + len(parts),
        "snapshot_parts_rewritten": len(parts) if done.snapshot_replaced else 0,
        "change_files_rewritten": done.files_rewritten,
        "rows_removed": done.rows,
        "bytes_read_mib": round(read_bytes / 2**20, 1),
        "bytes_written_mib": round(bucket.written_bytes / 2**20, 1),
        "erase_s": round(erase_s, 1),
        "verify_s": round(verify_s, 1),
        "left_after": left,
        "peak_rss_mib": round(peak_rss_mib(), 0),
        "note": "one snapshot, no change files: a compacted archive also rewrites each day file holding the person",
    }


def _child(part: str) -> dict[str, Any]:
    """One part in a fresh process: its peak RSS is its own (make bench runs several in one)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.erase", "--child", part],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_all(log: Callable[[str], None] = print) -> dict[str, Any]:
    """`make bench`'s part: both measurements, each in its own process."""
    log("[erase] a person with many events on the local stack ...")
    results: dict[str, Any] = {"person": _child("person")}
    log("[erase] the archive pass over the bench archive ...")
    results["archive_1m"] = _child("archive_1m")
    return results


def summary(results: dict[str, Any]) -> list[str]:
    person, archive = results["person"], results["archive_1m"]
    removed = person["record"]["removed"]
    return [
        f"erase of a person with {person['events_of_the_person']:,} events on the local stack: "
        f"{person['erase_s']} s ({person['record']['status']}, {person['record']['rounds']} round(s)); removed {removed}",
        f"erase's archive pass at {archive['profiles']:,} profiles / {archive['events']:,} events: "
        f"{archive['files_read']} files read, {archive['snapshot_parts_rewritten'] + archive['change_files_rewritten']} "
        f"rewritten ({archive['bytes_written_mib']} MiB), {archive['erase_s']} s, peak {archive['peak_rss_mib']} MiB",
    ]


def _run(part: str) -> dict[str, Any]:
    if part == "person":
        return person_benchmark(_env_int("CDP_BENCH_ERASE_EVENTS", 10_000))
    return archive_1m_benchmark(_env_int("CDP_BENCH_PROFILES", 1_000_000), _env_int("CDP_BENCH_EVENTS", 20_000_000))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(_run(sys.argv[2])))
        return
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    started = datetime.now(UTC)
    results: dict[str, Any] = {"started_at": started.isoformat(), "load_average": load_average()}
    for part in ("person", "archive_1m"):
        if which in (part, "all"):
            results[part] = _run(part)
            print(json.dumps(results[part], indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"erase-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
