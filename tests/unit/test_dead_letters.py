"""Dead letters of the processor (cdp.operations.dead_letters) with in-memory ports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp.errors import BadRequest
from cdp.operations.dead_letters import (
    DeadLetterArchive,
    DeadLetterReplay,
    StreamRecordsGone,
    parse_failure_message,
    sequence_order,
)

from tests.fakes import FakeDeadLetterStore, FakeProcessorGateway, FakeRawEventItems, FakeStreamRecords, FixedClock

STREAM = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/raw/stream/2026-01-01T00:00:00.000"


def message(start: str, end: str, *, shard: str = "shardId-1", condition: str = "RetryAttemptsExhausted") -> str:
    return json.dumps(
        {
            "requestContext": {"condition": condition, "approximateInvokeCount": 11},
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": start,
                "endSequenceNumber": end,
                "batchSize": 3,
                "streamArn": STREAM,
            },
        }
    )


def item(event_id: str) -> dict[str, Any]:
    return {"pk": {"S": event_id}, "payload": {"S": "{}"}}


def test_parse_failure_message_reads_the_batch_coordinates() -> None:
    batch = parse_failure_message(message("100", "300", condition="RecordAgeExceeded"))
    assert (batch.stream_arn, batch.shard_id, batch.start_sequence, batch.end_sequence) == (
        STREAM,
        "shardId-1",
        "100",
        "300",
    )
    assert batch.condition == "RecordAgeExceeded" and batch.batch_size == 3


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        json.dumps({"requestContext": {}}),
        json.dumps({"DDBStreamBatchInfo": {"shardId": "s", "startSequenceNumber": "1", "streamArn": STREAM}}),
        json.dumps(
            {
                "DDBStreamBatchInfo": {
                    "shardId": "",
                    "startSequenceNumber": "1",
                    "endSequenceNumber": "2",
                    "streamArn": STREAM,
                }
            }
        ),
        json.dumps(
            {
                "DDBStreamBatchInfo": {
                    "shardId": "s",
                    "startSequenceNumber": 1,
                    "endSequenceNumber": "2",
                    "streamArn": STREAM,
                }
            }
        ),
    ],
)
def test_a_message_without_stream_coordinates_is_refused_with_a_code(body: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_failure_message(body)
    assert refused.value.code == "not_a_stream_failure"


def test_sequence_numbers_compare_as_numbers() -> None:
    assert sequence_order("900") < sequence_order("1000") < sequence_order("1001")


def test_archive_keeps_the_inserted_keys_of_the_failed_range_only() -> None:
    # Given a stream with records before, inside and after the failed batch, and a TTL removal
    records = FakeStreamRecords(
        [
            ("99", "e0", "INSERT"),
            ("100", "e1", "INSERT"),
            ("150", "old", "REMOVE"),
            ("1000", "e2", "INSERT"),
            ("1001", "e3", "INSERT"),
        ],
        expires_at=1_800_000_000,
    )
    store = FakeDeadLetterStore()

    # When the on-failure message for 100..1000 is recorded
    letters = DeadLetterArchive(records, store, FixedClock(1_772_704_800_000)).record(message("100", "1000"))

    # Then exactly the two inserted events of that range are kept, with where and when they failed
    assert [letter.event_id for letter in letters] == ["e1", "e2"]
    assert sorted(store.letters) == ["e1", "e2"]
    kept = store.letters["e2"]
    assert (kept.sequence_number, kept.shard_id, kept.condition) == ("1000", "shardId-1", "RetryAttemptsExhausted")
    assert kept.failed_at == "2026-03-05T10:00:00.000Z" and kept.expires_at == 1_800_000_000


def test_recording_the_same_message_twice_keeps_one_letter_per_event() -> None:
    records, store = FakeStreamRecords([("1", "e1", "INSERT")]), FakeDeadLetterStore()
    archive = DeadLetterArchive(records, store, FixedClock())
    archive.record(message("1", "1"))
    archive.record(message("1", "1"))
    assert list(store.letters) == ["e1"]


def test_a_trimmed_stream_is_reported_not_swallowed() -> None:
    records = FakeStreamRecords([("1", "e1", "INSERT")])
    records.trimmed = True
    with pytest.raises(StreamRecordsGone):
        DeadLetterArchive(records, FakeDeadLetterStore(), FixedClock()).record(message("1", "1"))


def kept(*event_ids: str) -> FakeDeadLetterStore:
    store = FakeDeadLetterStore()
    records = FakeStreamRecords([(str(10 + index), event_id, "INSERT") for index, event_id in enumerate(event_ids)])
    DeadLetterArchive(records, store, FixedClock()).record(message("10", str(10 + len(event_ids))))
    return store


def test_replay_submits_in_stream_order_and_forgets_what_the_processor_took() -> None:
    # Given three dead letters (listed by key, not in stream order) whose raw events are stored
    store = kept("zeta", "alpha", "mid")
    processor = FakeProcessorGateway(failing={"mid"})
    replay = DeadLetterReplay(store, FakeRawEventItems({e: item(e) for e in ("zeta", "alpha", "mid")}), processor)

    # When they are replayed
    report = replay.replay()

    # Then they went to the processor in the order they arrived, the failure is kept for next time
    assert processor.calls == [["zeta", "alpha", "mid"]]
    assert report.replayed == ["zeta", "alpha"] and report.failed == ["mid"] and not report.ok
    assert list(store.letters) == ["mid"]


def test_replay_in_chunks_and_of_chosen_events_only() -> None:
    store = kept("a", "b", "c", "d", "e")
    processor = FakeProcessorGateway()
    replay = DeadLetterReplay(store, FakeRawEventItems({e: item(e) for e in "abcde"}), processor, chunk_size=2)

    report = replay.replay(event_ids=["d", "b", "b", "unknown"])

    assert processor.calls == [["b", "d"]] and report.replayed == ["b", "d"]
    assert sorted(store.letters) == ["a", "c", "e"]
    replay.replay()
    assert processor.calls[1:] == [["a", "c"], ["e"]]


def test_an_event_gone_from_the_raw_table_is_reported_expired_and_kept() -> None:
    store = kept("here", "gone")
    processor = FakeProcessorGateway()
    report = DeadLetterReplay(store, FakeRawEventItems({"here": item("here")}), processor).replay()
    assert report.expired == ["gone"] and report.replayed == ["here"] and not report.ok
    assert list(store.letters) == ["gone"]


def test_dry_run_changes_nothing() -> None:
    store = kept("a", "b")
    processor = FakeProcessorGateway()
    report = DeadLetterReplay(store, FakeRawEventItems({"a": item("a")}), processor).replay(dry_run=True)
    assert report.pending == ["a"] and report.expired == ["b"] and report.replayed == []
    assert processor.calls == [] and sorted(store.letters) == ["a", "b"]


def test_replaying_twice_applies_once() -> None:
    # Given an event replayed, then kept again (a repeated on-failure message) and replayed again
    store, processor = kept("a"), FakeProcessorGateway()
    replay = DeadLetterReplay(store, FakeRawEventItems({"a": item("a")}), processor)
    replay.replay()
    DeadLetterArchive(FakeStreamRecords([("10", "a", "INSERT")]), store, FixedClock()).record(message("10", "10"))
    replay.replay()
    # Then the processor saw it twice and applied it once
    assert processor.calls == [["a"], ["a"]] and processor.applied == ["a"]


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DeadLetterReplay(FakeDeadLetterStore(), FakeRawEventItems(), FakeProcessorGateway(), chunk_size=0)
