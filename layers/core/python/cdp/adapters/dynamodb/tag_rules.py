"""Tag rules as one versioned configuration item in the core table (like identity rules)."""

from __future__ import annotations

from typing import Any

from cdp.adapters.dynamodb.config_items import VersionedConfigItem
from cdp.profiles.tag_rules import NO_TAG_RULES, TagRules

PK_PREFIX = "CONFIG#tag-rules#"


class DynamoTagRules:
    """`CONFIG#tag-rules#<workspace>` / `CONFIG`, versioned; writes are compare-and-set."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._item = VersionedConfigItem(client, table_name, pk_prefix=PK_PREFIX, workspace=workspace, what="tag rules")

    def get(self) -> TagRules:
        stored = self._item.read()
        if stored is None:
            return NO_TAG_RULES
        document, version = stored
        return TagRules.from_dict(document, version=version)

    def put(self, rules: TagRules, *, expected_version: int) -> TagRules:
        stored = TagRules.from_dict(rules.as_dict(), version=expected_version + 1)
        document = {key: value for key, value in stored.as_dict().items() if key != "version"}
        self._item.write(document, expected_version=expected_version)
        return stored
