"""Journeys and their published versions in the core table.

- `JOURNEY#<id>` / `DEF`: the journey as JSON (`doc`) with its `revision` and `status`
  (compare-and-set on the revision); gsi1 `JOURNEYS` / `<id>` lists them.
- `JOURNEY#<id>` / `V#<000001>`: a published version (`doc`: PublishedVersion.as_dict()),
  written once (`attribute_not_exists`), never changed.
- `JOURNEYS` / `LIVE`: the live listing, one small item the entry points and the event processor
  cache (no item: nothing is live):
    `revision` (N): +1 on every change;  `updated_at` (S);
    `doc` (S): {"journeys": {"<journey_id>": {"version": 3,
                                              "entry": {"type": "event", "event": "Product Added"}
                                                       | {"type": "segment" | "schedule", "segment_id": "vip"},
                                              "events": ["Link Clicked", "Order Completed", ...],
                                              "segments": ["vip"]}},
                "events": [the union, sorted], "segments": [the union, sorted]}
  (cdp.journeys.service.live_entry / live_doc build it). Published journeys are listed, and paused ones with `"paused": true` and no entry event (their runs go on).

A lifecycle write is one transaction: the journey (its revision still the one read), the new
version when publishing (its number not taken), and the live listing (its revision still the one
read; re-read and tried again when only the listing moved: another journey changed it).
"""

from __future__ import annotations

import builtins
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import (
    CONDITIONAL_CHECK_FAILED,
    TRANSACTION_CANCELED,
    TRANSACTION_CONFLICT,
    error_code,
    unavailable,
)
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import StoreUnavailable
from cdp.journeys.model import Journey, PublishedVersion
from cdp.journeys.service import LiveChange, changed_live_doc, live_doc
from cdp.ports import Clock

PK_PREFIX = "JOURNEY#"
DEF = "DEF"
VERSION_PREFIX = "V#"
INDEX_KEY = "JOURNEYS"
LIVE_PK = "JOURNEYS"
LIVE_KEY = {"pk": {"S": LIVE_PK}, "sk": {"S": "LIVE"}}
BATCH_GET_LIMIT = 100
LISTING_ATTEMPTS = 5  # other journeys' lifecycle writes racing on the listing


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _dump(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def journey_pk(journey_id: str) -> str:
    return f"{PK_PREFIX}{journey_id}"


def version_sk(version: int) -> str:
    return f"{VERSION_PREFIX}{version:06d}"


def journey_to_dict(journey: Journey) -> dict[str, Any]:
    return {
        "journey_id": journey.journey_id,
        "status": journey.status,
        "draft": journey.draft,
        "created_at": journey.created_at,
        "updated_at": journey.updated_at,
        "live_version": journey.live_version,
        "versions": list(journey.versions),
        "revision": journey.revision,
        "extra": journey.extra,
    }


def journey_from_dict(data: dict[str, Any]) -> Journey:
    return Journey(
        journey_id=data["journey_id"],
        status=data["status"],
        draft=data["draft"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        live_version=data.get("live_version"),
        versions=tuple(int(number) for number in data.get("versions", [])),
        revision=int(data.get("revision", 1)),
        extra=dict(data.get("extra") or {}),
    )


class DynamoJourneyStore:
    """cdp.journeys.model.JourneyStore and the lifecycle's writes (cdp.journeys.service.JourneyAdminStore)."""

    def __init__(self, client: Any, table_name: str, clock: Clock | None = None) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock or SystemClock()

    # reads ----------------------------------------------------------------------------------
    def get(self, journey_id: str) -> Journey | None:
        item = self._get({"pk": _s(journey_pk(journey_id)), "sk": _s(DEF)}, "reading a journey")
        return journey_from_dict(json.loads(item["doc"]["S"])) if item else None

    def version(self, journey_id: str, version: int) -> PublishedVersion | None:
        if version < 1:
            return None
        item = self._get({"pk": _s(journey_pk(journey_id)), "sk": _s(version_sk(version))}, "reading a journey version")
        return PublishedVersion.from_dict(json.loads(item["doc"]["S"])) if item else None

    def list(self) -> list[Journey]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(INDEX_KEY)},
        }
        found: list[Journey] = []
        while True:
            try:
                page = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "listing journeys") from exc
            found.extend(journey_from_dict(json.loads(item["doc"]["S"])) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda journey: journey.journey_id)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def live_index(self) -> dict[str, Any]:
        """The live listing document with its `revision` (0 and nothing listed when absent)."""
        document, revision = self._live()
        return {**document, "revision": revision}

    def live(self) -> builtins.list[PublishedVersion]:
        """The versions entries start runs on: the listing's lines but paused ones (BatchGetItem, 100 keys a call)."""
        document, _revision = self._live()
        keys = [
            {"pk": _s(journey_pk(journey_id)), "sk": _s(version_sk(int(line["version"])))}
            for journey_id, line in document.get("journeys", {}).items()
            if not line.get("paused")  # listed for its runs' events; it starts none
        ]
        found: list[PublishedVersion] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            pending: dict[str, Any] = {
                self._table: {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}
            }
            while pending:
                try:
                    answer = self._client.batch_get_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise unavailable(exc, "reading live journeys") from exc
                for item in answer.get("Responses", {}).get(self._table, []):
                    found.append(PublishedVersion.from_dict(json.loads(item["doc"]["S"])))
                pending = answer.get("UnprocessedKeys") or {}
        return sorted(found, key=lambda version: version.journey_id)

    # writes ---------------------------------------------------------------------------------
    def create(self, journey: Journey) -> bool:
        try:
            self._client.put_item(**self._journey_put(journey), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return False
            raise unavailable(exc, "creating a journey") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "creating a journey") from exc
        return True

    def replace(
        self,
        journey: Journey,
        *,
        expected_revision: int,
        version: PublishedVersion | None = None,
        live: LiveChange | None = None,
    ) -> bool:
        journey_write = {
            "Put": {
                **self._journey_put(journey),
                "ConditionExpression": "revision = :expected",
                "ExpressionAttributeValues": {":expected": {"N": str(expected_revision)}},
            }
        }
        writes: list[dict[str, Any]] = [journey_write]
        if version is not None:
            writes.append({"Put": {**self._version_put(version), "ConditionExpression": "attribute_not_exists(pk)"}})
        if live is None and len(writes) == 1:
            return self._put_one(journey_write["Put"], "writing a journey")
        for _attempt in range(LISTING_ATTEMPTS):
            listing: list[dict[str, Any]] = []
            if live is not None:
                current, revision = self._live()
                listing.append({"Put": self._live_put(changed_live_doc(current, live), revision)})
            failed = self._transact([*writes, *listing], "writing a journey")
            if failed is None:
                return True
            if failed & set(range(len(writes))):
                return False  # the journey changed or the version number is taken
            # only the listing moved (another journey's write): read it again
        raise StoreUnavailable(
            "writing the live listing failed: it kept changing meanwhile", details={"aws_error": TRANSACTION_CANCELED}
        )

    def delete(self, journey_id: str, *, expected_revision: int) -> bool:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": _s(journey_pk(journey_id)), "sk": _s(DEF)},
                ConditionExpression="revision = :expected",
                ExpressionAttributeValues={":expected": {"N": str(expected_revision)}},
            )
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return False
            raise unavailable(exc, "deleting a journey") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "deleting a journey") from exc
        return True

    # internals ------------------------------------------------------------------------------
    def _journey_put(self, journey: Journey) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(journey_pk(journey.journey_id)),
                "sk": _s(DEF),
                "gsi1pk": _s(INDEX_KEY),
                "gsi1sk": _s(journey.journey_id),
                "status": _s(journey.status),
                "revision": {"N": str(journey.revision)},
                "doc": _s(_dump(journey_to_dict(journey))),
            },
        }

    def _version_put(self, version: PublishedVersion) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(journey_pk(version.journey_id)),
                "sk": _s(version_sk(version.version)),
                "version": {"N": str(version.version)},
                "doc": _s(_dump(version.as_dict())),
            },
        }

    def _live_put(self, document: dict[str, Any], revision: int) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **LIVE_KEY,
                "revision": {"N": str(revision + 1)},
                "updated_at": _s(iso_from_ms(self._clock.now_ms())),
                "doc": _s(_dump(document)),
            },
        }
        if revision == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "revision = :listed"
            put["ExpressionAttributeValues"] = {":listed": {"N": str(revision)}}
        return put

    def _live(self) -> tuple[dict[str, Any], int]:
        item = self._get(LIVE_KEY, "reading the live journeys")
        if not item:
            return live_doc({}), 0
        document: dict[str, Any] = json.loads(item["doc"]["S"])
        return document, int(item["revision"]["N"])

    def _put_one(self, put: dict[str, Any], what: str) -> bool:
        try:
            self._client.put_item(**put)
        except ClientError as exc:
            if error_code(exc) in (CONDITIONAL_CHECK_FAILED, TRANSACTION_CONFLICT):
                return False
            raise unavailable(exc, what) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, what) from exc
        return True

    def _transact(self, items: builtins.list[dict[str, Any]], what: str) -> set[int] | None:
        """None when written; else the positions of the writes whose condition failed (empty:
        a conflicting transaction, tried again like a moved listing)."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise unavailable(exc, what) from exc
            reasons = exc.response.get("CancellationReasons") or []
            codes = [str(reason.get("Code") or "None") for reason in reasons]
            unexpected = set(codes) - {"None", "ConditionalCheckFailed", "TransactionConflict"}
            if unexpected:
                raise unavailable(exc, what) from exc
            return {index for index, code in enumerate(codes) if code == "ConditionalCheckFailed"}
        except BotoCoreError as exc:
            raise unavailable(exc, what) from exc
        return None

    def _get(self, key: dict[str, Any], what: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self._table, Key=key, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, what) from exc
        return item
