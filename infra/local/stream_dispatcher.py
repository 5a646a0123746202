"""Feed a DynamoDB stream to a handler in batches, the way a Lambda event source mapping does.

Settings come from the template's event source mapping: batch size, batching window, retry
attempts, partial batch responses (`batchItemFailures`: retry from the first failed record)
and the on-failure destination (an SQS message describing the batch that was given up on).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from infra.local.config import REGION
from infra.local.provision import StreamMapping

IDLE_POLL_SECONDS = 0.05


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
    ) -> None:
        self._streams = streams
        self._sqs = sqs
        self._stream_arn = stream_arn
        self._mapping = mapping
        self._invoke = invoke
        self._dlq = on_failure_queue_url
        self._last_sequence: dict[str, str] = {}  # shard id -> the last sequence number read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{mapping.function}", daemon=True)
        self._idle = threading.Condition()
        self._empty_polls = 0
        self.processed = 0
        self.failed_batches = 0
        self.invocations = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until a poll that started after this call found the stream drained."""
        with self._idle:
            target = self._empty_polls + 2
            return self._idle.wait_for(lambda: self._empty_polls >= target, timeout=timeout)

    # loop ------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                records = self._collect_batch()
            except Exception:  # the endpoint is going away at shutdown, or a transient error
                if self._stop.wait(0.5):
                    return
                continue
            if records:
                self._deliver(records)
                continue
            with self._idle:
                self._empty_polls += 1
                self._idle.notify_all()
            self._stop.wait(IDLE_POLL_SECONDS)

    def _collect_batch(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self._mapping.batching_window_seconds
        batch = self._poll(self._mapping.batch_size)
        # Like Lambda's MaximumBatchingWindowInSeconds: wait a little for a fuller batch.
        while batch and len(batch) < self._mapping.batch_size and time.monotonic() < deadline:
            time.sleep(0.05)
            more = self._poll(self._mapping.batch_size - len(batch))
            if not more:
                break
            batch.extend(more)
        return batch

    def _poll(self, limit: int) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for shard_id in self._shard_ids():
            if len(records) >= limit:
                break
            # A fresh iterator after the last record read, on every poll: moto replaces a table's
            # stream shard object when it rolls back a cancelled transaction, and an iterator it
            # handed out earlier would then read the abandoned copy forever.
            last = self._last_sequence.get(shard_id)
            position = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
                if last
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = self._streams.get_shard_iterator(StreamArn=self._stream_arn, ShardId=shard_id, **position)
            response = self._streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=limit - len(records))
            found = response.get("Records", [])
            if found:
                self._last_sequence[shard_id] = max(
                    (r["dynamodb"]["SequenceNumber"] for r in found), key=lambda seq: (len(seq), seq)
                )
            records.extend(found)
        return records

    def _shard_ids(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending = [self._lambda_record(record) for record in records]
        attempts = 0
        while pending and not self._stop.is_set():
            failed_from = self._invoke_once(pending)
            if failed_from is None:
                self.processed += len(pending)
                return
            self.processed += failed_from
            pending = pending[failed_from:]  # checkpoint: everything before the failure is done
            attempts += 1
            if attempts > self._mapping.max_retries:
                self._give_up(pending, attempts)
                return
            time.sleep(min(2.0, 0.05 * 2**attempts))

    def _invoke_once(self, records: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry, or None when the whole batch succeeded."""
        self.invocations += 1
        try:
            response = self._invoke(self._mapping.function, {"Records": records})
        except Exception:
            return 0
        failures = (response or {}).get("batchItemFailures") or [] if self._mapping.report_batch_item_failures else []
        if not failures:
            return None
        failed_ids = {failure.get("itemIdentifier") for failure in failures}
        for index, record in enumerate(records):
            if record["dynamodb"]["SequenceNumber"] in failed_ids:
                return index
        return 0  # an identifier we did not send: Lambda treats the batch as failed

    def _give_up(self, records: list[dict[str, Any]], attempts: int) -> None:
        self.failed_batches += 1
        if not self._dlq:
            return
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        message = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
            "DDBStreamBatchInfo": {
                "shardId": "local",
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "batchSize": len(records),
                "streamArn": self._stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._dlq, MessageBody=json.dumps(message))

    def _lambda_record(self, record: dict[str, Any]) -> dict[str, Any]:
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if hasattr(created, "timestamp"):  # boto3 parsed it; Lambda delivers epoch seconds
            dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
        return {
            "eventID": record.get("eventID"),
            "eventName": record.get("eventName"),
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", REGION),
            "dynamodb": dynamodb,
            "eventSourceARN": self._stream_arn,
        }
