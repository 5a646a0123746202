"""The processor's dead letters on the local stack: an on-failure message in the processor's queue
is turned into a dead letter by dlq_archiver (the local SQS event source), and
`python -m cdp_ops.replay`, pointed at the stack's AWS endpoint, replays it through the processor.

The event here was processed fine before its on-failure message arrives (the stack cannot be made
to fail from outside), which is also the replay's promise: a replayed event that was applied
already changes nothing.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from cdp_ops import replay
from infra.local.config import REGION
from tests.e2e.conftest import Stack, unique

pytestmark = pytest.mark.e2e


def session() -> Any:
    return boto3.session.Session(region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local")


def named(names: list[str], prefix: str) -> str:
    (found,) = [name for name in names if name.startswith(prefix)]
    return found


def stream_record(aws: Any, stream_arn: str, event_id: str) -> tuple[str, str]:
    """(shard id, sequence number) of the raw event's INSERT record."""
    streams = aws.client("dynamodbstreams")
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                if record["eventName"] == "INSERT" and record["dynamodb"]["Keys"]["pk"]["S"] == event_id:
                    return shard["ShardId"], record["dynamodb"]["SequenceNumber"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    raise AssertionError(f"{event_id} is not in the raw-events stream")


def cli(endpoint: str, *args: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = replay.main([*args, "--endpoint-url", endpoint], session=session(), out=out)
    return code, json.loads(out.getvalue())


def test_an_on_failure_message_becomes_a_dead_letter_that_replays(stack: Stack, aws_endpoint: str) -> None:
    aws = session()
    dynamodb = aws.client("dynamodb", endpoint_url=aws_endpoint)
    tables = dynamodb.list_tables()["TableNames"]
    raw_table, core_table = named(tables, "cdp-local-TablesRawEvents"), named(tables, "cdp-local-TablesCore")
    sqs = aws.client("sqs", endpoint_url=aws_endpoint)
    queue_url = named(sqs.list_queues(QueueNamePrefix="cdp-local-EventProcessingDeadLetterQueue")["QueueUrls"], "")
    stream_arn = dynamodb.describe_table(TableName=raw_table)["Table"]["LatestStreamArn"]
    names = ["--core-table", core_table, "--raw-events-table", raw_table]

    # Given an accepted, processed event
    member, message_id = unique("M-DL"), unique("dl-msg")
    answer = stack.segment(
        "track", {"userId": member, "messageId": message_id, "event": "Order Completed", "properties": {"revenue": 10}}
    )
    assert answer.status_code == 200, answer.text
    stack.drain()
    before = stack.lookup("member_id", member)
    event_id = f"partner#default#{message_id}"
    shard_id, sequence = stream_record(_Endpoint(aws, aws_endpoint), stream_arn, event_id)

    # When the stream mapping's on-failure message for it reaches the processor's queue
    message = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": sequence,
            "endSequenceNumber": sequence,
            "batchSize": 1,
            "streamArn": stream_arn,
        },
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
    stack.drain()

    # Then dlq_archiver kept it as a dead letter, and the queue is empty
    code, listed = cli(aws_endpoint, "list", *names)
    assert code == 0 and event_id in {letter["eventId"] for letter in listed["deadLetters"]}
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"

    # When the operator replays it through the processor (Lambda Invoke on the local endpoint)
    code, report = cli(
        aws_endpoint, "replay", "--event-id", event_id, "--processor-function", "cdp-local-event_processor", *names
    )

    # Then it was taken, the dead letter is gone, and the profile is what it was
    assert code == 0 and report["replayed"] == [event_id], report
    stack.drain()
    code, listed = cli(aws_endpoint, "list", *names)
    assert event_id not in {letter["eventId"] for letter in listed["deadLetters"]}
    after = stack.lookup("member_id", member)
    assert (after["stats"], after["orders"], after["events"]) == (before["stats"], before["orders"], before["events"])
    assert after["stats"]["event_count"] == 1


class _Endpoint:
    """A session whose clients all talk to the local endpoint."""

    def __init__(self, aws: Any, endpoint: str) -> None:
        self._aws, self._endpoint = aws, endpoint

    def client(self, service: str) -> Any:
        return self._aws.client(service, endpoint_url=self._endpoint)
