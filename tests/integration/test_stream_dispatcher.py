"""The local runtime's StreamDispatcher against the raw table's moto stream, with the template's mapping.

The invoke function is a fake that records what Lambda would have been called with and answers
as told, so batching, checkpointing on `batchItemFailures` and the on-failure destination are
observed exactly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.events.raw import RawEvent, partner_event_id

from infra.local.stream_dispatcher import StreamDispatcher
from tests.integration.conftest import Stack

EVENTS = 7
BATCH_SIZE = 3
MAX_RETRIES = 2

Answer = Callable[[list[dict[str, Any]]], dict[str, Any] | None]


def raw(n: int) -> RawEvent:
    payload = {"type": "track", "event": "Product Viewed", "anonymousId": f"anon-{n}", "messageId": f"m-{n}"}
    return RawEvent(partner_event_id("web", f"m-{n}"), "partner", "web", "2024-05-01T10:00:00.000Z", payload)


def pk(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


class FakeLambda:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[str]]] = []
        self.events: list[dict[str, Any]] = []

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append((function, [pk(record) for record in event["Records"]]))
        self.events.append(event)
        return self.answer(event["Records"])

    def batches(self) -> list[list[str]]:
        return [ids for _, ids in self.calls]


@pytest.fixture
def stored(stack: Stack) -> list[str]:
    """Seven raw events written one after the other (stream order is write order)."""
    store = DynamoRawEventStore(stack.client("dynamodb"), stack.raw_table, 86400)
    for n in range(EVENTS):
        assert store.store_once([raw(n)]) == [True]
    return [raw(n).event_id for n in range(EVENTS)]


@pytest.fixture
def dispatch(stack: Stack) -> Iterator[Callable[[Callable[[str, dict[str, Any]], Any]], StreamDispatcher]]:
    """Run a dispatcher (the template's mapping, smaller batches and retries) until the stream is drained."""
    started: list[StreamDispatcher] = []

    def run(invoke: Callable[[str, dict[str, Any]], Any]) -> StreamDispatcher:
        template_mapping = stack.resources.stream_mappings[0]
        assert (template_mapping.function, template_mapping.report_batch_item_failures) == ("event_processor", True)
        mapping = dataclasses.replace(template_mapping, batch_size=BATCH_SIZE, max_retries=MAX_RETRIES)
        dispatcher = StreamDispatcher(
            streams=stack.client("dynamodbstreams"),
            sqs=stack.client("sqs"),
            stream_arn=stack.raw_stream_arn,
            mapping=mapping,
            invoke=invoke,
            on_failure_queue_url=stack.on_failure_queue_url,
        )
        started.append(dispatcher)
        dispatcher.start()
        assert dispatcher.wait_idle(timeout=20)
        return dispatcher

    yield run
    for dispatcher in started:
        dispatcher.stop()


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.on_failure_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_batches_respect_the_batch_size_and_keep_stream_order(stack: Stack, stored: list[str], dispatch: Any) -> None:
    fake = FakeLambda(lambda records: {"batchItemFailures": []})

    dispatcher = dispatch(fake)

    assert fake.batches() == [stored[0:3], stored[3:6], stored[6:7]]
    assert {function for function, _ in fake.calls} == {"event_processor"}
    record = fake.events[0]["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert record["eventSourceARN"] == stack.raw_stream_arn
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"]["pk"] == {"S": stored[0]}
    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    assert dead_letters(stack) == []


def test_a_partial_failure_retries_from_the_failed_record_only(stack: Stack, stored: list[str], dispatch: Any) -> None:
    failed_once: set[str] = set()

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        # The second record fails once; the third too (only the earliest failure decides the checkpoint).
        failures = [r for r in records if pk(r) in (stored[1], stored[2]) and pk(r) not in failed_once]
        failed_once.update(pk(r) for r in failures)
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failures]}

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake)

    assert fake.batches() == [stored[0:3], stored[1:3], stored[3:6], stored[6:7]]
    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    assert dead_letters(stack) == []


@pytest.mark.parametrize("how", ["reported", "raised"])
def test_after_max_retries_the_batch_goes_to_the_on_failure_queue(
    stack: Stack, stored: list[str], dispatch: Any, how: str
) -> None:
    poison = stored[4]

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        bad = [r for r in records if pk(r) == poison]
        if bad and how == "raised":
            raise RuntimeError("the function crashed")  # Lambda retries the whole batch
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in bad]}

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake)

    retried = stored[4:6] if how == "reported" else stored[3:6]
    assert fake.batches() == [stored[0:3], stored[3:6], retried, retried, stored[6:7]]  # the stream moves on
    assert dispatcher.failed_batches == 1
    (message,) = dead_letters(stack)
    assert message["requestContext"] == {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 3}
    info = message["DDBStreamBatchInfo"]
    records = {pk(r): r for event in fake.events for r in event["Records"]}
    assert info["startSequenceNumber"] == records[retried[0]]["dynamodb"]["SequenceNumber"]
    assert info["endSequenceNumber"] == records[stored[5]]["dynamodb"]["SequenceNumber"]
    assert info["batchSize"] == len(retried)
    assert info["streamArn"] == stack.raw_stream_arn


def test_drives_the_real_event_processor(stack: Stack, stored: list[str], dispatch: Any) -> None:
    dispatcher = dispatch(stack.runtime.invoke)

    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    profiles = [item for item in stack.scan(stack.core_table) if item["sk"]["S"] == "PROFILE"]
    assert len(profiles) == EVENTS  # seven anonymous visitors, one profile each
