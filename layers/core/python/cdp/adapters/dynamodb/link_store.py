"""Tracked links in the core table: one item per link, click counters added in place.

Item: pk `LINK#<code>`, sk `LINK`, with code, url, src, campaign (when set), tags (a list),
created_at, attribution (a map, for links minted for a message), and the counters clicks_total / clicks_known / clicks_anonymous, which only ever
change through `ADD` (atomic under concurrent clicks, no read-modify-write). gsi1 `LINKS` /
`<created_at>#<code>` lists them newest first (links stored before the index key have none and
are not listed).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.links.model import ClickCounts, Link

PK_PREFIX = "LINK#"
SK = "LINK"
INDEX_KEY = "LINKS"


def link_key(code: str) -> dict[str, Any]:
    return {"pk": {"S": f"{PK_PREFIX}{code}"}, "sk": {"S": SK}}


class DynamoLinkStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, link: Link) -> bool:
        """Store a new link; False when the code is taken."""
        item: dict[str, Any] = {
            **link_key(link.code),
            "code": {"S": link.code},
            "url": {"S": link.url},
            "src": {"S": link.src},
            "tags": {"L": [{"S": tag} for tag in link.tags]},
            "created_at": {"S": link.created_at},
            "clicks_total": {"N": "0"},
            "clicks_known": {"N": "0"},
            "clicks_anonymous": {"N": "0"},
            "gsi1pk": {"S": INDEX_KEY},
            "gsi1sk": {"S": list_position(link)},
        }
        if link.campaign is not None:
            item["campaign"] = {"S": link.campaign}
        if link.attribution:
            item["attribution"] = {"M": {key: {"S": value} for key, value in link.attribution.items()}}
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "storing a link") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "storing a link") from exc
        return True

    def get(self, code: str, *, consistent: bool = False) -> Link | None:
        try:
            item = self._client.get_item(TableName=self._table, Key=link_key(code), ConsistentRead=consistent).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a link") from exc
        return link_from_item(item) if item else None

    def recent(self, *, limit: int, before: str | None = None) -> tuple[list[Link], str | None]:
        """Up to `limit` links, newest first, older than the cursor `before` (a `next` of an earlier
        page); the cursor of the following page, or None after the oldest. One link more than asked
        is read, so `next` is None exactly when nothing older is left."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk" + (" AND gsi1sk < :before" if before else ""),
            "ExpressionAttributeValues": {":pk": {"S": INDEX_KEY}, **({":before": {"S": before}} if before else {})},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        found: list[Link] = []
        while len(found) <= limit:
            try:
                page = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "listing links") from exc
            found.extend(link_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            request["Limit"] = limit + 1 - len(found)
        listed = found[:limit]
        return listed, (list_position(listed[-1]) if len(found) > limit else None)

    def count_click(self, code: str, *, known: bool) -> None:
        """ADD 1 to the total and to the known or anonymous count of an existing link."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=link_key(code),
                UpdateExpression="ADD clicks_total :one, #kind :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#kind": "clicks_known" if known else "clicks_anonymous"},
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "counting a click") from exc


def list_position(link: Link) -> str:
    """The link's place in the newest-first list, also the cursor after it."""
    return f"{link.created_at}#{link.code}"


def link_from_item(item: dict[str, Any]) -> Link:
    def count(name: str) -> int:
        return int(item.get(name, {}).get("N", "0"))

    return Link(
        code=item["code"]["S"],
        url=item["url"]["S"],
        src=item["src"]["S"],
        created_at=item.get("created_at", {}).get("S", ""),
        campaign=item.get("campaign", {}).get("S"),
        tags=tuple(entry["S"] for entry in item.get("tags", {}).get("L", []) if "S" in entry),
        attribution={
            key: value["S"] for key, value in item.get("attribution", {}).get("M", {}).items() if "S" in value
        },
        clicks=ClickCounts(
            total=count("clicks_total"), known=count("clicks_known"), anonymous=count("clicks_anonymous")
        ),
    )
