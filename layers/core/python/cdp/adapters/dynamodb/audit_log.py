"""The audit log in the core table (cdp.access.audit).

pk `AUDIT#<YYYY-MM-DD>` (the UTC day of the action), sk `<ISO-8601 ms>#<request id>` (a
descending query reads newest first; a retried write of the same request overwrites itself),
`at_ms`, the record as JSON in `doc`, and the table's TTL attribute `expires_at`. pk `AUDIT#DAYS`,
sk `<YYYY-MM-DD>`: the days that have records, so a page skips empty days. The admin
functions may write these items only (their grant is conditioned on the key prefix); the archive
stream skips them (it archives PROFILE# items only).

A page is read with filters applied here, not in DynamoDB: a day of admin actions is small, and
each page reads at most `MAX_READ` items before answering with a cursor.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.access.audit import (
    AUDIT_PK_PREFIX,
    AuditPage,
    AuditQuery,
    AuditRecord,
    Cursor,
    audit_partition,
    day_of,
    expires_at,
)
from cdp.adapters.dynamodb.errors import unavailable
from cdp.clock import iso_from_ms

TTL_ATTRIBUTE = "expires_at"
DAYS_PK = AUDIT_PK_PREFIX + "DAYS"  # sk: each UTC day that has records
MAX_READ = 1000  # items read per page at most, matching or not
_QUERY_LIMIT = 200


def sort_key(record: AuditRecord) -> str:
    return f"{record.at}#{record.request_id}"


class DynamoAuditLog:
    def __init__(self, client: Any, table_name: str, *, retention_days: int) -> None:
        self._client = client
        self._table = table_name
        self._retention_days = retention_days

    def record(self, record: AuditRecord) -> None:
        item = {
            "pk": {"S": audit_partition(day_of(record.at_ms))},
            "sk": {"S": sort_key(record)},
            "at_ms": {"N": str(record.at_ms)},
            "doc": {"S": json.dumps(record.stored(), ensure_ascii=False, separators=(",", ":"))},
            TTL_ATTRIBUTE: {"N": str(expires_at(record.at_ms, self._retention_days))},
        }
        # The day's entry in the days index: a page reads only days that have records.
        day = {
            "pk": {"S": DAYS_PK},
            "sk": {"S": day_of(record.at_ms)},
            TTL_ATTRIBUTE: {"N": str(expires_at(record.at_ms + 86_400_000, self._retention_days))},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
            self._client.put_item(TableName=self._table, Item=day)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "recording an audit record") from exc

    def page(self, query: AuditQuery, cursor: Cursor | None) -> AuditPage:
        found: list[AuditRecord] = []
        read = 0
        lowest = iso_from_ms(query.from_ms)
        highest = iso_from_ms(query.to_ms - 1) + "#\uffff"
        for day in self._days(query, cursor):
            after = cursor.after_sk if cursor is not None and day == cursor.day else None
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {
                    ":pk": {"S": audit_partition(day)},
                    ":lo": {"S": lowest},
                    ":hi": {"S": min(highest, after) if after is not None else highest},
                },
                "ScanIndexForward": False,
                "Limit": _QUERY_LIMIT,
            }
            while True:
                response = self._query(kwargs)
                for item in response.get("Items", []):
                    sk = item["sk"]["S"]
                    if sk == after:  # the cursor's own item was on the previous page
                        continue
                    read += 1
                    record = AuditRecord.from_stored(json.loads(item["doc"]["S"]))
                    if query.matches(record):
                        found.append(record)
                    if len(found) >= query.limit or read >= MAX_READ:
                        return AuditPage(found, Cursor(day, sk))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return AuditPage(found, None)

    def _days(self, query: AuditQuery, cursor: Cursor | None) -> list[str]:
        """The days of the range that have records, newest first, from the cursor's day."""
        newest = day_of(query.to_ms - 1)
        if cursor is not None:
            newest = min(newest, cursor.day)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": {"S": DAYS_PK},
                ":lo": {"S": day_of(query.from_ms)},
                ":hi": {"S": newest},
            },
            "ScanIndexForward": False,
        }
        days: list[str] = []
        while True:
            response = self._query(kwargs)
            days.extend(item["sk"]["S"] for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return days
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _query(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self._client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the audit log") from exc
        return response
