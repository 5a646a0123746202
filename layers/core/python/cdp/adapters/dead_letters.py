"""Adapters of cdp.operations.dead_letters: the stream, the dead-letter items, raw items, the processor.

Dead letters live in the core table under one partition, `DEADLETTER#processor` (sk = event id):
they are few, listed together, and the key prefix lets IAM keep writers to those items. Each
carries the raw item's TTL as its own `expires_at`, so a letter leaves when its raw event does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.errors import StoreUnavailable
from cdp.operations.dead_letters import (
    INSERT,
    DeadLetter,
    StreamBatch,
    StreamRecordKey,
    StreamRecordsGone,
    sequence_order,
)

PK_PREFIX = "DEADLETTER#"
PROCESSOR_PK = f"{PK_PREFIX}processor"
BATCH_GET_KEYS = 100  # BatchGetItem's limit per request
BATCH_WRITE_ITEMS = 25
BATCH_ATTEMPTS = 8
STREAM_PAGE = 1000  # GetRecords' maximum
MAX_EMPTY_PAGES = 50  # an open shard answers empty pages past its end; stop after a few
# Lambda's synchronous request limit is 6 MB; stay under it with the stream-record wrapping.
MAX_INVOKE_BYTES = 5 * 1024 * 1024
TRIMMED = ("TrimmedDataAccessException", "ExpiredIteratorException")


class DynamoStreamRecords:
    """Reads a failed batch's records back from the DynamoDB stream (dynamodbstreams client)."""

    def __init__(self, streams: Any) -> None:
        self._streams = streams

    def keys(self, batch: StreamBatch) -> list[StreamRecordKey]:
        shards = self._shard_ids(batch.stream_arn)
        if batch.shard_id in shards:
            return self._read_shard(batch, batch.shard_id)
        # Not a listed shard: a local stack names none (`local`), so look in each; in AWS a shard
        # leaves the listing with its records, 24 hours after it closed.
        for shard_id in shards:
            found = self._read_shard(batch, shard_id)
            if found:
                return found
        raise StreamRecordsGone(f"shard {batch.shard_id} is no longer in the stream")

    def _shard_ids(self, stream_arn: str) -> list[str]:
        shards: list[str] = []
        request: dict[str, Any] = {"StreamArn": stream_arn}
        while True:
            try:
                description = self._streams.describe_stream(**request)["StreamDescription"]
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "describing the stream") from exc
            shards.extend(shard["ShardId"] for shard in description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shards
            request["ExclusiveStartShardId"] = last

    def _read_shard(self, batch: StreamBatch, shard_id: str) -> list[StreamRecordKey]:
        end = sequence_order(batch.end_sequence)
        try:
            iterator = self._streams.get_shard_iterator(
                StreamArn=batch.stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AT_SEQUENCE_NUMBER",
                SequenceNumber=batch.start_sequence,
            ).get("ShardIterator")
        except ClientError as exc:
            if _code(exc) in TRIMMED:
                raise StreamRecordsGone(f"the stream no longer holds {batch.start_sequence}") from exc
            if _code(exc) in ("ValidationException", "ResourceNotFoundException"):
                return []  # not a sequence number of this shard
            raise unavailable(exc, "reading the stream") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "reading the stream") from exc
        keys: list[StreamRecordKey] = []
        empty_pages = 0
        while iterator and empty_pages < MAX_EMPTY_PAGES:
            try:
                response = self._streams.get_records(ShardIterator=iterator, Limit=STREAM_PAGE)
            except ClientError as exc:
                if _code(exc) in TRIMMED:
                    raise StreamRecordsGone("the stream trimmed the batch while it was read") from exc
                raise unavailable(exc, "reading the stream") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, "reading the stream") from exc
            records = response.get("Records", [])
            empty_pages = 0 if records else empty_pages + 1
            for record in records:
                dynamodb = record.get("dynamodb", {})
                sequence = dynamodb.get("SequenceNumber", "")
                if sequence_order(sequence) > end:
                    return keys
                if sequence_order(sequence) < sequence_order(batch.start_sequence):
                    continue
                if record.get("eventName") != INSERT:
                    continue
                keys.append(_key(sequence, dynamodb))
            iterator = response.get("NextShardIterator")
        return keys


def _key(sequence: str, dynamodb: Mapping[str, Any]) -> StreamRecordKey:
    expires = dynamodb.get("NewImage", {}).get("expires_at", {}).get("N")
    return StreamRecordKey(
        sequence_number=sequence,
        event_id=dynamodb["Keys"]["pk"]["S"],
        expires_at=int(expires) if expires and expires.isdigit() else None,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoDeadLetterStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put(self, letters: Sequence[DeadLetter]) -> None:
        unique = list({letter.event_id: letter for letter in letters}.values())
        for start in range(0, len(unique), BATCH_WRITE_ITEMS):
            self._batch_write(
                [{"PutRequest": {"Item": _item(letter)}} for letter in unique[start : start + BATCH_WRITE_ITEMS]]
            )

    def remove(self, event_ids: Sequence[str]) -> None:
        unique = list(dict.fromkeys(event_ids))
        for start in range(0, len(unique), BATCH_WRITE_ITEMS):
            self._batch_write(
                [
                    {"DeleteRequest": {"Key": {"pk": {"S": PROCESSOR_PK}, "sk": {"S": event_id}}}}
                    for event_id in unique[start : start + BATCH_WRITE_ITEMS]
                ]
            )

    def pending(self, limit: int) -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": PROCESSOR_PK}},
            "ConsistentRead": True,
        }
        while len(letters) < limit:
            try:
                page = self._client.query(**request, Limit=min(1000, limit - len(letters)))
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "listing dead letters") from exc
            letters.extend(_letter(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return letters

    def get(self, event_ids: Sequence[str]) -> list[DeadLetter]:
        keys = [{"pk": {"S": PROCESSOR_PK}, "sk": {"S": event_id}} for event_id in dict.fromkeys(event_ids)]
        return [_letter(item) for item in _batch_get(self._client, self._table, keys)]

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for _attempt in range(BATCH_ATTEMPTS):
            if not requests:
                return
            try:
                response = self._client.batch_write_item(RequestItems={self._table: requests})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "writing dead letters") from exc
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
        if requests:
            raise StoreUnavailable("dead letters left unprocessed", details={"aws_error": "UnprocessedItems"})


def _item(letter: DeadLetter) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": PROCESSOR_PK},
        "sk": {"S": letter.event_id},
        "failed_at": {"S": letter.failed_at},
        "condition": {"S": letter.condition},
        "stream_arn": {"S": letter.stream_arn},
        "shard_id": {"S": letter.shard_id},
        "sequence_number": {"S": letter.sequence_number},
    }
    if letter.expires_at is not None:
        item["expires_at"] = {"N": str(letter.expires_at)}
    return item


def _letter(item: Mapping[str, Any]) -> DeadLetter:
    expires = item.get("expires_at", {}).get("N")
    return DeadLetter(
        event_id=item["sk"]["S"],
        failed_at=item["failed_at"]["S"],
        condition=item["condition"]["S"],
        stream_arn=item["stream_arn"]["S"],
        shard_id=item["shard_id"]["S"],
        sequence_number=item["sequence_number"]["S"],
        expires_at=int(expires) if expires else None,
    )


def _batch_get(client: Any, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        pending: dict[str, Any] = {table: {"Keys": keys[start : start + BATCH_GET_KEYS], "ConsistentRead": True}}
        for _attempt in range(BATCH_ATTEMPTS):
            try:
                response = client.batch_get_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "reading items") from exc
            items.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
        if pending:
            raise StoreUnavailable("items left unread", details={"aws_error": "UnprocessedKeys"})
    return items


class DynamoRawEventItems:
    """The raw-events table's items as stored (DynamoDB JSON), to hand back to the processor."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        keys = [{"pk": {"S": event_id}} for event_id in dict.fromkeys(event_ids)]
        return {item["pk"]["S"]: item for item in _batch_get(self._client, self._table, keys)}


class LambdaProcessorGateway:
    """Invokes the event processor synchronously with the raw items shaped as stream records.

    The processor answers partial batch failures by sequence number; replay numbers the records
    itself, so the answer maps back to event ids. A function error fails the whole chunk.
    """

    def __init__(self, client: Any, function_name: str, *, stream_arn: str = "replay") -> None:
        self._client = client
        self._function = function_name
        self._stream_arn = stream_arn

    def submit(self, items: Mapping[str, dict[str, Any]]) -> set[str]:
        failed: set[str] = set()
        for chunk in self._chunks(items):
            failed |= self._invoke(chunk)
        return failed

    def _chunks(self, items: Mapping[str, dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
        chunks: list[dict[str, dict[str, Any]]] = [{}]
        size = 0
        for event_id, item in items.items():
            item_size = len(json.dumps(item)) + 512
            if chunks[-1] and size + item_size > MAX_INVOKE_BYTES:
                chunks.append({})
                size = 0
            chunks[-1][event_id] = item
            size += item_size
        return [chunk for chunk in chunks if chunk]

    def _invoke(self, chunk: Mapping[str, dict[str, Any]]) -> set[str]:
        by_sequence = {str(index + 1): event_id for index, event_id in enumerate(chunk)}
        records = [
            stream_record(event_id, chunk[event_id], sequence, self._stream_arn)
            for sequence, event_id in by_sequence.items()
        ]
        try:
            response = self._client.invoke(
                FunctionName=self._function,
                InvocationType="RequestResponse",
                Payload=json.dumps({"Records": records}).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "invoking the event processor") from exc
        body = response["Payload"].read()
        if response.get("FunctionError"):
            return set(chunk)
        answer = json.loads(body or b"null") or {}
        failures = answer.get("batchItemFailures") or [] if isinstance(answer, dict) else []
        failed_sequences = [failure.get("itemIdentifier") for failure in failures if isinstance(failure, dict)]
        # Like Lambda: an identifier that was not sent fails the whole batch.
        if any(not isinstance(sequence, str) or sequence not in by_sequence for sequence in failed_sequences):
            return set(chunk)
        return {by_sequence[str(sequence)] for sequence in failed_sequences}


def stream_record(event_id: str, item: dict[str, Any], sequence: str, stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream INSERT record of a raw item, as Lambda delivers it."""
    return {
        "eventID": f"replay-{sequence}",
        "eventName": INSERT,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"pk": {"S": event_id}},
            "NewImage": item,
            "SequenceNumber": sequence,
            "SizeBytes": len(json.dumps(item)),
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": stream_arn,
    }
