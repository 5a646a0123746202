"""Dead letters of the event processor: kept as raw-event keys, replayed through the processor.

The stream mapping's on-failure destination receives a batch's coordinates (stream, shard, first
and last sequence number), not its records, and a DynamoDB stream keeps records for 24 hours
only. The raw events themselves stay in their table until the raw-event TTL (30 days by default),
so resolving the coordinates to raw-event keys once, while the stream still has them, is enough
to replay the events at any time before that TTL.

Replay hands the stored raw items to the event processor again, shaped as the stream records it
was given the first time. That is safe to repeat: the processor commits an `APPLIED#<event>`
marker with each change, so an event that did get applied in the end changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest
from cdp.ports import Clock

# Items that are not new raw events (TTL removals) are skipped by the processor as well.
INSERT = "INSERT"


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One on-failure message: the records of `shard_id` from `start` to `end`, both included."""

    stream_arn: str
    shard_id: str
    start_sequence: str
    end_sequence: str
    batch_size: int
    condition: str  # RetryAttemptsExhausted, RecordAgeExceeded, ...


@dataclass(frozen=True, slots=True)
class StreamRecordKey:
    sequence_number: str
    event_id: str
    expires_at: int | None  # the raw item's TTL (epoch seconds), when the image carries it


@dataclass(frozen=True, slots=True)
class DeadLetter:
    event_id: str
    failed_at: str  # ISO-8601 UTC, when the failure was recorded
    condition: str
    stream_arn: str
    shard_id: str
    sequence_number: str
    expires_at: int | None = None  # when the raw event leaves its table; the letter goes then too

    def as_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "failedAt": self.failed_at,
            "condition": self.condition,
            "streamArn": self.stream_arn,
            "shardId": self.shard_id,
            "sequenceNumber": self.sequence_number,
            "expiresAt": self.expires_at,
        }


class StreamRecords(Protocol):
    def keys(self, batch: StreamBatch) -> list[StreamRecordKey]:
        """Keys of the INSERT records of `batch`, in stream order. Raises StreamRecordsGone when
        the stream no longer holds them."""
        ...


class DeadLetterStore(Protocol):
    def put(self, letters: Sequence[DeadLetter]) -> None:
        """Store each letter, keyed by event id: storing the same event again overwrites it."""
        ...

    def pending(self, limit: int) -> list[DeadLetter]: ...

    def get(self, event_ids: Sequence[str]) -> list[DeadLetter]: ...

    def remove(self, event_ids: Sequence[str]) -> None: ...


class RawEventItems(Protocol):
    def get(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored raw items (DynamoDB JSON) by event id; ids no longer stored are absent."""
        ...


class ProcessorGateway(Protocol):
    def submit(self, items: Mapping[str, dict[str, Any]]) -> set[str]:
        """Run the event processor over these raw items; the event ids it failed again."""
        ...


class StreamRecordsGone(Exception):
    """The stream trimmed the batch's records (older than 24 hours): its keys are lost."""


def parse_failure_message(body: str | Mapping[str, Any]) -> StreamBatch:
    """The body of a DynamoDB-stream on-failure message (`DDBStreamBatchInfo`)."""
    try:
        message = json.loads(body) if isinstance(body, str) else body
    except ValueError as exc:
        raise BadRequest("the message is not JSON", code="not_a_stream_failure") from exc
    info = message.get("DDBStreamBatchInfo") if isinstance(message, Mapping) else None
    if not isinstance(info, Mapping):
        raise BadRequest("the message has no DDBStreamBatchInfo", code="not_a_stream_failure")
    try:
        fields = {name: info[name] for name in ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")}
    except KeyError as exc:
        raise BadRequest(f"DDBStreamBatchInfo has no {exc.args[0]}", code="not_a_stream_failure") from exc
    if not all(isinstance(value, str) and value for value in fields.values()):
        raise BadRequest("DDBStreamBatchInfo fields must be non-empty strings", code="not_a_stream_failure")
    context = message.get("requestContext")
    condition = context.get("condition") if isinstance(context, Mapping) else None
    size = info.get("batchSize")
    return StreamBatch(
        stream_arn=fields["streamArn"],
        shard_id=fields["shardId"],
        start_sequence=fields["startSequenceNumber"],
        end_sequence=fields["endSequenceNumber"],
        batch_size=size if isinstance(size, int) and size > 0 else 0,
        condition=condition if isinstance(condition, str) else "unknown",
    )


def sequence_order(sequence_number: str) -> tuple[int, str]:
    """Stream sequence numbers are decimal strings of varying length: compare them as numbers."""
    return (len(sequence_number), sequence_number)


class DeadLetterArchive:
    """Turns on-failure messages into dead letters that outlive the stream."""

    def __init__(self, records: StreamRecords, store: DeadLetterStore, clock: Clock) -> None:
        self._records = records
        self._store = store
        self._clock = clock

    def record(self, body: str | Mapping[str, Any]) -> list[DeadLetter]:
        batch = parse_failure_message(body)
        failed_at = iso_from_ms(self._clock.now_ms())
        letters = [
            DeadLetter(
                event_id=key.event_id,
                failed_at=failed_at,
                condition=batch.condition,
                stream_arn=batch.stream_arn,
                shard_id=batch.shard_id,
                sequence_number=key.sequence_number,
                expires_at=key.expires_at,
            )
            for key in self._records.keys(batch)
        ]
        self._store.put(letters)
        return letters


@dataclass(slots=True)
class ReplayReport:
    dry_run: bool
    replayed: list[str] = field(default_factory=list)  # the processor took them; letters removed
    failed: list[str] = field(default_factory=list)  # failed again; letters kept
    expired: list[str] = field(default_factory=list)  # the raw event left its table: nothing to replay
    pending: list[str] = field(default_factory=list)  # dry run: would be replayed

    def as_dict(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "replayed": self.replayed,
            "failed": self.failed,
            "expired": self.expired,
            "pending": self.pending,
        }

    @property
    def ok(self) -> bool:
        return not self.failed and not self.expired


class DeadLetterReplay:
    """Re-submits dead letters' raw events to the processor, in chunks, and forgets the ones it took."""

    def __init__(
        self,
        store: DeadLetterStore,
        raw_events: RawEventItems,
        processor: ProcessorGateway,
        *,
        chunk_size: int = 100,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._store = store
        self._raw_events = raw_events
        self._processor = processor
        self._chunk_size = chunk_size

    def replay(
        self, *, event_ids: Sequence[str] | None = None, limit: int = 1000, dry_run: bool = False
    ) -> ReplayReport:
        letters = self._store.get(list(dict.fromkeys(event_ids))) if event_ids else self._store.pending(limit)
        # Stream order, so events of one person are applied in the order they arrived.
        letters.sort(key=lambda letter: (letter.shard_id, sequence_order(letter.sequence_number)))
        report = ReplayReport(dry_run=dry_run)
        for chunk in _chunks([letter.event_id for letter in letters], self._chunk_size):
            items = self._raw_events.get(chunk)
            report.expired.extend(event_id for event_id in chunk if event_id not in items)
            found = {event_id: items[event_id] for event_id in chunk if event_id in items}
            if dry_run:
                report.pending.extend(found)
                continue
            if not found:
                continue
            failed = self._processor.submit(found)
            done = [event_id for event_id in found if event_id not in failed]
            self._store.remove(done)
            report.replayed.extend(done)
            report.failed.extend(event_id for event_id in found if event_id in failed)
        return report


def _chunks(values: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
