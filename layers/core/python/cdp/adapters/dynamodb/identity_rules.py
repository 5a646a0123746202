"""Identity rules as one configuration item in the core table, cached per warm container."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import TRANSACTION_CANCELED, error_code, unavailable
from cdp.errors import Conflict
from cdp.identity.rules import DEFAULT_RULES, IdentityRules, rules_from_storage

CONDITION_FAILED = "ConditionalCheckFailedException"
PK_PREFIX = "CONFIG#identity-rules#"


class DynamoIdentityRules:
    """`CONFIG#identity-rules#<workspace>` / `CONFIG`, versioned; writes are compare-and-set."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._client = client
        self._table = table_name
        self._key = {"pk": {"S": f"{PK_PREFIX}{workspace}"}, "sk": {"S": "CONFIG"}}

    def get(self) -> IdentityRules:
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading identity rules") from exc
        if not item:
            return DEFAULT_RULES
        return rules_from_storage(json.loads(item["doc"]["S"]), version=int(item["version"]["N"]))

    def put(self, rules: IdentityRules, *, expected_version: int) -> IdentityRules:
        stored = IdentityRules.from_dict(rules.as_dict(), version=expected_version + 1)
        document = {key: value for key, value in stored.as_dict().items() if key != "version"}
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :expected"
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {**self._key, "version": {"N": str(stored.version)}, "doc": {"S": json.dumps(document)}},
            "ConditionExpression": condition,
        }
        if expected_version:
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) in (CONDITION_FAILED, TRANSACTION_CANCELED):
                raise Conflict(
                    f"the rules changed since version {expected_version}; read them again",
                    code="rules_version_conflict",
                ) from exc
            raise unavailable(exc, "writing identity rules") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "writing identity rules") from exc
        return stored


R = TypeVar("R")


class CachedRules(Generic[R]):
    """Rules change rarely; every event must not pay a read. A change applies within `ttl`."""

    def __init__(self, load: Callable[[], R], ttl_seconds: float = 60.0) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._value: R | None = None
        self._loaded_at = 0.0

    def __call__(self) -> R:
        now = time.monotonic()
        if self._value is None or now - self._loaded_at >= self._ttl:
            self._value, self._loaded_at = self._load(), now
        return self._value
