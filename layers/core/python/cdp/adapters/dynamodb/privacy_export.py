"""Person exports in DynamoDB: the job record, and the reads an export makes that no other
adapter offers (a profile's whole segment history, raw events and send records by key).

Job item: `QUERYJOB#<job id>` / `EXPORT` (the query jobs' key space, so the same grants and TTL
cover it; the sort key keeps it out of `GET /admin/v1/jobs/{id}`), the job as JSON in `doc`, its
status in `job_status` for conditional writes, `restartable` (a job that never started, which a
retry may replace), `expires_at` for TTL. It holds no personal data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.adapters.dynamodb.segment_store import history_key
from cdp.adapters.dynamodb.send_ledger import SEND_PREFIX
from cdp.errors import StoreUnavailable
from cdp.privacy.export_jobs import STATUS_RUNNING, ExportJob
from cdp.segments.store import MembershipChange

PK_PREFIX = "QUERYJOB#"
SK = "EXPORT"
BATCH_GET_LIMIT = 100
PARALLEL_BATCHES = 4
BATCH_GET_ATTEMPTS = 8


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _key(job_id: str) -> dict[str, Any]:
    return {"pk": _s(f"{PK_PREFIX}{job_id}"), "sk": _s(SK)}


class DynamoExportJobs:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, job: ExportJob, *, expires_at: int) -> bool:
        item = {**self._item(job), "expires_at": {"N": str(expires_at)}}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR restartable = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "storing the export job") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "storing the export job") from exc
        return True

    def get(self, job_id: str) -> ExportJob | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=_key(job_id), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the export job") from exc
        return ExportJob.from_dict(json.loads(item["doc"]["S"])) if item else None

    def update(self, job: ExportJob) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(job.job_id),
                UpdateExpression="SET job_status = :status, doc = :doc, restartable = :restartable",
                ConditionExpression="job_status = :running",
                ExpressionAttributeValues={
                    ":status": _s(job.status),
                    ":doc": _s(json.dumps(job.as_dict(), separators=(",", ":"))),
                    ":running": _s(STATUS_RUNNING),
                    ":restartable": {"BOOL": job.restartable},
                },
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "updating the export job") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "updating the export job") from exc
        return True

    @staticmethod
    def _item(job: ExportJob) -> dict[str, Any]:
        return {
            **_key(job.job_id),
            "kind": _s("profile_export"),
            "job_status": _s(job.status),
            "doc": _s(json.dumps(job.as_dict(), separators=(",", ":"))),
        }


class DynamoExportReads:
    def __init__(self, client: Any, core_table: str, raw_events_table: str) -> None:
        self._client = client
        self._core = core_table
        self._raw = raw_events_table

    def segment_history(self, profile_id: str) -> list[MembershipChange]:
        request: dict[str, Any] = {
            "TableName": self._core,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(history_key(profile_id))},
        }
        changes: list[MembershipChange] = []
        try:
            while True:
                response = self._client.query(**request)
                changes.extend(
                    MembershipChange(
                        segment_id=item["segment_id"]["S"],
                        profile_id=item["profile_id"]["S"],
                        action=item["action"]["S"],
                        at=item["at"]["S"],
                        rule_version=int(item["rule_version"]["N"]),
                    )
                    for item in response.get("Items", [])
                    if "segment_id" in item
                )
                if "LastEvaluatedKey" not in response:
                    return changes
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a profile's segment history") from exc

    def raw_events(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        items = self._batch_get(self._raw, [{"pk": _s(event_id)} for event_id in dict.fromkeys(event_ids)])
        events: list[dict[str, Any]] = []
        for item in items:
            event: dict[str, Any] = {
                "event_id": item["pk"]["S"],
                "origin": item.get("origin", {}).get("S"),
                "source": item.get("source", {}).get("S"),
                "received_at": item.get("received_at", {}).get("S"),
                "expires_at": int(item.get("expires_at", {}).get("N", "0")),
                "payload": json.loads(item["payload"]["S"]) if "payload" in item else None,
            }
            for optional in ("destination", "provider"):
                if optional in item:
                    event[optional] = item[optional]["S"]
            events.append(event)
        return events

    def send_records(self, send_keys: Sequence[str]) -> list[dict[str, Any]]:
        keys = [{"pk": _s(SEND_PREFIX + key), "sk": _s("SEND")} for key in dict.fromkeys(send_keys)]
        records: list[dict[str, Any]] = []
        for item in self._batch_get(self._core, keys):
            if "doc" in item:
                records.append(json.loads(item["doc"]["S"]))
        return records

    def _batch_get(self, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        chunks = [keys[i : i + BATCH_GET_LIMIT] for i in range(0, len(keys), BATCH_GET_LIMIT)]
        if len(chunks) <= 1:
            return [item for chunk in chunks for item in self._get_chunk(table, chunk)]
        with ThreadPoolExecutor(max_workers=PARALLEL_BATCHES) as pool:
            return [item for items in pool.map(lambda chunk: self._get_chunk(table, chunk), chunks) for item in items]

    def _get_chunk(self, table: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {table: {"Keys": keys}}
        try:
            for _attempt in range(BATCH_GET_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                found.extend(response.get("Responses", {}).get(table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    return found
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading items for an export") from exc
        raise StoreUnavailable("DynamoDB kept keys of an export unprocessed; retrying")
