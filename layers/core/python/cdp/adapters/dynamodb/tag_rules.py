"""Tag rules as one configuration item in the core table (like identity rules); cache with
cdp.adapters.dynamodb.identity_rules.CachedRules."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import TRANSACTION_CANCELED, error_code, unavailable
from cdp.adapters.dynamodb.identity_rules import CONDITION_FAILED
from cdp.errors import Conflict
from cdp.profiles.tag_rules import NO_TAG_RULES, TagRules

PK_PREFIX = "CONFIG#tag-rules#"


class DynamoTagRules:
    """`CONFIG#tag-rules#<workspace>` / `CONFIG`, versioned; writes are compare-and-set."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._client = client
        self._table = table_name
        self._key = {"pk": {"S": f"{PK_PREFIX}{workspace}"}, "sk": {"S": "CONFIG"}}

    def get(self) -> TagRules:
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading tag rules") from exc
        if not item:
            return NO_TAG_RULES
        return TagRules.from_dict(json.loads(item["doc"]["S"]), version=int(item["version"]["N"]))

    def put(self, rules: TagRules, *, expected_version: int) -> TagRules:
        stored = TagRules.from_dict(rules.as_dict(), version=expected_version + 1)
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
                    f"the tag rules changed since version {expected_version}; read them again",
                    code="rules_version_conflict",
                ) from exc
            raise unavailable(exc, "writing tag rules") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "writing tag rules") from exc
        return stored
