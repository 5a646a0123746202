"""The LINE channels' greeting and fallback replies as one versioned configuration item."""

from __future__ import annotations

from typing import Any

from cdp.adapters.dynamodb.config_items import VersionedConfigItem
from cdp.messaging.auto_reply import NO_AUTO_REPLIES, AutoReplies

PK_PREFIX = "CONFIG#auto-replies#"


class DynamoAutoReplies:
    """`CONFIG#auto-replies#<workspace>` / `CONFIG`, versioned; writes are compare-and-set."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._item = VersionedConfigItem(
            client, table_name, pk_prefix=PK_PREFIX, workspace=workspace, what="auto-replies"
        )

    def get(self) -> AutoReplies:
        stored = self._item.read()
        if stored is None:
            return NO_AUTO_REPLIES
        document, version = stored
        return AutoReplies.from_dict(document, version=version)

    def put(self, replies: AutoReplies, *, expected_version: int) -> AutoReplies:
        stored = AutoReplies.from_dict(replies.as_dict(), version=expected_version + 1)
        document = {key: value for key, value in stored.as_dict().items() if key != "version"}
        self._item.write(document, expected_version=expected_version)
        return stored
