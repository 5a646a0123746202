"""Account-link nonces in the core table: one item per nonce, consumed by one conditional UpdateItem.

Item: pk `LINKNONCE#<nonce>`, sk `NONCE`, with member_id, line_user_id, channel, provider,
created_at, `expires_at` (epoch seconds, the table's TTL attribute) and, once used, consumed_by /
consumed_at. Until it is consumed `expires_at` is the end of the nonce's validity; consuming it
moves `expires_at` out to the retention horizon so replays and reuse attempts still find it.
TTL deletion is lazy (up to days late), so validity is always checked in the condition as well.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.clock import epoch_seconds, iso_from_ms
from cdp.identity.account_link import LinkNonce

PK_PREFIX = "LINKNONCE#"
SK = "NONCE"

# Ok when this event already consumed it (a stream replay), or when it is unused, issued for this
# LINE user and not yet expired. Everything else is refused and answered with the item as it was.
_CONSUME_CONDITION = (
    "attribute_exists(pk) AND (consumed_by = :event OR "
    "(attribute_not_exists(consumed_by) AND line_user_id = :user AND expires_at > :now))"
)
_CONSUME_UPDATE = "SET consumed_by = :event, consumed_at = if_not_exists(consumed_at, :now_iso), expires_at = :retain"


def nonce_key(nonce: str) -> dict[str, Any]:
    return {"pk": {"S": f"{PK_PREFIX}{nonce}"}, "sk": {"S": SK}}


class DynamoLinkNonceStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, nonce: LinkNonce) -> bool:
        item = {
            **nonce_key(nonce.nonce),
            "nonce": {"S": nonce.nonce},
            "member_id": {"S": nonce.member_id},
            "line_user_id": {"S": nonce.line_user_id},
            "channel": {"S": nonce.channel},
            "provider": {"S": nonce.provider},
            "created_at": {"S": nonce.created_at},
            "expires_at": {"N": str(epoch_seconds(nonce.expires_at))},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "storing a link nonce") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "storing a link nonce") from exc
        return True

    def consume(
        self, nonce: str, *, line_user_id: str, event_id: str, now_seconds: int, retain_until_seconds: int
    ) -> tuple[bool, LinkNonce | None]:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=nonce_key(nonce),
                UpdateExpression=_CONSUME_UPDATE,
                ConditionExpression=_CONSUME_CONDITION,
                ExpressionAttributeValues={
                    ":event": {"S": event_id},
                    ":user": {"S": line_user_id},
                    ":now": {"N": str(now_seconds)},
                    ":now_iso": {"S": iso_from_ms(now_seconds * 1000)},
                    ":retain": {"N": str(retain_until_seconds)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                old = exc.response.get("Item")  # absent when there is no such nonce
                return False, nonce_from_item(old) if old else None
            raise unavailable(exc, "consuming a link nonce") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "consuming a link nonce") from exc
        return True, nonce_from_item(response["Attributes"])

    def get(self, nonce: str) -> LinkNonce | None:
        """The nonce as stored (strongly consistent), for operators and tests."""
        try:
            item = self._client.get_item(TableName=self._table, Key=nonce_key(nonce), ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a link nonce") from exc
        return nonce_from_item(item) if item else None


def nonce_from_item(item: dict[str, Any]) -> LinkNonce:
    consumed_by = item.get("consumed_by", {}).get("S")
    return LinkNonce(
        nonce=item["nonce"]["S"],
        expires_at=iso_from_ms(int(item["expires_at"]["N"]) * 1000),
        member_id=item["member_id"]["S"],
        line_user_id=item["line_user_id"]["S"],
        channel=item["channel"]["S"],
        provider=item.get("provider", {}).get("S", ""),
        created_at=item.get("created_at", {}).get("S", ""),
        consumed_by=consumed_by,
    )
