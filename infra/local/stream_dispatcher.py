"""Feed a DynamoDB stream to a handler in batches, the way a Lambda event source mapping does.

Every setting comes from the template's event source mapping, with Lambda's documented rules
(services-ddb-params, services-ddb-batchfailurereporting, services-dynamodb-errors):
- BatchSize / MaximumBatchingWindowInSeconds: how many records, how long to wait for more.
- FilterCriteria: records no filter matches are never sent (and count as handled).
- ReportBatchItemFailures: a `batchItemFailures` answer checkpoints before the failed record
  with the lowest sequence number and only the records from it on are retried. An empty or null
  list, or no answer, is a success; an empty, null or unknown `itemIdentifier` fails the whole
  batch. Without the setting the answer is ignored.
- MaximumRetryAttempts (-1: until the records expire): retries are counted per checkpoint. A
  partial failure that moved the checkpoint forward starts the count again at the new checkpoint,
  so a batch that makes progress is never given up on for failures it already got past.
- BisectBatchOnFunctionError: a function error (the invocation raised) splits the batch in two,
  each half retried on its own, the first half first; splitting does not use up retries. A
  partial batch response is not bisected: the checkpoint already splits it.
- MaximumRecordAgeInSeconds (-1: the stream's 24 h): records older than that are not sent.
- On-failure destination: records given up on (retries exhausted, or too old) are described
  in one SQS message per discarded batch, as Lambda writes it (`requestContext.condition`
  RetryAttemptsExhausted / RecordAgeExceeded, `DDBStreamBatchInfo` with the shard and the
  sequence-number range to read them back).
Records are read from one position on: the dispatcher keeps its shard iterator (NextShardIterator)
and asks for a new one after its last record only when DynamoDB Streams refuses it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from infra.local.config import REGION
from infra.local.provision import LOCAL_ACCOUNT, StreamMapping

IDLE_POLL_SECONDS = 0.05
MAX_IDLE_POLL_SECONDS = 0.25  # Lambda polls a DynamoDB stream shard four times a second
RETRY_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 2.0
FUNCTION_ERROR = "Unhandled"


@dataclass
class _Batch:
    """Records still to deliver from one read: retries used at its checkpoint, invocations so far."""

    records: list[dict[str, Any]]
    retries: int = 0
    invocations: int = 0


@dataclass(frozen=True)
class _Answer:
    """What one invocation told: all done, done before `failed_from`, or a failure of the whole batch."""

    failed_from: int | None  # None: success
    function_error: bool = False  # the invocation raised (bisect applies)


class StreamDispatcher:
    def __init__(
        self,
        *,
        streams: Any,
        sqs: Any,
        stream_arn: str,
        mapping: StreamMapping,
        invoke: Callable[[str, dict[str, Any]], Any],
        on_failure_queue_url: str | None,
        clock: Callable[[], float] = time.time,
        on_read: Callable[[str], None] | None = None,
        stamp_offset: Callable[[], float] = lambda: 0.0,
    ) -> None:
        """`on_read(sequence_number)`: told the last sequence number read, so the stream can drop
        what every local reader has already read. `stamp_offset()`: seconds the stack's clock is
        ahead of the machine's; moto stamps records with the machine's time, the functions see the
        stack's, as a stream in the cloud stamps them with the time of the change."""
        self._streams = streams
        self._sqs = sqs
        self._stream_arn = stream_arn
        self._mapping = mapping
        self._invoke = invoke
        self._dlq = on_failure_queue_url
        self._clock = clock
        self._on_read = on_read
        self._stamp_offset = stamp_offset
        self._filters = [_pattern(raw) for raw in mapping.filter_patterns]
        self._iterators: dict[str, str] = {}  # shard id -> the iterator to read next
        self._last_sequence: dict[str, str] = {}  # shard id -> the last sequence number read
        self._stop = threading.Event()
        self._poke = threading.Event()  # poll now (someone waits for the stream to be drained)
        self._thread = threading.Thread(target=self._run, name=f"stream-{mapping.function}", daemon=True)
        self._idle = threading.Condition()
        self._empty_polls = 0
        self.processed = 0  # records handled: sent and succeeded, or filtered out
        self.filtered = 0
        self.failed_batches = 0  # batches given up on (to the on-failure destination)
        self.discarded_records = 0
        self.invocations = 0
        self.bisections = 0

    @property
    def function(self) -> str:
        return self._mapping.function

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poke.set()
        self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until a poll that started after this call found the stream drained."""
        deadline = time.monotonic() + timeout
        with self._idle:
            target = self._empty_polls + 2
            while self._empty_polls < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._poke.set()  # an idle dispatcher polls at once instead of at its next tick
                self._idle.wait(min(remaining, IDLE_POLL_SECONDS))
            return True

    def status(self) -> dict[str, Any]:
        return {
            "function": self._mapping.function,
            "processed": self.processed,
            "filtered": self.filtered,
            "invocations": self.invocations,
            "bisections": self.bisections,
            "failed_batches": self.failed_batches,
            "discarded_records": self.discarded_records,
            "on_failure_queue_url": self._dlq,
        }

    # loop ------------------------------------------------------------------------------------
    def _run(self) -> None:
        idle_delay = IDLE_POLL_SECONDS
        while not self._stop.is_set():
            delivered = False
            try:
                for shard_id in self._shard_ids():  # a batch holds one shard's records, as in Lambda
                    records = self._collect_batch(shard_id)
                    if records:
                        self._deliver(shard_id, records)
                        delivered = True
            except Exception:  # the endpoint is going away at shutdown, or a transient error
                if self._stop.wait(0.5):
                    return
                continue
            if delivered:
                idle_delay = IDLE_POLL_SECONDS
                continue
            with self._idle:
                self._empty_polls += 1
                self._idle.notify_all()
            # Idle: poll less and less often, up to Lambda's rate (a long `make serve` stays cheap).
            self._poke.wait(idle_delay)
            self._poke.clear()
            idle_delay = min(MAX_IDLE_POLL_SECONDS, idle_delay * 2)

    def _collect_batch(self, shard_id: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self._mapping.batching_window_seconds
        batch = self._poll(shard_id, self._mapping.batch_size)
        # Like Lambda's MaximumBatchingWindowInSeconds: wait a little for a fuller batch.
        while batch and len(batch) < self._mapping.batch_size and time.monotonic() < deadline:
            time.sleep(0.05)
            more = self._poll(shard_id, self._mapping.batch_size - len(batch))
            if not more:
                break
            batch.extend(more)
        return batch

    def _poll(self, shard_id: str, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` records that pass the mapping's filters (the others are handled here)."""
        response = self._get_records(shard_id, limit)
        if response.get("NextShardIterator"):
            self._iterators[shard_id] = response["NextShardIterator"]
        found = response.get("Records", [])
        if not found:
            return []
        last = max((r["dynamodb"]["SequenceNumber"] for r in found), key=lambda seq: (len(seq), seq))
        self._last_sequence[shard_id] = last
        records = [self._lambda_record(record) for record in found]
        kept = [record for record in records if self._passes(record)]
        self.filtered += len(records) - len(kept)
        self.processed += len(records) - len(kept)
        if self._on_read is not None:
            self._on_read(last)
        return kept

    def _get_records(self, shard_id: str, limit: int) -> dict[str, Any]:
        iterator = self._iterators.get(shard_id) or self._new_iterator(shard_id)
        try:
            response: dict[str, Any] = self._streams.get_records(ShardIterator=iterator, Limit=limit)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            self._iterators.pop(shard_id, None)
            response = self._streams.get_records(ShardIterator=self._new_iterator(shard_id), Limit=limit)
        return response

    def _new_iterator(self, shard_id: str) -> str:
        """After the last record read; from the oldest record kept if that one is gone (trimmed)."""
        last = self._last_sequence.get(shard_id)
        if last is not None:
            try:
                return str(
                    self._streams.get_shard_iterator(
                        StreamArn=self._stream_arn,
                        ShardId=shard_id,
                        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                        SequenceNumber=last,
                    )["ShardIterator"]
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "TrimmedDataAccessException":
                    raise
        return str(
            self._streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        )

    def _shard_ids(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _passes(self, record: dict[str, Any]) -> bool:
        return not self._filters or any(pattern.matches_event(record) for pattern in self._filters)

    # delivery ----------------------------------------------------------------------------------
    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """One read batch until every record succeeded or was given up on (stream order kept)."""
        work = deque([_Batch(records)])
        while work and not self._stop.is_set():
            batch = work.popleft()
            batch.records = self._drop_expired(shard_id, batch)
            if not batch.records:
                continue
            answer = self._invoke_once(batch.records)
            batch.invocations += 1
            if answer.failed_from is None:
                self.processed += len(batch.records)
                continue
            if answer.function_error and self._mapping.bisect_on_function_error and len(batch.records) > 1:
                # Split in two, the first half first; a split uses no retry.
                self.bisections += 1
                half = len(batch.records) // 2
                work.appendleft(_Batch(batch.records[half:], batch.retries, batch.invocations))
                work.appendleft(_Batch(batch.records[:half], batch.retries, batch.invocations))
                continue
            done = answer.failed_from
            self.processed += done
            retries = 0 if done > 0 else batch.retries  # the checkpoint moved: count again from it
            remaining = batch.records[done:]
            if 0 <= self._mapping.max_retries <= retries:
                self._give_up(shard_id, remaining, "RetryAttemptsExhausted", batch.invocations)
                continue
            work.appendleft(_Batch(remaining, retries + 1, batch.invocations))
            self._stop.wait(min(MAX_BACKOFF_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (retries + 1)))

    def _drop_expired(self, shard_id: str, batch: _Batch) -> list[dict[str, Any]]:
        """MaximumRecordAgeInSeconds: records older than that go to the destination, never to the function."""
        if self._mapping.max_record_age_seconds < 0:
            return batch.records
        oldest_allowed = self._clock() - self._mapping.max_record_age_seconds
        expired = 0  # records are in stream order: the too-old ones come first
        while (
            expired < len(batch.records)
            and batch.records[expired]["dynamodb"].get("ApproximateCreationDateTime", oldest_allowed) < oldest_allowed
        ):
            expired += 1
        if expired:
            self._give_up(shard_id, batch.records[:expired], "RecordAgeExceeded", batch.invocations)
        return batch.records[expired:]

    def _invoke_once(self, records: list[dict[str, Any]]) -> _Answer:
        self.invocations += 1
        try:
            response = self._invoke(self._mapping.function, {"Records": records})
        except Exception:
            return _Answer(failed_from=0, function_error=True)
        if not self._mapping.report_batch_item_failures or not isinstance(response, dict):
            return _Answer(failed_from=None)
        failures = response.get("batchItemFailures")
        if not failures:
            return _Answer(failed_from=None)
        positions = {record["dynamodb"]["SequenceNumber"]: index for index, record in enumerate(records)}
        indexes = [
            positions.get(failure.get("itemIdentifier")) if isinstance(failure, dict) else None for failure in failures
        ]
        if any(index is None for index in indexes):
            return _Answer(failed_from=0)  # an empty, null or unknown identifier: the whole batch failed
        return _Answer(failed_from=min(index for index in indexes if index is not None))

    def _give_up(self, shard_id: str, records: list[dict[str, Any]], condition: str, invocations: int) -> None:
        self.failed_batches += 1
        self.discarded_records += len(records)
        if not self._dlq:
            return
        first, last = records[0], records[-1]
        message: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:cdp-local-{self._mapping.function}",
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "version": "1.0",
            "timestamp": _iso(self._clock()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["dynamodb"].get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last["dynamodb"].get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self._stream_arn,
            },
        }
        if invocations:
            message["responseContext"] = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": FUNCTION_ERROR,
            }
        self._sqs.send_message(QueueUrl=self._dlq, MessageBody=json.dumps(message))

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):  # boto3 parsed it; Lambda delivers epoch seconds
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp() + self._stamp_offset())
        return {
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", REGION),
            "dynamodb": _as_json(dynamodb),
            "eventSourceARN": self._stream_arn,
        }


def _as_json(value: Any) -> Any:
    """What Lambda's JSON event carries: binary attributes (`B`, `BS`) base64-encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pattern(raw: str) -> Any:
    """A Lambda filter pattern (the EventBridge pattern language), matched as moto's EventBridge does."""
    from moto.events.models import EventPattern, EventPatternParser

    return EventPattern(raw, EventPatternParser(raw).parse())
