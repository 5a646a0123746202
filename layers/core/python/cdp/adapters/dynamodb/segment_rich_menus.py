"""A segment's rich menu: one item under the segment's key (`SEGMENT#<id>` / `RICHMENU`)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.adapters.dynamodb.segment_store import segment_pk
from cdp.segments.rich_menus import SegmentRichMenu

RICH_MENU_SK = "RICHMENU"


def _key(segment_id: str) -> dict[str, Any]:
    return {"pk": {"S": segment_pk(segment_id)}, "sk": {"S": RICH_MENU_SK}}


class DynamoSegmentRichMenus:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get_rich_menu(self, segment_id: str) -> SegmentRichMenu | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=_key(segment_id), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a segment's rich menu") from exc
        return SegmentRichMenu.from_dict(json.loads(item["doc"]["S"])) if item else None

    def put_rich_menu(self, link: SegmentRichMenu) -> None:
        item = {**_key(link.segment_id), "doc": {"S": json.dumps(link.as_dict(), separators=(",", ":"))}}
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "linking a rich menu to a segment") from exc

    def delete_rich_menu(self, segment_id: str) -> SegmentRichMenu | None:
        try:
            old = self._client.delete_item(TableName=self._table, Key=_key(segment_id), ReturnValues="ALL_OLD").get(
                "Attributes"
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "unlinking a segment's rich menu") from exc
        return SegmentRichMenu.from_dict(json.loads(old["doc"]["S"])) if old else None
