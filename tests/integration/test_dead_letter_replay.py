"""The processor's dead letters on moto: on-failure message -> dlq_archiver -> keys kept -> replay.

Raw events enter through the real ingest handler; the processor fails them (an injected fault);
the on-failure message holds only the stream coordinates, as Lambda sends it; dlq_archiver turns
it into dead letters; `python -m cdp_ops.replay` re-submits them to the event processor through
Lambda's Invoke API (routed by the local Lambda service to the real handler) without reading the
stream again, which in AWS is gone after 24 hours.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cdp.adapters.dead_letters import PROCESSOR_PK, DynamoDeadLetterStore
from cdp.profiles.processor import EventProcessor

from cdp_ops import replay as replay_cli
from infra.local.lambda_service import LocalLambdaService, install
from tests.integration.conftest import WRITE_KEY, RawStream, Stack, api_event

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}


def ingest(stack: Stack, batch: list[dict[str, Any]]) -> None:
    body = json.dumps({"batch": batch}).encode()
    response = stack.invoke("ingest", api_event("POST", "/v1/batch", body=body, headers=AUTH))
    assert response["statusCode"] == 200 and json.loads(response["body"])["success"], response


def orders(count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "track",
            "messageId": f"dl-order-{index}",
            "userId": "M-DL-1",
            "event": "Order Completed",
            "timestamp": f"2026-03-0{index + 1}T10:00:00.000Z",
            "properties": {"order_id": f"DL-{index}", "revenue": 100 * (index + 1), "currency": "TWD"},
        }
        for index in range(count)
    ]


def on_failure_message(stack: Stack, records: list[dict[str, Any]], shard_id: str) -> str:
    """What a DynamoDB stream event source mapping sends to its SQS on-failure destination."""
    return json.dumps(
        {
            "requestContext": {
                "requestId": "5c3c2d7a-0000-4000-8000-000000000001",
                "functionArn": "arn:aws:lambda:ap-northeast-1:123456789012:function:event_processor",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": 11,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": "2026-03-05T10:00:00.000Z",
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": "2026-03-05T09:59:00Z",
                "approximateArrivalOfLastRecord": "2026-03-05T09:59:01Z",
                "batchSize": len(records),
                "streamArn": stack.raw_stream_arn,
            },
        }
    )


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "ap-northeast-1",
            }
            for m in messages
        ]
    }


class NoStreams:
    """A boto3 session for the replay: the stream is gone by then, so reading it is a failure."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        assert service != "dynamodbstreams", "replay must not need the stream"
        return self._stack.client(service)


@pytest.fixture
def lambda_service(stack: Stack) -> Iterator[LocalLambdaService]:
    """Lambda's Invoke API on moto, routed to the handlers (as on the local stack)."""
    service = LocalLambdaService(stack.runtime, stack.resources.function_arns)
    undo = install(service)
    yield service
    undo()


def processor_name(stack: Stack) -> str:
    arn = next(arn for arn, folder in stack.resources.function_arns.items() if folder == "event_processor")
    return arn.split(":function:")[-1]


def first_shard(stack: Stack) -> str:
    description = stack.client("dynamodbstreams").describe_stream(StreamArn=stack.raw_stream_arn)
    return str(description["StreamDescription"]["Shards"][0]["ShardId"])


def applied(stack: Stack) -> set[str]:
    return {
        item["pk"]["S"].removeprefix("APPLIED#")
        for item in stack.scan(stack.core_table)
        if item["pk"]["S"].startswith("APPLIED#")
    }


def run_cli(stack: Stack, *args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    names = ["--core-table", stack.core_table, "--raw-events-table", stack.raw_table]
    if args[0] == "replay":
        names += ["--processor-function", processor_name(stack)]
    code = replay_cli.main([*args, *names], session=NoStreams(stack), out=out)
    return code, json.loads(out.getvalue())


def test_failed_batch_is_kept_as_keys_and_replayed_through_the_processor(
    stack: Stack, raw_stream: RawStream, lambda_service: LocalLambdaService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three orders accepted at the edge that the processor fails on every try
    ingest(stack, orders(3))
    records = raw_stream.new_records()
    assert len(records) == 3
    with monkeypatch.context() as fault:
        fault.setattr(EventProcessor, "process", lambda self, raw: (_ for _ in ()).throw(RuntimeError("injected")))
        with pytest.raises(Exception, match="All records failed"):
            stack.invoke("event_processor", {"Records": records})
    assert applied(stack) == set()

    # When the mapping gives up: its on-failure message (coordinates only) reaches dlq_archiver
    shard_id = first_shard(stack)
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.on_failure_queue_url, MessageBody=on_failure_message(stack, records, shard_id))
    messages = sqs.receive_message(QueueUrl=stack.on_failure_queue_url, MaxNumberOfMessages=10)["Messages"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=stack.on_failure_queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    answer = stack.invoke("dlq_archiver", sqs_event(messages, queue_arn))
    assert answer == {"batchItemFailures": []}

    # Then the three raw-event keys are kept in the core table with the raw items' TTL
    raw_items = stack.raw_items()
    letters = {item["sk"]["S"]: item for item in stack.scan(stack.core_table) if item["pk"]["S"] == PROCESSOR_PK}
    assert set(letters) == set(raw_items)
    for event_id, item in letters.items():
        assert item["expires_at"] == raw_items[event_id]["expires_at"]
        assert item["condition"]["S"] == "RetryAttemptsExhausted"
    code, listed = run_cli(stack, "list")
    assert code == 0 and {letter["eventId"] for letter in listed["deadLetters"]} == set(raw_items)

    # When the operator looks first (dry run), nothing changes
    code, report = run_cli(stack, "replay", "--dry-run")
    assert code == 0 and sorted(report["pending"]) == sorted(raw_items) and report["replayed"] == []
    assert applied(stack) == set()

    # When the operator replays, without the stream (in AWS it is gone after 24 hours)
    code, report = run_cli(stack, "replay")

    # Then the processor applied every event once, and the dead letters are gone
    assert code == 0, report
    assert sorted(report["replayed"]) == sorted(raw_items) and report["failed"] == report["expired"] == []
    assert applied(stack) == set(raw_items)
    assert DynamoDeadLetterStore(stack.client("dynamodb"), stack.core_table).pending(10) == []
    assert [folder for folder, _ in lambda_service.invocations] == ["event_processor"]

    # And a second replay of the same events (kept again by a repeated message) changes nothing
    before = stack.scan(stack.core_table)
    sqs.send_message(QueueUrl=stack.on_failure_queue_url, MessageBody=on_failure_message(stack, records, shard_id))
    messages = sqs.receive_message(QueueUrl=stack.on_failure_queue_url, MaxNumberOfMessages=10)["Messages"]
    stack.invoke("dlq_archiver", sqs_event(messages, queue_arn))
    code, report = run_cli(stack, "replay")
    assert code == 0 and sorted(report["replayed"]) == sorted(raw_items)
    after = [item for item in stack.scan(stack.core_table) if item["pk"]["S"] != PROCESSOR_PK]
    assert sorted(json.dumps(item, default=repr) for item in after) == sorted(
        json.dumps(item, default=repr) for item in before if item["pk"]["S"] != PROCESSOR_PK
    )


def test_replay_reports_events_that_failed_again_or_left_the_raw_table(
    stack: Stack, raw_stream: RawStream, lambda_service: LocalLambdaService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two dead letters, one of whose raw events has left its table (TTL)
    ingest(stack, orders(2))
    records = raw_stream.new_records()
    shard_id = first_shard(stack)
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=stack.on_failure_queue_url, MessageBody=on_failure_message(stack, records, shard_id))
    code, collected = run_cli_collect(stack)
    assert code == 0 and len(collected["recorded"]) == 2
    gone, kept = sorted(collected["recorded"])
    stack.client("dynamodb").delete_item(TableName=stack.raw_table, Key={"pk": {"S": gone}})

    # When the replay runs while the processor still fails
    with monkeypatch.context() as fault:
        fault.setattr(EventProcessor, "process", lambda self, raw: (_ for _ in ()).throw(RuntimeError("injected")))
        code, report = run_cli(stack, "replay")

    # Then it says which failed again and which expired, exits 1, and keeps both letters
    assert code == 1
    assert report["failed"] == [kept] and report["expired"] == [gone] and report["replayed"] == []
    remaining = DynamoDeadLetterStore(stack.client("dynamodb"), stack.core_table).pending(10)
    assert sorted(letter.event_id for letter in remaining) == sorted([gone, kept])

    # And once the processor is healthy, a replay of that event alone applies it
    code, report = run_cli(stack, "replay", "--event-id", kept)
    assert code == 0 and report["replayed"] == [kept]
    assert applied(stack) == {kept}


def run_cli_collect(stack: Stack) -> tuple[int, dict[str, Any]]:
    """`collect` reads the stream (it runs while the stream still holds the batch)."""
    out = io.StringIO()
    code = replay_cli.main(
        ["collect", "--core-table", stack.core_table, "--queue-url", stack.on_failure_queue_url],
        session=_Session(stack),
        out=out,
    )
    return code, json.loads(out.getvalue())


class _Session:
    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def client(self, service: str, endpoint_url: str | None = None) -> Any:
        return self._stack.client(service)
