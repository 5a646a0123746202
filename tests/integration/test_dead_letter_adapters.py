"""Edges of the dead-letter adapters that moto does not reproduce: a trimmed stream, shards that
left the listing, a paginated listing, and the processor's answers to a replay invoke."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from cdp.adapters.dead_letters import DynamoStreamRecords, LambdaProcessorGateway
from cdp.operations.dead_letters import StreamBatch, StreamRecordsGone

STREAM = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/raw/stream/2026-03-05T00:00:00.000"


def shard(n: int) -> str:
    return f"shardId-00000001772668800000-{n:08x}"


def seq(n: int) -> str:
    """Stream sequence numbers are 21 to 40 digits."""
    return f"{n:021d}"


SHARD_1, SHARD_2, SHARD_9 = shard(1), shard(2), shard(9)


def batch(shard_id: str = SHARD_2, start: int = 200, end: int = 400) -> StreamBatch:
    return StreamBatch(STREAM, shard_id, seq(start), seq(end), 3, "RetryAttemptsExhausted")


def streams_client() -> Any:
    return boto3.client(
        "dynamodbstreams", region_name="ap-northeast-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def record(n: int, event_id: str, name: str = "INSERT", expires: str = "1800000000") -> dict[str, Any]:
    sequence = seq(n)
    image = {"pk": {"S": event_id}, "expires_at": {"N": expires}}
    return {
        "eventID": sequence,
        "eventName": name,
        "dynamodb": {"Keys": {"pk": {"S": event_id}}, "NewImage": image, "SequenceNumber": sequence},
    }


def describe(*shards: str, last: str | None = None) -> dict[str, Any]:
    description: dict[str, Any] = {
        "StreamArn": STREAM,
        "Shards": [{"ShardId": s, "SequenceNumberRange": {"StartingSequenceNumber": seq(1)}} for s in shards],
    }
    if last:
        description["LastEvaluatedShardId"] = last
    return {"StreamDescription": description}


def test_keys_of_the_failed_range_across_pages_of_the_listing_and_of_records() -> None:
    client = streams_client()
    with Stubber(client) as stub:
        stub.add_response("describe_stream", describe(SHARD_1, last=SHARD_1), {"StreamArn": STREAM})
        stub.add_response("describe_stream", describe(SHARD_2), {"StreamArn": STREAM, "ExclusiveStartShardId": SHARD_1})
        stub.add_response(
            "get_shard_iterator",
            {"ShardIterator": "it-1"},
            {
                "StreamArn": STREAM,
                "ShardId": SHARD_2,
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "SequenceNumber": seq(200),
            },
        )
        stub.add_response(
            "get_records",
            {"Records": [record(200, "a"), record(300, "ttl", "REMOVE")], "NextShardIterator": "it-2"},
            {"ShardIterator": "it-1", "Limit": ANY},
        )
        stub.add_response(
            "get_records",
            {
                "Records": [record(400, "b", expires="1900000000"), record(1000, "after")],
                "NextShardIterator": "it-3",
            },
            {"ShardIterator": "it-2", "Limit": ANY},
        )
        keys = DynamoStreamRecords(client).keys(batch())
    assert [(k.sequence_number, k.event_id, k.expires_at) for k in keys] == [
        (seq(200), "a", 1_800_000_000),
        (seq(400), "b", 1_900_000_000),
    ]


def test_a_trimmed_batch_is_reported_gone() -> None:
    client = streams_client()
    with Stubber(client) as stub:
        stub.add_response("describe_stream", describe(SHARD_2), {"StreamArn": STREAM})
        stub.add_client_error("get_shard_iterator", "TrimmedDataAccessException", http_status_code=400)
        with pytest.raises(StreamRecordsGone):
            DynamoStreamRecords(client).keys(batch())


def test_a_shard_that_left_the_listing_is_reported_gone() -> None:
    client = streams_client()
    with Stubber(client) as stub:
        stub.add_response("describe_stream", describe(SHARD_9), {"StreamArn": STREAM})
        # Looked for in the listed shard, where that sequence number is not
        stub.add_client_error("get_shard_iterator", "ValidationException", http_status_code=400)
        with pytest.raises(StreamRecordsGone, match=SHARD_2):
            DynamoStreamRecords(client).keys(batch())


class Lambda:
    """Lambda's Invoke answer for the gateway: `answer(records)` -> (payload, function error)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.payloads: list[dict[str, Any]] = []

    def invoke(self, **request: Any) -> dict[str, Any]:
        payload = json.loads(request["Payload"])
        self.payloads.append(payload)
        body, error = self.answer(payload["Records"])
        response: dict[str, Any] = {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(body).encode())}
        if error:
            response["FunctionError"] = error
        return response


def items(*event_ids: str, size: int = 10) -> dict[str, dict[str, Any]]:
    return {event_id: {"pk": {"S": event_id}, "payload": {"S": "x" * size}} for event_id in event_ids}


def test_replayed_records_are_stream_inserts_and_failures_map_back_to_event_ids() -> None:
    def answer(records: list[dict[str, Any]]) -> tuple[Any, None]:
        failed = [r["dynamodb"]["SequenceNumber"] for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == "b"]
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}, None

    client = Lambda(answer)
    assert LambdaProcessorGateway(client, "proc").submit(items("a", "b", "c")) == {"b"}
    (records,) = [payload["Records"] for payload in client.payloads]
    assert [r["eventName"] for r in records] == ["INSERT"] * 3
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in records] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "answer",
    [
        lambda records: ({"errorType": "BatchProcessingError"}, "Unhandled"),
        lambda records: ({"batchItemFailures": [{"itemIdentifier": "not-sent"}]}, None),
        lambda records: ({"batchItemFailures": [{"itemIdentifier": None}]}, None),
    ],
)
def test_a_function_error_or_an_unknown_identifier_fails_the_whole_chunk(answer: Any) -> None:
    assert LambdaProcessorGateway(Lambda(answer), "proc").submit(items("a", "b")) == {"a", "b"}


def test_large_items_are_sent_in_several_invokes_under_the_request_limit() -> None:
    client = Lambda(lambda records: ({"batchItemFailures": []}, None))
    big = items("a", "b", "c", size=2_000_000)
    assert LambdaProcessorGateway(client, "proc").submit(big) == set()
    assert [len(p["Records"]) for p in client.payloads] == [2, 1]
    assert all(len(json.dumps(p)) < 6 * 1024 * 1024 for p in client.payloads)
