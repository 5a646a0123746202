"""`make bench`: cold-start imports, DynamoDB calls per event, in-process throughput, and what one
event costs on AWS (tests/bench/cost.py: capacity units per path, US$ per 1,000,000 events).

Throughput runs the real handlers against moto in-process, so the numbers include moto's own
cost per call (a real DynamoDB round trip is ~5-10 ms instead); the calls-per-event counts are
exact and are what a deployment pays for. Results: tests/bench/results/bench-<time>.json.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
IMPORT_RUNS = 7
DELIVERY_EVENTS = 100
ROUNDS = 10
MOTO_PROCESSOR_SAMPLE = 300
DOMAIN_EVENTS = 5000

os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
for key, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_REGION": "ap-northeast-1",
    "AWS_DEFAULT_REGION": "ap-northeast-1",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_TRACE_DISABLED": "true",
}.items():
    os.environ[key] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

IMPORT_PROBE = """
import importlib.util, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print((time.perf_counter() - start) * 1000)
"""


def import_times() -> dict[str, dict[str, float]]:
    """Module import time of each handler in a fresh interpreter (the cold-start share we control)."""
    results = {}
    for name in (
        "line_webhook",
        "ingest",
        "event_processor",
        "admin_api",
        "admin_query",
        "link_redirect",
        "message_sender",
        "journey_step",
        "journey_events",
        "journey_starter",
    ):
        path = ROOT / "functions" / name / "handler.py"
        samples = []
        for _ in range(IMPORT_RUNS):
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE, str(path)], capture_output=True, text=True, check=True, cwd=ROOT
            )
            samples.append(float(out.stdout.strip().splitlines()[-1]))
        results[name] = {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}
    return results


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, client: Any, service: str) -> None:
        client.meta.events.register(
            f"before-call.{client.meta.service_model.service_name}.*",
            lambda model, **_: self.calls.update([f"{service}.{model.name}"]),
        )

    def total(self, prefix: str) -> int:
        return sum(count for name, count in self.calls.items() if name.startswith(prefix))


def line_delivery(secret: str, count: int) -> tuple[bytes, str]:
    now = int(time.time() * 1000)
    events = [
        {
            "type": "message",
            "mode": "active",
            "timestamp": now + i,
            "source": {"type": "user", "userId": "U" + hashlib.md5(str(i % 40).encode()).hexdigest()},
            "webhookEventId": f"01BENCH{uuid.uuid4().hex[:19].upper()}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": uuid.uuid4().hex,
            "message": {"type": "text", "id": str(10**12 + i), "text": "請問有新品嗎？"},
        }
        for i in range(count)
    ]
    body = json.dumps({"destination": "U" + "0" * 32, "events": events}, ensure_ascii=False).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return body, signature


def segment_batch(count: int) -> bytes:
    batch = []
    for i in range(count):
        member = f"M{i % 50}"
        if i % 4 == 0:
            batch.append({"type": "identify", "userId": member, "traits": {"email": f"{member.lower()}@example.com"}})
        else:
            batch.append(
                {"type": "track", "userId": member, "event": "Product Viewed", "properties": {"sku": f"SKU-{i}"}}
            )
        batch[-1]["messageId"] = str(uuid.uuid4())
    return json.dumps({"batch": batch}).encode()


def api_event(
    path: str, body: bytes, headers: dict[str, str], path_parameters: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "pathParameters": path_parameters,
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "bench"},
    }


@contextlib.contextmanager
def moto_stack() -> Iterator[tuple[Any, Any]]:
    """The synthesized template provisioned on in-process moto, every function's environment set:
    (resources, local config). The cdp clients are fresh inside."""
    import boto3
    from cdp.adapters import aws
    from moto import mock_aws

    from infra.local.config import LocalConfig
    from infra.local.provision import load_or_synthesize, provision

    template = load_or_synthesize(ROOT / ".local")
    config = LocalConfig.from_env()
    with mock_aws():
        aws.client.cache_clear()
        resources = provision(template, lambda service: boto3.client(service), config)
        for env in resources.function_env.values():
            os.environ.update(env)
        try:
            yield resources, config
        finally:
            aws.client.cache_clear()


def run_handlers() -> dict[str, Any]:
    from cdp.adapters import aws

    from infra.local.lambda_runtime import LambdaContext, LambdaRuntime

    results: dict[str, Any] = {}
    with moto_stack() as (resources, config):
        runtime = LambdaRuntime()
        counter = CallCounter()
        counter.attach(aws.client("dynamodb"), "dynamodb")
        counter.attach(aws.client("events"), "events")
        counter.attach(aws.client("secretsmanager"), "secretsmanager")
        context = LambdaContext(function_name="bench")

        webhook = runtime.module("line_webhook")
        webhook.lambda_handler(api_event("/line/webhook/default", *_signed_warmup(config)), context)  # warm
        counter.calls.clear()
        elapsed = []
        for _ in range(ROUNDS):
            body, signature = line_delivery(config.line_channel_secret, DELIVERY_EVENTS)
            event = api_event("/line/webhook/{channel}", body, {"x-line-signature": signature}, {"channel": "default"})
            start = time.perf_counter()
            response = webhook.lambda_handler(event, context)
            elapsed.append(time.perf_counter() - start)
            assert response["statusCode"] == 200, response
        webhook_events = ROUNDS * DELIVERY_EVENTS
        results["line_webhook"] = {
            "delivery_events": DELIVERY_EVENTS,
            "deliveries_per_s": round(ROUNDS / sum(elapsed), 1),
            "events_per_s": round(webhook_events / sum(elapsed), 1),
            "median_delivery_ms": round(statistics.median(elapsed) * 1000, 1),
            "dynamodb_calls_per_event": round(counter.total("dynamodb") / webhook_events, 3),
        }

        ingest = runtime.module("ingest")
        auth = "Basic " + base64.b64encode(f"{config.write_key}:".encode()).decode()
        counter.calls.clear()
        elapsed = []
        for _ in range(ROUNDS):
            event = api_event("/v1/batch", segment_batch(DELIVERY_EVENTS), {"Authorization": auth})
            start = time.perf_counter()
            response = ingest.lambda_handler(event, context)
            elapsed.append(time.perf_counter() - start)
            assert response["statusCode"] == 200, response
        results["ingest"] = {
            "batch_events": DELIVERY_EVENTS,
            "events_per_s": round(ROUNDS * DELIVERY_EVENTS / sum(elapsed), 1),
            "median_batch_ms": round(statistics.median(elapsed) * 1000, 1),
            "dynamodb_calls_per_event": round(counter.total("dynamodb") / (ROUNDS * DELIVERY_EVENTS), 3),
        }

        results["event_processor"] = _processor(runtime, counter, resources, context)
    return results


def _signed_warmup(config: Any) -> tuple[bytes, dict[str, str]]:
    body = b'{"destination":"U00000000000000000000000000000000","events":[]}'
    signature = base64.b64encode(hmac.new(config.line_channel_secret.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"x-line-signature": signature}


def read_stream(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record of a stream, from the horizon (the bench's tables are fresh)."""
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return records


def _processor(runtime: Any, counter: CallCounter, resources: Any, context: Any) -> dict[str, Any]:
    """Drain the raw stream filled above through the processor in Lambda-sized batches."""
    from cdp.adapters import aws

    streams = aws.client("dynamodbstreams")
    stream_arn = next(iter(resources.stream_arns.values()))
    records = read_stream(streams, stream_arn)
    for record in records:
        record["dynamodb"].pop("ApproximateCreationDateTime", None)
        record["eventSource"] = "aws:dynamodb"
        record["eventSourceARN"] = stream_arn
    # moto snapshots the whole table for every transaction (O(table) per call), so its rate says
    # nothing about DynamoDB: count calls on a bounded sample here, measure the rate on fakes below.
    records = records[:MOTO_PROCESSOR_SAMPLE]
    processor = runtime.module("event_processor")
    counter.calls.clear()
    start = time.perf_counter()
    failures = 0
    for index in range(0, len(records), 100):
        response = processor.lambda_handler({"Records": records[index : index + 100]}, context)
        failures += len(response.get("batchItemFailures", []))
    elapsed = time.perf_counter() - start
    count = len(records)
    replay_start = time.perf_counter()
    counter_before = counter.total("dynamodb")
    processor.lambda_handler({"Records": records[:100]}, context)  # a replayed batch changes nothing
    return {
        "moto_sample_events": count,
        "failures": failures,
        "moto_events_per_s": round(count / elapsed, 1),
        "dynamodb_calls_per_event": round(counter_before / count, 2),
        "eventbridge_calls_per_event": round(counter.total("events") / count, 2),
        "replayed_batch_dynamodb_calls_per_event": round((counter.total("dynamodb") - counter_before) / 100, 2),
        "replayed_batch_ms": round((time.perf_counter() - replay_start) * 1000, 1),
        "calls_by_operation": dict(counter.calls),
    }


def processor_domain_throughput() -> dict[str, Any]:
    """The processor's own cost per event (normalise, resolve, fold, build events) on in-memory ports."""
    from cdp.events.canonical import EventNormalizer
    from cdp.events.raw import RawEvent
    from cdp.identity.identifiers import IdentifierNormalizer
    from cdp.profiles.processor import EventProcessor

    from tests.fakes import FakeProfileStore, FakePublisher, FixedClock

    processor = EventProcessor(
        EventNormalizer(IdentifierNormalizer("TW")), FakeProfileStore(), FakePublisher(), FixedClock()
    )
    raws = []
    for i in range(DOMAIN_EVENTS):
        member = f"M{i % 1000}"
        payload: dict[str, Any] = {
            "type": "identify" if i % 5 == 0 else "track",
            "userId": member,
            "messageId": f"bench-{i}",
            "timestamp": "2026-11-23T10:00:00.000Z",
            "context": {"channel": "pos" if i % 3 == 0 else "web"},
        }
        if payload["type"] == "identify":
            payload["traits"] = {"email": f"{member.lower()}@example.com", "phone": f"09{12000000 + i % 1000:08d}"}
        else:
            payload["event"] = "Order Completed"
            payload["properties"] = {"revenue": 1200, "currency": "TWD"}
        raws.append(RawEvent(f"partner#bench#bench-{i}", "partner", "bench", "2026-11-23T10:00:01.000Z", payload))
    start = time.perf_counter()
    for raw in raws:
        processor.process(raw)
    elapsed = time.perf_counter() - start
    return {"events": DOMAIN_EVENTS, "events_per_s": round(DOMAIN_EVENTS / elapsed, 1)}


def member_csv(rows: int) -> bytes:
    """A realistic member export: Chinese headers and names, local phone formats, consents."""
    lines = ["會員編號,手機,Email,姓名,生日,門市,consent_line,consent_email,consent_sms"]
    for i in range(rows):
        lines.append(
            f"M{i:07d},09{12000000 + i:08d},member{i}@example.com,王小明{i % 100},"
            f"19{60 + i % 40}/{1 + i % 12}/{1 + i % 28},台北信義店,{'是' if i % 2 else '否'},yes,"
        )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def member_import_throughput() -> dict[str, Any]:
    """CSV import cost per row without I/O: the scan, parse + validate + event, and the worker on fakes."""
    from datetime import date

    from cdp.identity.identifiers import IdentifierNormalizer
    from cdp.imports.members import MAX_ROWS, RowValidator, member_event, scan_file
    from cdp.imports.records import read_records
    from cdp.imports.uploads import ImportUploads
    from cdp.imports.worker import MemberImportWorker

    from tests.fakes import FixedClock
    from tests.fakes_imports import FakeImportFiles, FakeImportStore, FakeRawEventWriter, FakeStarter

    data = member_csv(MAX_ROWS)
    chunks = [data[i : i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]  # the worker's ranged reads
    normalizer = IdentifierNormalizer("TW")
    start = time.perf_counter()
    scan = scan_file(chunks, normalizer)
    scan_s = time.perf_counter() - start
    validator = RowValidator(scan.header, normalizer, date(2026, 11, 23), scan.duplicates)
    start = time.perf_counter()
    accepted = 0
    for record in read_records([data[scan.data_offset :]], start_offset=scan.data_offset, start_number=2):
        result = validator.validate(record)
        if not hasattr(result, "reasons"):
            member_event(result, import_id="imp_bench", created_at="2026-11-23T03:00:00.000Z")  # type: ignore[arg-type]
            accepted += 1
    validate_s = time.perf_counter() - start
    store, files, events = FakeImportStore(), FakeImportFiles(chunk_bytes=1024 * 1024), FakeRawEventWriter()
    uploads = ImportUploads(store, files, FakeStarter(), FixedClock())
    start = time.perf_counter()
    record = uploads.create_from_body(data)
    upload_s = time.perf_counter() - start
    worker = MemberImportWorker(store=store, files=files, events=events, normalizer=normalizer, clock=FixedClock())
    start = time.perf_counter()
    outcome = worker.run(record.import_id, remaining_ms=lambda: 600_000, continue_import=lambda _: None)
    worker_s = time.perf_counter() - start
    assert outcome.status == "completed" and len(events.events) == accepted == MAX_ROWS, outcome
    return {
        "rows": MAX_ROWS,
        "file_mib": round(len(data) / 2**20, 1),
        "scan_rows_per_s": round(MAX_ROWS / scan_s),
        "parse_validate_event_rows_per_s": round(MAX_ROWS / validate_s),
        "admin_upload_check_s": round(upload_s, 2),
        "worker_in_memory_rows_per_s": round(MAX_ROWS / worker_s),
        "worker_in_memory_s": round(worker_s, 1),
    }


def main() -> None:
    from tests.bench import (
        analytics,
        campaigns,
        cost,
        erase,
        identity,
        journey_starts,
        journeys,
        messaging,
        privacy_export,
        segments_batch,
        snapshot,
        soak,
        templates,
    )

    started = datetime.now(tz=UTC)
    results = {
        "started_at": started.isoformat(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "handler_import_ms": import_times(),
        **run_handlers(),
        "event_processor_domain_in_memory": processor_domain_throughput(),
        "member_import_in_memory": member_import_throughput(),
        "identity": identity.run_all(),
        "segments": segments_batch.run_all(),
        "analytics": analytics.run(),
        # the query-ready archive: open_archive vs the snapshot on the same 1M / 20M archive
        "archive_snapshot": snapshot.run_all(),
        # erasing one person: on the local stack, and the archive pass at 1M profiles
        "erase": erase.run_all(),
        "templates": templates.run_all(),
        "messaging": messaging.run_all(),
        "campaigns": campaigns.run_all(),
        "journey_starts": journey_starts.run_all(),
        "privacy_export": privacy_export.run_all(),
        "cost": cost.run(),
        # Journeys on the local stack in process (compiled state machines on moto, virtual clock).
        "journeys": journeys.run(),
        # The whole local stack over HTTP (its own process): memory and rate stay flat.
        "local_stack_soak": soak.run(int(os.environ.get("CDP_BENCH_SOAK_EVENTS", "5000"))),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    webhook_import = results["handler_import_ms"]["line_webhook"]["median_ms"]
    print(f"webhook module import: {webhook_import} ms (budget 300 ms) -> {'OK' if webhook_import < 300 else 'OVER'}")
    print("\n".join(identity.summary(results["identity"])))
    print("\n".join(segments_batch.summary(results["segments"])))
    print("\n".join(analytics.summary(results["analytics"])))
    print("\n".join(snapshot.summary(results["archive_snapshot"])))
    print("\n".join(erase.summary(results["erase"])))
    print("\n".join(templates.summary(results["templates"])))
    print("\n".join(messaging.summary(results["messaging"])))
    print("\n".join(campaigns.summary(results["campaigns"])))
    print("\n".join(journey_starts.summary(results["journey_starts"])))
    print("\n".join(privacy_export.summary(results["privacy_export"])))
    print("\n".join(cost.summary(results["cost"])))
    print("\n".join(journeys.summary(results["journeys"])))
    print("\n".join(soak.summary(results["local_stack_soak"])))


if __name__ == "__main__":
    main()
