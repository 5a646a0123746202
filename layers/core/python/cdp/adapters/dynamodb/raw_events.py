"""Raw events table: one conditional PutItem per event, keyed by the delivery's own id."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.clock import epoch_seconds
from cdp.errors import StoreUnavailable
from cdp.events.raw import RawEvent

# Events of one delivery are written concurrently: a 100-event LINE delivery must still be
# answered well inside LINE's timeout. Bounded so a big partner batch cannot open 500 sockets.
MAX_PARALLEL_WRITES = 16
# Bulk writes (CSV imports): BatchWriteItem's limit per request, a few requests in flight, and
# jittered exponential backoff for the items DynamoDB hands back unprocessed (throttling).
BATCH_WRITE_ITEMS = 25
MAX_PARALLEL_BATCHES = 4
BATCH_WRITE_ATTEMPTS = 8
BATCH_BACKOFF_SECONDS = 0.05


class DynamoRawEventStore:
    def __init__(self, client: Any, table_name: str, ttl_seconds: int) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_seconds

    def store_once(self, events: Sequence[RawEvent]) -> list[bool]:
        if len(events) <= 1:
            return [self._put(event) for event in events]
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_WRITES, len(events))) as pool:
            return list(pool.map(self._put, events))

    def put_all(self, events: Sequence[RawEvent]) -> None:
        """Unconditional batch writes, for writers whose event ids and items are deterministic.

        A row written again is the identical item, which DynamoDB stores without a new stream
        record, so the processor never sees it twice. Raises StoreUnavailable if items are left.
        """
        batches = [events[i : i + BATCH_WRITE_ITEMS] for i in range(0, len(events), BATCH_WRITE_ITEMS)]
        if len(batches) <= 1:
            for batch in batches:
                self._write_batch(batch)
            return
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_BATCHES, len(batches))) as pool:
            list(pool.map(self._write_batch, batches))

    def _write_batch(self, events: Sequence[RawEvent]) -> None:
        requests: list[dict[str, Any]] = [{"PutRequest": {"Item": self._item(event)}} for event in events]
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, BATCH_BACKOFF_SECONDS * 2**attempt))
            try:
                response = self._client.batch_write_item(RequestItems={self._table: requests})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "writing raw events") from exc
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return
        raise StoreUnavailable(
            f"{len(requests)} raw events were still unprocessed after {BATCH_WRITE_ATTEMPTS} attempts",
            details={"aws_error": "UnprocessedItems"},
        )

    def _put(self, event: RawEvent) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._item(event),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "storing a raw event") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "storing a raw event") from exc
        return True

    def _item(self, event: RawEvent) -> dict[str, Any]:
        received_epoch = epoch_seconds(event.received_at)
        item: dict[str, Any] = {
            "pk": {"S": event.event_id},
            "origin": {"S": event.origin},
            "source": {"S": event.source},
            "received_at": {"S": event.received_at},
            "payload": {"S": json.dumps(event.payload, ensure_ascii=False, separators=(",", ":"))},
            "expires_at": {"N": str(received_epoch + self._ttl_seconds)},
        }
        if event.destination:
            item["destination"] = {"S": event.destination}
        if event.provider:
            item["provider"] = {"S": event.provider}
        return item


def raw_event_from_item(item: dict[str, Any]) -> RawEvent:
    """Inverse of the write above, for stream records (DynamoDB JSON `NewImage`)."""
    return RawEvent(
        event_id=item["pk"]["S"],
        origin=item["origin"]["S"],
        source=item["source"]["S"],
        received_at=item["received_at"]["S"],
        payload=json.loads(item["payload"]["S"]),
        destination=item.get("destination", {}).get("S"),
        provider=item.get("provider", {}).get("S"),
    )
