"""Rejected ingest events in the core table: one item per rejection, a partition per UTC day.

pk `INGEST_REJECTIONS#<YYYY-MM-DD>`, sk `<received at>#<random>#<index>` (newest last, so a
descending query reads newest first), the rejection as JSON in `doc`, and the table's TTL
attribute set `RETENTION_DAYS` ahead. The ingest function may write these items only (its grant
is conditioned on the key prefix); the core table's archive stream filter skips them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.ingestion.rejections import MAX_RECORDED_PER_REQUEST, RETENTION_DAYS, IngestRejection

PK_PREFIX = "INGEST_REJECTIONS#"
TTL_ATTRIBUTE = "expires_at"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


class DynamoIngestRejections:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def record(self, rejections: Sequence[IngestRejection]) -> None:
        if not rejections:
            return
        batch = uuid.uuid4().hex[:12]  # two requests in the same millisecond keep both
        requests = [
            {"PutRequest": {"Item": self._item(rejection, batch)}}
            for rejection in rejections[:MAX_RECORDED_PER_REQUEST]
        ]
        try:
            response = self._client.batch_write_item(RequestItems={self._table: requests})
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "recording ingest rejections") from exc
        left = response.get("UnprocessedItems", {}).get(self._table)
        if left:  # a debugging aid: one retry, then what is left is dropped
            try:
                self._client.batch_write_item(RequestItems={self._table: left})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "recording ingest rejections") from exc

    def recent(self, *, now_ms: int, limit: int) -> list[IngestRejection]:
        found: list[IngestRejection] = []
        today = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        for days_back in range(RETENTION_DAYS + 1):
            pk = f"{PK_PREFIX}{_day(today - timedelta(days=days_back))}"
            found.extend(self._query(pk, limit - len(found)))
            if len(found) >= limit:
                break
        return found

    def _query(self, pk: str, limit: int) -> list[IngestRejection]:
        found: list[IngestRejection] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        try:
            while len(found) < limit:
                response = self._client.query(**kwargs)
                found.extend(IngestRejection.from_dict(json.loads(item["doc"]["S"])) for item in response["Items"])
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
                kwargs["Limit"] = limit - len(found)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading ingest rejections") from exc
        return found[:limit]

    @staticmethod
    def _item(rejection: IngestRejection, batch: str) -> dict[str, Any]:
        received = datetime.fromisoformat(rejection.received_at.replace("Z", "+00:00"))
        expires_at = int((received + timedelta(days=RETENTION_DAYS)).timestamp())
        index = -1 if rejection.index is None else rejection.index
        return {
            "pk": {"S": f"{PK_PREFIX}{_day(received)}"},
            "sk": {"S": f"{rejection.received_at}#{batch}#{index + 1:06d}"},
            "doc": {"S": json.dumps(rejection.as_dict(), separators=(",", ":"))},
            TTL_ATTRIBUTE: {"N": str(expires_at)},
        }
