"""Identity rules as one versioned configuration item in the core table."""

from __future__ import annotations

from typing import Any

from cdp.adapters.dynamodb.config_items import VersionedConfigItem
from cdp.identity.rules import DEFAULT_RULES, IdentityRules, rules_from_storage

PK_PREFIX = "CONFIG#identity-rules#"


class DynamoIdentityRules:
    """`CONFIG#identity-rules#<workspace>` / `CONFIG`, versioned; writes are compare-and-set."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._item = VersionedConfigItem(
            client, table_name, pk_prefix=PK_PREFIX, workspace=workspace, what="identity rules"
        )

    def get(self) -> IdentityRules:
        stored = self._item.read()
        if stored is None:
            return DEFAULT_RULES
        document, version = stored
        return rules_from_storage(document, version=version)

    def put(self, rules: IdentityRules, *, expected_version: int) -> IdentityRules:
        stored = IdentityRules.from_dict(rules.as_dict(), version=expected_version + 1)
        document = {key: value for key, value in stored.as_dict().items() if key != "version"}
        self._item.write(document, expected_version=expected_version)
        return stored
