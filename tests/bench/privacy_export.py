"""Person export benchmark (part of `make bench`): how long an export job takes and what it
reads, for a person with a handful of events (Amy of S1) and one with 10,000, on moto.

The person is seeded straight into the tables (profile, timeline entries, raw events), then
one job runs as the admin function runs it (cdp.privacy.export_jobs.PersonExports.run) with the
real adapters: DynamoDB on moto, the files in the moto imports bucket. Wall-clock includes moto's
own cost per call; the DynamoDB call counts are exact and are what a deployment pays for.
"""

from __future__ import annotations

import time
from typing import Any

from tests.bench.run import CallCounter, moto_stack

SIZES = (7, 10_000)
WRITE_BATCH = 25


def _seed(client: Any, core: str, raw: str, profile_id: str, events: int, now_ms: int) -> None:
    from cdp.adapters.dynamodb.profile_store import DOCUMENT, packed_document, profile_pk, profile_to_document
    from cdp.clock import iso_from_ms
    from cdp.profiles.model import Profile

    profile = Profile.new(profile_id, iso_from_ms(now_ms - events * 60_000))
    profile.identifiers["phone#+886912345678"] = {
        "type": "phone",
        "value": "+886912345678",
        "added_at": profile.created_at,
    }
    profile.event_count = events
    items: list[tuple[str, dict[str, Any]]] = [
        (
            core,
            {
                "pk": {"S": profile_pk(profile_id)},
                "sk": {"S": "PROFILE"},
                "version": {"N": "1"},
                DOCUMENT: packed_document(profile_to_document(profile)),
            },
        )
    ]
    for n in range(events):
        at = iso_from_ms(now_ms - (events - n) * 60_000)
        event_id = f"partner:pos:bench-{n:06d}"
        document = {
            "eventId": event_id,
            "messageId": f"bench-{n:06d}",
            "type": "track",
            "event": "Product Viewed" if n % 10 else "Order Completed",
            "channel": ("pos", "web", "line")[n % 3],
            "timestamp": at,
            "receivedAt": at,
            "origin": "partner",
            "source": "pos",
            "properties": {"sku": f"SKU-{n % 500}", "revenue": 1200},
            "context": {"consent": {"email:marketing": n % 2 == 0}} if n % 1000 == 0 else {},
            "identifiers": [{"type": "phone", "value": "+886912345678"}],
        }
        items.append(
            (
                core,
                {
                    "pk": {"S": profile_pk(profile_id)},
                    "sk": {"S": f"EVENT#{at}#{event_id}"},
                    DOCUMENT: packed_document(document),
                    "applied_at": {"S": at},
                },
            )
        )
        items.append(
            (
                raw,
                {
                    "pk": {"S": event_id},
                    "origin": {"S": "partner"},
                    "source": {"S": "pos"},
                    "received_at": {"S": at},
                    "payload": {"S": '{"type":"track","event":"Product Viewed","properties":{"sku":"SKU-1"}}'},
                    "expires_at": {"N": str(now_ms // 1000 + 86400)},
                },
            )
        )
    for start in range(0, len(items), WRITE_BATCH):
        requests: dict[str, list[dict[str, Any]]] = {}
        for table, item in items[start : start + WRITE_BATCH]:
            requests.setdefault(table, []).append({"PutRequest": {"Item": item}})
        client.batch_write_item(RequestItems=requests)


class _Started:
    def start_export(self, job_id: str) -> None:
        pass


def export_times() -> dict[str, Any]:
    import boto3
    from cdp.adapters.dynamodb.privacy_export import DynamoExportJobs, DynamoExportReads
    from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
    from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
    from cdp.adapters.s3 import S3ImportFiles
    from cdp.clock import SystemClock
    from cdp.privacy.export import ExportSources
    from cdp.privacy.export_jobs import PersonExports

    results: dict[str, Any] = {}
    with moto_stack() as (resources, _config):
        env = resources.function_env["admin_api"]
        core, raw, bucket = env["CDP_CORE_TABLE"], env["CDP_RAW_EVENTS_TABLE"], env["CDP_IMPORTS_BUCKET"]
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        now_ms = SystemClock().now_ms()
        for size in SIZES:
            profile_id = f"p_bench_{size}"
            _seed(dynamodb, core, raw, profile_id, size, now_ms)
            counter = CallCounter()
            reads = boto3.client("dynamodb")
            counter.attach(reads, "dynamodb")
            exports = PersonExports(
                jobs=DynamoExportJobs(reads, core),
                files=S3ImportFiles(s3, bucket),
                starter=_Started(),
                sources=ExportSources(
                    people=DynamoProfileStore(reads, core),
                    segments=DynamoSegmentStore(reads, core),
                    reads=DynamoExportReads(reads, core, raw),
                ),
                clock=SystemClock(),
            )
            job, _ = exports.start(profile_id)
            started = time.perf_counter()
            outcome = exports.run(job["job_id"])
            seconds = time.perf_counter() - started
            view = exports.view(profile_id, job["job_id"])
            results[f"events_{size}"] = {
                "outcome": outcome,
                "seconds": round(seconds, 3),
                "timeline_events": view["counts"]["timeline_events"],
                "raw_events": view["counts"]["raw_events"],
                "json_bytes": view["files"]["json"]["bytes"],
                "csv_bytes": view["files"]["csv"]["bytes"],
                "dynamodb_calls": dict(sorted(counter.calls.items())),
            }
    return results


def run_all() -> dict[str, Any]:
    return {"on_moto": export_times()}


def summary(results: dict[str, Any]) -> list[str]:
    return [
        f"person export, {name.removeprefix('events_')} events on moto: {r['seconds']} s, "
        f"{r['json_bytes'] / 1e6:.2f} MB JSON + {r['csv_bytes'] / 1e6:.2f} MB CSV, "
        f"{sum(r['dynamodb_calls'].values())} DynamoDB calls"
        for name, r in results["on_moto"].items()
    ]


if __name__ == "__main__":
    import json

    measured = run_all()
    print(json.dumps(measured, indent=2))
    print("\n".join(summary(measured)))
