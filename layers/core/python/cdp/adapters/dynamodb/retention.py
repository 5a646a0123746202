"""Retention in the core table: the policy, the runs, and the sweeps of timeline, sends and audit.

Items:
  CONFIG#retention#<workspace> / CONFIG   the policy (days per kind), versioned compare-and-set
  RETENTION#runs / <run id>               one run (its scheduled time or day), per-kind counts, cursors

Sweeps:
- `CoreTableSweeper` scans the table once per run (pages of up to 1 MB, the cursor is the scan's
  LastEvaluatedKey) and deletes, with BatchWriteItem, the timeline entries
  (PROFILE#<id> / EVENT#<time>#<id>, by the event time in the sort key) and the send records and
  multicast batches (SEND#, SENDBATCH#, by their send time: `expires_at` minus the ledger's keep
  period) older than their cutoffs. One scan serves both kinds: the table has no index by age.
- `AuditLogSweeper` reads the audit log's index of days (AUDIT#DAYS) up to the cutoff's day and
  each listed day's partition (AUDIT#<YYYY-MM-DD>, sk `<ISO at>#...`): no scan.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.access.audit import AUDIT_PK_PREFIX
from cdp.adapters.dynamodb.audit_log import DAYS_PK
from cdp.adapters.dynamodb.config_items import VersionedConfigItem
from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.adapters.dynamodb.send_ledger import BATCH_PREFIX, RECORD_KEEP_SECONDS, SEND_PREFIX
from cdp.clock import iso_from_ms, ms_from_datetime
from cdp.errors import StoreUnavailable
from cdp.privacy.retention import AUDIT_LOG, SEND_RECORDS, TIMELINE, Kind, RetentionPolicy
from cdp.privacy.retention_job import RetentionRun, SweepPage
from cdp.privacy.retention_store import RunTaken

POLICY_PREFIX = "CONFIG#retention#"
RUNS_PK = "RETENTION#runs"
PROFILE_PREFIX = "PROFILE#"
EVENT_SK_PREFIX = "EVENT#"
AUDIT_PREFIX = AUDIT_PK_PREFIX  # the audit log's day partitions
AUDIT_DAYS_PK = DAYS_PK  # the audit log's index of days with rows
# Key prefixes this module deletes under: infra conditions the job's delete grant on them.
DELETED_KEY_PREFIXES = (PROFILE_PREFIX, SEND_PREFIX, BATCH_PREFIX, AUDIT_PREFIX)
BATCH_WRITE_ITEMS = 25
BATCH_WRITE_ATTEMPTS = 8
PARALLEL_BATCHES = 4
BACKOFF_SECONDS = 0.05


def _ms(iso: str) -> int | None:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ms_from_datetime(moment)


class DynamoRetentionStore:
    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._client = client
        self._table = table_name
        self._item = VersionedConfigItem(
            client, table_name, pk_prefix=POLICY_PREFIX, workspace=workspace, what="retention settings"
        )

    def policy(self, *, raw_event_ttl_days: int) -> RetentionPolicy:
        stored = self._item.read()
        if stored is None:
            return RetentionPolicy(raw_event_ttl_days=raw_event_ttl_days)
        document, version = stored
        return RetentionPolicy.from_stored(document, version=version, raw_event_ttl_days=raw_event_ttl_days)

    def save_policy(self, policy: RetentionPolicy, *, expected_version: int) -> RetentionPolicy:
        self._item.write(policy.stored(), expected_version=expected_version)
        return policy

    def save_run(self, run: RetentionRun, *, expected_revision: int) -> None:
        item = {
            "pk": {"S": RUNS_PK},
            "sk": {"S": run.run_id},
            "revision": {"N": str(run.revision)},
            "doc": {"S": json.dumps(run.stored())},
        }
        request: dict[str, Any] = {"TableName": self._table, "Item": item}
        if expected_revision:
            request["ConditionExpression"] = "revision = :expected"
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_revision)}}
        else:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                raise RunTaken(f"retention run {run.run_id} was saved by another invocation") from exc
            raise unavailable(exc, "saving a retention run") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "saving a retention run") from exc

    def get_run(self, run_id: str) -> RetentionRun | None:
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": RUNS_PK}, "sk": {"S": run_id}}, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a retention run") from exc
        return RetentionRun.from_stored(json.loads(item["doc"]["S"])) if item else None

    def recent_runs(self, limit: int) -> list[RetentionRun]:
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": RUNS_PK}},
                ScanIndexForward=False,
                Limit=limit,
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading retention runs") from exc
        return [RetentionRun.from_stored(json.loads(item["doc"]["S"])) for item in response.get("Items", [])]


class BatchDeleter:
    """BatchWriteItem deletes, 25 keys a request and a few requests in flight, unprocessed keys
    retried with jittered backoff (throttling)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def delete(self, keys: Sequence[dict[str, Any]]) -> None:
        batches = [keys[start : start + BATCH_WRITE_ITEMS] for start in range(0, len(keys), BATCH_WRITE_ITEMS)]
        if len(batches) <= 1:
            for batch in batches:
                self._delete_batch(batch)
            return
        with ThreadPoolExecutor(max_workers=min(PARALLEL_BATCHES, len(batches))) as pool:
            list(pool.map(self._delete_batch, batches))

    def _delete_batch(self, keys: Sequence[dict[str, Any]]) -> None:
        requests: list[dict[str, Any]] = [{"DeleteRequest": {"Key": key}} for key in keys]
        for attempt in range(BATCH_WRITE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))
            try:
                response = self._client.batch_write_item(RequestItems={self._table: requests})
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "deleting items past retention") from exc
            requests = response.get("UnprocessedItems", {}).get(self._table, [])
            if not requests:
                return
        raise StoreUnavailable(f"{len(requests)} deletes were still unprocessed; the run resumes")


class CoreTableSweeper:
    """Timeline entries and send records, in one scan of the core table."""

    name = "core_table"
    kinds: tuple[Kind, ...] = (TIMELINE, SEND_RECORDS)

    def __init__(self, client: Any, table_name: str, *, page_items: int | None = None) -> None:
        self._client = client
        self._table = table_name
        self._page_items = page_items  # None: DynamoDB's 1 MB pages
        self._deleter = BatchDeleter(client, table_name)

    def sweep(self, cutoffs_ms: Mapping[Kind, int], cursor: str | None) -> SweepPage:
        request: dict[str, Any] = {
            "TableName": self._table,
            # Keys and the send time only: the bytes returned, not the capacity billed (that is
            # the items' full size either way).
            "ProjectionExpression": "pk, sk, expires_at",
        }
        if self._page_items:
            request["Limit"] = self._page_items
        if cursor:
            request["ExclusiveStartKey"] = json.loads(cursor)
        try:
            response = self._client.scan(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "scanning the core table for retention") from exc
        removed: dict[Kind, int] = {}
        oldest: dict[Kind, int] = {}
        doomed: list[dict[str, Any]] = []
        for item in response.get("Items", []):
            aged = _aged(item)
            if aged is None or aged[0] not in cutoffs_ms:
                continue
            kind, at_ms = aged
            if at_ms < cutoffs_ms[kind]:
                doomed.append({"pk": item["pk"], "sk": item["sk"]})
                removed[kind] = removed.get(kind, 0) + 1
            else:
                oldest[kind] = min(oldest.get(kind, at_ms), at_ms)
        self._deleter.delete(doomed)
        last = response.get("LastEvaluatedKey")
        return SweepPage(removed, oldest, json.dumps(last) if last else None)


def _aged(item: Mapping[str, Any]) -> tuple[Kind, int] | None:
    """The kind of a core item this sweep governs and its time (epoch ms), or None."""
    pk, sk = item["pk"]["S"], item["sk"]["S"]
    if pk.startswith(PROFILE_PREFIX) and sk.startswith(EVENT_SK_PREFIX):
        at = _ms(sk[len(EVENT_SK_PREFIX) :].split("#", 1)[0])
        return (TIMELINE, at) if at is not None else None
    if (pk.startswith(SEND_PREFIX) and sk == "SEND") or (pk.startswith(BATCH_PREFIX) and sk == "BATCH"):
        expires = item.get("expires_at", {}).get("N")
        return (SEND_RECORDS, (int(expires) - RECORD_KEEP_SECONDS) * 1000) if expires else None
    return None


class AuditLogSweeper:
    """Audit rows by day partition (AUDIT#<YYYY-MM-DD>, sk `<ISO at>#<request id>`), the days
    listed by the audit log's own index (AUDIT#DAYS / <YYYY-MM-DD>, one item per day with rows):
    rows before the cutoff go, and the index item of each day before the cutoff's day. The cursor
    is the last day swept; a page is up to 30 days."""

    name = "audit_log"
    kinds: tuple[Kind, ...] = (AUDIT_LOG,)

    def __init__(self, client: Any, table_name: str, *, days_per_page: int = 30) -> None:
        self._client = client
        self._table = table_name
        self._days_per_page = days_per_page
        self._deleter = BatchDeleter(client, table_name)

    def sweep(self, cutoffs_ms: Mapping[Kind, int], cursor: str | None) -> SweepPage:
        cutoff_iso = iso_from_ms(cutoffs_ms[AUDIT_LOG])
        cutoff_day = cutoff_iso[:10]
        days, more = self._days(after=cursor, through=cutoff_day)
        removed = 0
        for day in days:
            keys = self._rows(day, below=cutoff_iso)
            if day < cutoff_day:  # the whole day is past retention: its index item goes too
                keys.append({"pk": {"S": AUDIT_DAYS_PK}, "sk": {"S": day}})
            self._deleter.delete(keys)
            removed += len(keys) - (1 if day < cutoff_day else 0)
        if more:
            return SweepPage({AUDIT_LOG: removed}, {}, days[-1])
        oldest = self._oldest_kept(cutoff_day, cutoff_iso)
        return SweepPage({AUDIT_LOG: removed}, {AUDIT_LOG: oldest} if oldest is not None else {}, None)

    def _days(self, *, after: str | None, through: str) -> tuple[list[str], bool]:
        """Days with rows, oldest first, after `after` and up to `through` (a page of them)."""
        if after is not None and after >= through:
            return [], False
        condition = "pk = :pk AND sk BETWEEN :from AND :through"
        values = {
            ":pk": {"S": AUDIT_DAYS_PK},
            ":from": {"S": after + "~" if after else "0"},
            ":through": {"S": through},
        }
        items = self._query(condition, values, limit=self._days_per_page, doing="listing audit days")
        return [item["sk"]["S"] for item in items[0]], items[1]

    def _rows(self, day: str, *, below: str) -> list[dict[str, Any]]:
        """Keys of the day's rows whose sk (which starts with their ISO time) sorts before `below`."""
        keys: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "pk = :pk AND sk < :below",
                "ExpressionAttributeValues": {":pk": {"S": AUDIT_PREFIX + day}, ":below": {"S": below}},
                "ProjectionExpression": "pk, sk",
            }
            if start:
                request["ExclusiveStartKey"] = start
            try:
                response = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "reading the audit log for retention") from exc
            keys.extend({"pk": item["pk"], "sk": item["sk"]} for item in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start:
                return keys

    def _oldest_kept(self, cutoff_day: str, cutoff_iso: str) -> int | None:
        """The first row at or after the cutoff: the index's days from the cutoff's, one 1-row query each."""
        days, _ = self._query(
            "pk = :pk AND sk >= :from",
            {":pk": {"S": AUDIT_DAYS_PK}, ":from": {"S": cutoff_day}},
            limit=self._days_per_page,
            doing="listing audit days",
        )
        for item in days:
            rows, _ = self._query(
                "pk = :pk AND sk >= :from",
                {":pk": {"S": AUDIT_PREFIX + item["sk"]["S"]}, ":from": {"S": cutoff_iso}},
                limit=1,
                doing="reading the audit log for retention",
            )
            if rows:
                return _ms(rows[0]["sk"]["S"].split("#", 1)[0])
        return None

    def _query(
        self, condition: str, values: dict[str, Any], *, limit: int, doing: str
    ) -> tuple[list[dict[str, Any]], bool]:
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ProjectionExpression="pk, sk",
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc
        return response.get("Items", []), "LastEvaluatedKey" in response
