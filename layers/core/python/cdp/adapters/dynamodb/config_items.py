"""Workspace configuration documents (identity rules, tag rules, ...) as versioned core-table items.

`<prefix><workspace>` / `CONFIG` holds a JSON document and a version; writes are compare-and-set
so two admins cannot overwrite each other silently. `CachedConfig` keeps a loaded value per warm
container: configuration changes rarely and events must not each pay a read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import TRANSACTION_CANCELED, error_code, unavailable
from cdp.errors import Conflict

CONDITION_FAILED = "ConditionalCheckFailedException"

T = TypeVar("T")


class VersionedConfigItem:
    def __init__(self, client: Any, table_name: str, *, pk_prefix: str, workspace: str, what: str) -> None:
        self._client = client
        self._table = table_name
        self._key = {"pk": {"S": f"{pk_prefix}{workspace}"}, "sk": {"S": "CONFIG"}}
        self._what = what  # e.g. "identity rules", for error messages

    def read(self) -> tuple[dict[str, Any], int] | None:
        """The stored document and its version, or None when nothing was ever stored."""
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"reading {self._what}") from exc
        if not item:
            return None
        document: dict[str, Any] = json.loads(item["doc"]["S"])
        return document, int(item["version"]["N"])

    def write(self, document: dict[str, Any], *, expected_version: int) -> int:
        """Store `document` as version `expected_version + 1` if the stored one is still `expected_version`."""
        version = expected_version + 1
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {**self._key, "version": {"N": str(version)}, "doc": {"S": json.dumps(document)}},
            "ConditionExpression": "attribute_not_exists(pk)" if expected_version == 0 else "version = :expected",
        }
        if expected_version:
            request["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) in (CONDITION_FAILED, TRANSACTION_CANCELED):
                raise Conflict(
                    f"the {self._what} changed since version {expected_version}; read them again",
                    code="rules_version_conflict",
                ) from exc
            raise unavailable(exc, f"writing {self._what}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"writing {self._what}") from exc
        return version


class CachedConfig(Generic[T]):
    """A loaded configuration value, reloaded after `ttl_seconds`: a change applies within that delay."""

    def __init__(self, load: Callable[[], T], ttl_seconds: float = 60.0) -> None:
        self._load = load
        self._ttl = ttl_seconds
        self._value: T | None = None
        self._loaded_at = 0.0

    def __call__(self) -> T:
        now = time.monotonic()
        if self._value is None or now - self._loaded_at >= self._ttl:
            self._value, self._loaded_at = self._load(), now
        return self._value
