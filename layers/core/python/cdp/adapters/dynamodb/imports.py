"""Import status items in the core table (`IMPORT#<id>` / `IMPORT`), every write conditional."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.imports.model import COMPLETED, RUNNING, ChunkCommit, ImportRecord, ScanCheckpoint

PK_PREFIX = "IMPORT#"  # infra scopes the import writers' grants to these items
SK = "IMPORT"
_COUNTERS = ("rows_done", "rows_accepted", "rows_rejected", "rows_with_warnings")
_OPTIONAL_TEXT = ("duplicates_key", "rejected_key", "started_at", "completed_at", "error_code", "error_message")
_OPTIONAL_NUMBERS = ("file_bytes", "rows_total", "next_row", "byte_offset")


def _pk(import_id: str) -> dict[str, str]:
    return {"S": f"{PK_PREFIX}{import_id}"}


def _key(import_id: str) -> dict[str, Any]:
    return {"pk": _pk(import_id), "sk": {"S": SK}}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def record_to_item(record: ImportRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(record.import_id),
        "import_id": {"S": record.import_id},
        "kind": {"S": record.kind},
        "status": {"S": record.status},
        "created_at": {"S": record.created_at},
        "updated_at": {"S": record.updated_at},
        "file_key": {"S": record.file_key},
        "scanned": {"BOOL": record.scanned},
        "header": {"L": [{"S": name} for name in record.header]},
        "details": {"S": json.dumps(record.details, ensure_ascii=False)},
        **{name: _n(getattr(record, name)) for name in _COUNTERS},
    }
    for name in _OPTIONAL_NUMBERS:
        if getattr(record, name) is not None:
            item[name] = _n(getattr(record, name))
    for name in _OPTIONAL_TEXT:
        if getattr(record, name) is not None:
            item[name] = {"S": getattr(record, name)}
    if record.issue_parts:
        item["issue_parts"] = {"NS": [str(row) for row in record.issue_parts]}
    return item


def record_from_item(item: dict[str, Any]) -> ImportRecord:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def number(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return ImportRecord(
        import_id=item["import_id"]["S"],
        status=item["status"]["S"],
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        file_key=item["file_key"]["S"],
        kind=item["kind"]["S"],
        file_bytes=number("file_bytes"),
        rows_total=number("rows_total"),
        rows_done=number("rows_done") or 0,
        rows_accepted=number("rows_accepted") or 0,
        rows_rejected=number("rows_rejected") or 0,
        rows_with_warnings=number("rows_with_warnings") or 0,
        scanned=item.get("scanned", {}).get("BOOL", False),
        next_row=number("next_row"),
        byte_offset=number("byte_offset"),
        header=tuple(cell["S"] for cell in item.get("header", {}).get("L", [])),
        duplicates_key=text("duplicates_key"),
        issue_parts=tuple(sorted(int(row) for row in item.get("issue_parts", {}).get("NS", []))),
        rejected_key=text("rejected_key"),
        started_at=text("started_at"),
        completed_at=text("completed_at"),
        error_code=text("error_code"),
        error_message=text("error_message"),
        details=json.loads(item["details"]["S"]) if "details" in item else {},
    )


class DynamoImportStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, record: ImportRecord) -> None:
        try:
            self._client.put_item(
                TableName=self._table, Item=record_to_item(record), ConditionExpression="attribute_not_exists(pk)"
            )
        except (ClientError, BotoCoreError) as exc:  # a random id never collides: any failure is the store's
            raise unavailable(exc, "creating an import") from exc

    def get(self, import_id: str) -> ImportRecord | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=_key(import_id), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading an import") from exc
        return record_from_item(item) if item else None

    def transition(
        self, import_id: str, *, expected: str, status: str, now: str, file_bytes: int | None = None
    ) -> bool:
        sets = ["#status = :status", "updated_at = :now"]
        values: dict[str, Any] = {":status": {"S": status}, ":now": {"S": now}, ":expected": {"S": expected}}
        if status == RUNNING:
            sets.append("started_at = :now")
        if file_bytes is not None:
            sets.append("file_bytes = :bytes")
            values[":bytes"] = _n(file_bytes)
        return self._update(import_id, f"SET {', '.join(sets)}", "#status = :expected", values)

    def save_scan(self, import_id: str, scan: ScanCheckpoint, now: str) -> bool:
        sets = [
            "scanned = :true",
            "rows_total = :total",
            "header = :header",
            "next_row = :next",
            "byte_offset = :offset",
            "details = :details",
            "updated_at = :now",
        ]
        values: dict[str, Any] = {
            ":true": {"BOOL": True},
            ":total": _n(scan.rows_total),
            ":header": {"L": [{"S": name} for name in scan.header]},
            ":next": _n(scan.next_row),
            ":offset": _n(scan.byte_offset),
            ":details": {"S": json.dumps(scan.details, ensure_ascii=False)},
            ":now": {"S": now},
            ":running": {"S": RUNNING},
        }
        if scan.duplicates_key:
            sets.append("duplicates_key = :dups")
            values[":dups"] = {"S": scan.duplicates_key}
        condition = "#status = :running AND (attribute_not_exists(scanned) OR scanned = :false)"
        values[":false"] = {"BOOL": False}
        return self._update(import_id, f"SET {', '.join(sets)}", condition, values)

    def commit_chunk(self, import_id: str, commit: ChunkCommit, now: str) -> bool:
        update = (
            "SET next_row = :next, byte_offset = :offset, updated_at = :now "
            "ADD rows_done :done, rows_accepted :accepted, rows_rejected :rejected, rows_with_warnings :warned"
        )
        values: dict[str, Any] = {
            ":next": _n(commit.next_row),
            ":offset": _n(commit.byte_offset),
            ":now": {"S": now},
            ":done": _n(commit.rows),
            ":accepted": _n(commit.accepted),
            ":rejected": _n(commit.rejected),
            ":warned": _n(commit.with_warnings),
            ":running": {"S": RUNNING},
            ":start": _n(commit.start_row),
        }
        if commit.wrote_part:
            update += ", issue_parts :part"
            values[":part"] = {"NS": [str(commit.start_row)]}
        # The checkpoint itself is the guard: a chunk commits once, whoever ran it.
        return self._update(import_id, update, "#status = :running AND next_row = :start", values)

    def finish(
        self,
        import_id: str,
        *,
        status: str,
        now: str,
        at_row: int | None = None,
        rejected_key: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        sets = ["#status = :status", "updated_at = :now", "completed_at = :now"]
        values: dict[str, Any] = {":status": {"S": status}, ":now": {"S": now}, ":running": {"S": RUNNING}}
        condition = "#status = :running"
        if status == COMPLETED:
            if at_row is None:
                raise ValueError("completing an import needs the checkpoint it ends at")
            condition += " AND next_row = :at"
            values[":at"] = _n(at_row)
        if rejected_key is not None:
            sets.append("rejected_key = :rejected")
            values[":rejected"] = {"S": rejected_key}
        if error is not None:
            sets += ["error_code = :code", "error_message = :message"]
            values[":code"], values[":message"] = {"S": error[0]}, {"S": error[1]}
        return self._update(import_id, f"SET {', '.join(sets)}", condition, values)

    def _update(self, import_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(import_id),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "updating an import") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "updating an import") from exc
        return True
