"""Segment definitions, memberships and membership history in the core table (see cdp.segments.store)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, TRANSACTION_CANCELED, error_code, unavailable
from cdp.segments.store import ENTERED, EXITED, Membership, MembershipChange, SegmentDefinition, SizeSample

DEFINITIONS_INDEX_KEY = "SEGMENTS"
BATCH_GET_LIMIT = 100


def segment_pk(segment_id: str) -> str:
    return f"SEGMENT#{segment_id}"


def memberships_key(profile_id: str) -> str:
    return f"MEMBERSHIPS#{profile_id}"


def history_key(profile_id: str) -> str:
    return f"SEGMENT-HISTORY#{profile_id}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoSegmentStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # definitions -------------------------------------------------------------------------------
    def create(self, definition: SegmentDefinition) -> bool:
        return self._put_definition(definition, "attribute_not_exists(pk)", {})

    def replace(self, definition: SegmentDefinition, *, expected_version: int) -> bool:
        return self._put_definition(definition, "version = :expected", {":expected": {"N": str(expected_version)}})

    def get(self, segment_id: str) -> SegmentDefinition | None:
        try:
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": _s(segment_pk(segment_id)), "sk": _s("DEF")},
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a segment") from exc
        return _definition(item) if item else None

    def definitions(self) -> list[SegmentDefinition]:
        items = self._query_all(
            {
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(DEFINITIONS_INDEX_KEY)},
            },
            "listing segments",
        )
        return sorted((_definition(item) for item in items), key=lambda d: d.segment_id)

    def _put_definition(self, definition: SegmentDefinition, condition: str, values: dict[str, Any]) -> bool:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": _s(segment_pk(definition.segment_id)),
                "sk": _s("DEF"),
                "version": {"N": str(definition.version)},
                "status": _s(definition.status),
                "doc": _s(json.dumps(definition.as_dict(), ensure_ascii=False, separators=(",", ":"))),
                "gsi1pk": _s(DEFINITIONS_INDEX_KEY),
                "gsi1sk": _s(definition.segment_id),
            },
            "ConditionExpression": condition,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "writing a segment") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "writing a segment") from exc
        return True

    # memberships -------------------------------------------------------------------------------
    def memberships(self, profile_id: str) -> list[Membership]:
        items = self._query_all(
            {
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(memberships_key(profile_id))},
            },
            "reading a profile's segments",
        )
        return sorted((_membership(item) for item in items), key=lambda m: m.segment_id)

    def member_of(self, profile_id: str, segment_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        pending = [{"pk": _s(segment_pk(sid)), "sk": _s(f"MEMBER#{profile_id}")} for sid in dict.fromkeys(segment_ids)]
        try:
            while pending:
                chunk, pending = pending[:BATCH_GET_LIMIT], pending[BATCH_GET_LIMIT:]
                request: dict[str, Any] = {
                    self._table: {"Keys": chunk, "ConsistentRead": True, "ProjectionExpression": "segment_id"}
                }
                while request:
                    response = self._client.batch_get_item(RequestItems=request)
                    found.update(item["segment_id"]["S"] for item in response.get("Responses", {}).get(self._table, []))
                    request = response.get("UnprocessedKeys") or {}
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading segment memberships") from exc
        return found

    def members(self, segment_id: str, *, limit: int, after: str | None = None) -> tuple[list[Membership], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(segment_pk(segment_id)), ":prefix": _s("MEMBER#")},
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = {"pk": _s(segment_pk(segment_id)), "sk": _s(f"MEMBER#{after}")}
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "listing segment members") from exc
        page = [_membership(item) for item in response.get("Items", [])]
        return page, (page[-1].profile_id if "LastEvaluatedKey" in response and page else None)

    def count_members(self, segment_id: str) -> int:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(segment_pk(segment_id)), ":prefix": _s("MEMBER#")},
            "Select": "COUNT",
        }
        total = 0
        try:
            while True:
                response = self._client.query(**request)
                total += int(response.get("Count", 0))
                if "LastEvaluatedKey" not in response:
                    return total
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "counting segment members") from exc

    def put_export(self, segment_id: str, at: str, record: dict[str, Any]) -> None:
        """SEGMENT#<id> / EXPORT#<at>: one export (LINE audience or hashed CSV), its counts and result."""
        item = {
            "pk": _s(segment_pk(segment_id)),
            "sk": _s(f"EXPORT#{at}"),
            "kind": _s(str(record.get("kind", ""))),
            "doc": _s(json.dumps(record, separators=(",", ":"), sort_keys=True)),
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "recording a segment export") from exc

    def exports(self, segment_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The latest exports first."""
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": _s(segment_pk(segment_id)), ":prefix": _s("EXPORT#")},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading segment exports") from exc
        return [json.loads(item["doc"]["S"]) for item in response.get("Items", [])]

    # LINE audience sync (cdp.segments.audience_sync): SEGMENT#<id> / AUDIENCE-SYNC ------------
    def get_audience_sync(self, segment_id: str) -> dict[str, Any] | None:
        try:
            item = self._client.get_item(
                TableName=self._table, Key=_audience_sync_key(segment_id), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a segment's LINE audience sync") from exc
        return _audience_sync(item) if item else None

    def put_audience_sync(self, segment_id: str, record: dict[str, Any], *, replacing: str | None) -> bool:
        """Store the sync record; with `replacing`, only if the stored revision is still that one."""
        doc = {key: value for key, value in record.items() if key != "revision"}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **_audience_sync_key(segment_id),
                "revision": _s(str(record["revision"])),
                "doc": _s(json.dumps(doc, separators=(",", ":"), sort_keys=True)),
            },
        }
        if replacing is not None:
            request["ConditionExpression"] = "revision = :expected"
            request["ExpressionAttributeValues"] = {":expected": _s(replacing)}
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "recording a segment's LINE audience sync") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "recording a segment's LINE audience sync") from exc
        return True

    def delete_audience_sync(self, segment_id: str) -> dict[str, Any] | None:
        try:
            old = self._client.delete_item(
                TableName=self._table, Key=_audience_sync_key(segment_id), ReturnValues="ALL_OLD"
            ).get("Attributes")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "stopping a segment's LINE audience sync") from exc
        return _audience_sync(old) if old else None

    def changes_between(self, segment_id: str, *, after: str, until: str) -> Iterator[MembershipChange]:
        """History items with after < at <= until, oldest first, read consistently, page by page."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": _s(segment_pk(segment_id)),
                ":low": _s(f"HIST#{after}"),
                ":high": _s(f"HIST#{until}$"),  # '$' sorts right after the '#' that ends the timestamp
            },
            "ConsistentRead": True,
        }
        while True:
            try:
                response = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "reading segment history") from exc
            for item in response.get("Items", []):
                change = _change(segment_id, item)
                if after < change.at <= until:
                    yield change
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def enter(self, segment_id: str, profile_id: str, *, at: str, rule_version: int) -> bool:
        member = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(segment_pk(segment_id)),
                    "sk": _s(f"MEMBER#{profile_id}"),
                    "segment_id": _s(segment_id),
                    "profile_id": _s(profile_id),
                    "entered_at": _s(at),
                    "rule_version": {"N": str(rule_version)},
                    "gsi1pk": _s(memberships_key(profile_id)),
                    "gsi1sk": _s(segment_id),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        return self._transact([member, self._history(segment_id, profile_id, ENTERED, at, rule_version)])

    def exit(self, segment_id: str, profile_id: str, *, at: str, rule_version: int) -> bool:
        member = {
            "Delete": {
                "TableName": self._table,
                "Key": {"pk": _s(segment_pk(segment_id)), "sk": _s(f"MEMBER#{profile_id}")},
                "ConditionExpression": "attribute_exists(pk)",
            }
        }
        return self._transact([member, self._history(segment_id, profile_id, EXITED, at, rule_version)])

    def _history(self, segment_id: str, profile_id: str, action: str, at: str, rule_version: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(segment_pk(segment_id)),
                    "sk": _s(f"HIST#{at}#{profile_id}#{action}"),
                    "gsi1pk": _s(history_key(profile_id)),
                    "gsi1sk": _s(f"{at}#{segment_id}#{action}"),
                    "segment_id": _s(segment_id),
                    "profile_id": _s(profile_id),
                    "action": _s(action),
                    "at": _s(at),
                    "rule_version": {"N": str(rule_version)},
                },
            }
        }

    def changes(self, segment_id: str, *, limit: int) -> list[MembershipChange]:
        return [_change(segment_id, item) for item in self._latest(segment_pk(segment_id), "HIST#", limit)]

    def profile_changes(self, profile_id: str, *, limit: int) -> list[MembershipChange]:
        try:
            response = self._client.query(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": _s(history_key(profile_id))},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a profile's segment history") from exc
        return [_change(item["segment_id"]["S"], item) for item in response.get("Items", []) if "segment_id" in item]

    def record_size(self, sample: SizeSample) -> None:
        item = {
            "pk": _s(segment_pk(sample.segment_id)),
            "sk": _s(f"SIZE#{sample.at}"),
            "members": {"N": str(sample.members)},
            "entered": {"N": str(sample.entered)},
            "exited": {"N": str(sample.exited)},
            "rule_version": {"N": str(sample.rule_version)},
            "at": _s(sample.at),
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "recording a segment size") from exc

    def sizes(self, segment_id: str, *, limit: int) -> list[SizeSample]:
        return [
            SizeSample(
                segment_id=segment_id,
                at=item["at"]["S"],
                members=int(item["members"]["N"]),
                entered=int(item["entered"]["N"]),
                exited=int(item["exited"]["N"]),
                rule_version=int(item["rule_version"]["N"]),
            )
            for item in self._latest(segment_pk(segment_id), "SIZE#", limit)
        ]

    def _latest(self, pk: str, prefix: str, limit: int) -> list[dict[str, Any]]:
        try:
            response = self._client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={":pk": _s(pk), ":prefix": _s(prefix)},
                ScanIndexForward=False,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading segment history") from exc
        items: list[dict[str, Any]] = response.get("Items", [])
        return items

    def _transact(self, items: list[dict[str, Any]]) -> bool:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise unavailable(exc, "writing a segment membership") from exc
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons") or []]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise unavailable(exc, "writing a segment membership") from exc  # a conflict: retry
        except BotoCoreError as exc:
            raise unavailable(exc, "writing a segment membership") from exc
        return True

    def _query_all(self, request: dict[str, Any], doing: str) -> list[dict[str, Any]]:
        request = {"TableName": self._table, **request}
        items: list[dict[str, Any]] = []
        try:
            while True:
                response = self._client.query(**request)
                items.extend(response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    return items
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc


def _definition(item: dict[str, Any]) -> SegmentDefinition:
    return SegmentDefinition.from_dict(json.loads(item["doc"]["S"]))


def _membership(item: dict[str, Any]) -> Membership:
    return Membership(
        segment_id=item["segment_id"]["S"],
        profile_id=item["profile_id"]["S"],
        entered_at=item["entered_at"]["S"],
        rule_version=int(item["rule_version"]["N"]),
    )


def _change(segment_id: str, item: dict[str, Any]) -> MembershipChange:
    return MembershipChange(
        segment_id=segment_id,
        profile_id=item["profile_id"]["S"],
        action=item["action"]["S"],
        at=item["at"]["S"],
        rule_version=int(item["rule_version"]["N"]),
    )


AUDIENCE_SYNC_SK = "AUDIENCE-SYNC"


def _audience_sync_key(segment_id: str) -> dict[str, Any]:
    return {"pk": _s(segment_pk(segment_id)), "sk": _s(AUDIENCE_SYNC_SK)}


def _audience_sync(item: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(item["doc"]["S"])
    record["revision"] = item["revision"]["S"]
    return record
