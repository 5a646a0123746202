"""The local runtime's StreamDispatcher against the raw table's moto stream, with the template's mapping.

The invoke function is a fake that records what Lambda would have been called with and answers
as told, so each event source mapping rule is observed exactly: batching, checkpointing on
`batchItemFailures`, retry counting per checkpoint, bisection on function errors, the maximum
record age, filters and the on-failure destination's message.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.events.raw import RawEvent, partner_event_id

from infra.local import moto_patches
from infra.local.stream_dispatcher import StreamDispatcher
from tests.integration.conftest import Stack

EVENTS = 7
BATCH_SIZE = 3
MAX_RETRIES = 2

Answer = Callable[[list[dict[str, Any]]], dict[str, Any] | None]


@pytest.fixture(autouse=True)
def local_moto() -> Iterator[None]:
    """The moto the local stack runs (its shard never changes under a reader's iterator)."""
    undo = moto_patches.install()
    yield
    undo()


def raw(n: int) -> RawEvent:
    payload = {"type": "track", "event": "Product Viewed", "anonymousId": f"anon-{n}", "messageId": f"m-{n}"}
    return RawEvent(partner_event_id("web", f"m-{n}"), "partner", "web", "2024-05-01T10:00:00.000Z", payload)


def pk(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["pk"]["S"])


def failed(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]}


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

    def record(self, event_id: str) -> dict[str, Any]:
        return next(r for event in self.events for r in event["Records"] if pk(r) == event_id)


@pytest.fixture
def stored(stack: Stack) -> list[str]:
    """Seven raw events written one after the other (stream order is write order)."""
    store = DynamoRawEventStore(stack.client("dynamodb"), stack.raw_table, 86400)
    for n in range(EVENTS):
        assert store.store_once([raw(n)]) == [True]
    return [raw(n).event_id for n in range(EVENTS)]


Dispatch = Callable[..., StreamDispatcher]


@pytest.fixture
def dispatch(stack: Stack) -> Iterator[Dispatch]:
    """Run a dispatcher (the template's mapping, smaller batches and retries, changes as given)
    until the stream is drained."""
    started: list[StreamDispatcher] = []

    def run(
        invoke: Callable[[str, dict[str, Any]], Any], clock: Callable[[], float] = time.time, **changes: Any
    ) -> StreamDispatcher:
        template_mapping = stack.resources.stream_mappings[0]
        assert (template_mapping.function, template_mapping.report_batch_item_failures) == ("event_processor", True)
        settings = {"batch_size": BATCH_SIZE, "max_retries": MAX_RETRIES, "bisect_on_function_error": False}
        mapping = dataclasses.replace(template_mapping, **{**settings, **changes})
        dispatcher = StreamDispatcher(
            streams=stack.client("dynamodbstreams"),
            sqs=stack.client("sqs"),
            stream_arn=stack.raw_stream_arn,
            mapping=mapping,
            invoke=invoke,
            on_failure_queue_url=stack.on_failure_queue_url,
            clock=clock,
        )
        started.append(dispatcher)
        dispatcher.start()
        assert dispatcher.wait_idle(timeout=30)
        return dispatcher

    yield run
    for dispatcher in started:
        dispatcher.stop()


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.on_failure_queue_url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_the_template_mapping_is_read_whole(stack: Stack) -> None:
    processor, archive = stack.resources.stream_mappings
    assert (processor.function, archive.function) == ("event_processor", "archive_writer")
    assert processor.bisect_on_function_error and archive.bisect_on_function_error
    assert processor.max_retries == archive.max_retries == 10
    assert processor.max_record_age_seconds == archive.max_record_age_seconds == 86400
    assert processor.filter_patterns == ()
    assert [json.loads(p) for p in archive.filter_patterns] == [
        {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "PROFILE#"}]}}}}
    ]


def test_batches_respect_the_batch_size_and_keep_stream_order(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    fake = FakeLambda(lambda records: {"batchItemFailures": []})

    dispatcher = dispatch(fake)

    assert fake.batches() == [stored[0:3], stored[3:6], stored[6:7]]
    assert {function for function, _ in fake.calls} == {"event_processor"}
    record = fake.events[0]["Records"][0]
    assert set(record) == {
        "eventID",
        "eventName",
        "eventVersion",
        "eventSource",
        "awsRegion",
        "dynamodb",
        "eventSourceARN",
    }
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert record["eventSourceARN"] == stack.raw_stream_arn
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"]["pk"] == {"S": stored[0]}
    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    assert dead_letters(stack) == []


def test_a_partial_failure_retries_from_the_failed_record_only(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    failed_once: set[str] = set()

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        # The second record fails once; the third too (only the earliest failure decides the checkpoint).
        failures = [r for r in records if pk(r) in (stored[1], stored[2]) and pk(r) not in failed_once]
        failed_once.update(pk(r) for r in failures)
        return failed(failures)

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake)

    assert fake.batches() == [stored[0:3], stored[1:3], stored[3:6], stored[6:7]]
    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    assert dead_letters(stack) == []


def test_partial_failures_that_move_the_checkpoint_use_no_retries(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    """Three failed invocations in a row, each past the last checkpoint: with one retry allowed,
    nothing is given up (a count over the whole batch would have given up at the second)."""
    plan = iter([stored[1], stored[2], stored[3], None])

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        failing = next(plan, None)
        return failed([r for r in records if pk(r) == failing])

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake, batch_size=4, max_retries=1)

    assert fake.batches()[:4] == [stored[0:4], stored[1:4], stored[2:4], stored[3:4]]
    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    assert dead_letters(stack) == []


def test_failures_at_the_same_checkpoint_use_up_the_retries(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    poison = stored[4]
    fake = FakeLambda(lambda records: failed([r for r in records if pk(r) == poison]))

    dispatcher = dispatch(fake)

    # The first failure moved the checkpoint to the poison; then two retries at it.
    assert fake.batches() == [stored[0:3], stored[3:6], stored[4:6], stored[4:6], stored[6:7]]
    assert (dispatcher.processed, dispatcher.failed_batches, dispatcher.discarded_records) == (EVENTS - 2, 1, 2)
    (message,) = dead_letters(stack)
    context = message["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("RetryAttemptsExhausted", 3)
    assert context["functionArn"].endswith(":function:cdp-local-event_processor")
    assert message["responseContext"]["functionError"] == "Unhandled"
    info = message["DDBStreamBatchInfo"]
    shards = stack.client("dynamodbstreams").describe_stream(StreamArn=stack.raw_stream_arn)["StreamDescription"]
    assert info["shardId"] == shards["Shards"][0]["ShardId"]
    assert info["startSequenceNumber"] == fake.record(stored[4])["dynamodb"]["SequenceNumber"]
    assert info["endSequenceNumber"] == fake.record(stored[5])["dynamodb"]["SequenceNumber"]
    assert info["batchSize"] == 2
    assert info["streamArn"] == stack.raw_stream_arn
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")


def test_a_function_error_without_bisection_retries_the_whole_batch(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    poison = stored[4]

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        if any(pk(r) == poison for r in records):
            raise RuntimeError("the function crashed")
        return {}

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake)

    assert fake.batches() == [stored[0:3], stored[3:6], stored[3:6], stored[3:6], stored[6:7]]
    assert (dispatcher.failed_batches, dispatcher.discarded_records) == (1, 3)
    (message,) = dead_letters(stack)
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["DDBStreamBatchInfo"]["batchSize"] == 3


@pytest.mark.parametrize("max_retries", [0, 2])
def test_bisection_isolates_a_record_that_crashes_the_function(
    stack: Stack, stored: list[str], dispatch: Dispatch, max_retries: int
) -> None:
    """Halves until the poison is alone; splits use no retry, so even with none its neighbours pass."""
    poison = stored[4]

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        if any(pk(r) == poison for r in records):
            raise RuntimeError("the function crashed")
        return {}

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake, bisect_on_function_error=True, max_retries=max_retries)

    alone = [[poison]] * (1 + max_retries)
    assert fake.batches() == [stored[0:3], stored[3:6], stored[3:4], stored[4:6], *alone, stored[5:6], stored[6:7]]
    assert (dispatcher.processed, dispatcher.discarded_records, dispatcher.bisections) == (EVENTS - 1, 1, 2)
    (message,) = dead_letters(stack)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = message["DDBStreamBatchInfo"]
    sequence = fake.record(poison)["dynamodb"]["SequenceNumber"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (sequence, sequence, 1)


def test_a_partial_batch_response_is_checkpointed_not_bisected(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    failed_once: set[str] = set()

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        failures = [r for r in records if pk(r) == stored[4] and pk(r) not in failed_once]
        failed_once.update(pk(r) for r in failures)
        return failed(failures)

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake, bisect_on_function_error=True)

    assert fake.batches() == [stored[0:3], stored[3:6], stored[4:6], stored[6:7]]
    assert (dispatcher.bisections, dispatcher.failed_batches) == (0, 0)


@pytest.mark.parametrize("identifier", ["", None, "not-a-sequence-number"])
def test_a_failure_naming_no_record_of_the_batch_fails_it_whole(
    stack: Stack, stored: list[str], dispatch: Dispatch, identifier: str | None
) -> None:
    answered: set[str] = set()

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        if pk(records[0]) == stored[3] and stored[3] not in answered:
            answered.add(stored[3])
            return {"batchItemFailures": [{"itemIdentifier": identifier}]}
        return {"batchItemFailures": None}  # null: a success

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake, bisect_on_function_error=True)

    assert fake.batches() == [stored[0:3], stored[3:6], stored[3:6], stored[6:7]]
    assert (dispatcher.processed, dispatcher.bisections) == (EVENTS, 0)


def test_answers_are_ignored_without_report_batch_item_failures(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    fake = FakeLambda(lambda records: failed(records))

    dispatcher = dispatch(fake, report_batch_item_failures=False)

    assert fake.batches() == [stored[0:3], stored[3:6], stored[6:7]]
    assert dispatcher.failed_batches == 0


def test_unlimited_retries_keep_trying_until_the_function_succeeds(
    stack: Stack, stored: list[str], dispatch: Dispatch
) -> None:
    failures = iter(range(4))

    def answer(records: list[dict[str, Any]]) -> dict[str, Any]:
        if pk(records[0]) == stored[0] and next(failures, None) is not None:
            raise RuntimeError("not yet")
        return {}

    fake = FakeLambda(answer)

    dispatcher = dispatch(fake, max_retries=-1, batch_size=EVENTS)

    assert fake.batches() == [stored] * 5
    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)


def test_records_past_the_maximum_age_are_not_sent(stack: Stack, stored: list[str], dispatch: Dispatch) -> None:
    """A failing batch is retried until its records are older than the maximum age, then given up."""
    started = time.time()
    fake = FakeLambda(lambda records: failed(records[:1]))

    def clock() -> float:  # every invocation ages the records by 40 s
        return started + 40 * len(fake.calls)

    dispatcher = dispatch(fake, clock=clock, max_retries=-1, max_record_age_seconds=60, batch_size=EVENTS)

    assert fake.batches() == [stored, stored]
    assert (dispatcher.invocations, dispatcher.discarded_records) == (2, EVENTS)
    (message,) = dead_letters(stack)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["DDBStreamBatchInfo"]["batchSize"] == EVENTS


def test_records_already_too_old_never_reach_the_function(stack: Stack, stored: list[str], dispatch: Dispatch) -> None:
    fake = FakeLambda(lambda records: {})

    dispatcher = dispatch(fake, clock=lambda: time.time() + 3600, max_record_age_seconds=60)

    assert fake.calls == []
    assert dispatcher.discarded_records == EVENTS
    letters = dead_letters(stack)
    assert {letter["requestContext"]["condition"] for letter in letters} == {"RecordAgeExceeded"}
    assert {letter["requestContext"]["approximateInvokeCount"] for letter in letters} == {0}
    assert all("responseContext" not in letter for letter in letters)
    assert sum(letter["DDBStreamBatchInfo"]["batchSize"] for letter in letters) == EVENTS


def test_filters_send_only_matching_records(stack: Stack, stored: list[str], dispatch: Dispatch) -> None:
    wanted = {stored[1], stored[5]}
    patterns = tuple(json.dumps({"dynamodb": {"Keys": {"pk": {"S": [event_id]}}}}) for event_id in sorted(wanted))
    fake = FakeLambda(lambda records: {})

    dispatcher = dispatch(fake, filter_patterns=patterns)

    assert sorted(event_id for batch in fake.batches() for event_id in batch) == sorted(wanted)
    assert (dispatcher.processed, dispatcher.filtered) == (EVENTS, EVENTS - 2)


def test_drives_the_real_event_processor(stack: Stack, stored: list[str], dispatch: Dispatch) -> None:
    dispatcher = dispatch(stack.runtime.invoke)

    assert (dispatcher.processed, dispatcher.failed_batches) == (EVENTS, 0)
    profiles = [item for item in stack.scan(stack.core_table) if item["sk"]["S"] == "PROFILE"]
    assert len(profiles) == EVENTS  # seven anonymous visitors, one profile each
