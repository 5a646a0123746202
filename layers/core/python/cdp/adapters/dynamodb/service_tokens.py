"""Service tokens in the core table: one partition, one item per token, only the secret's SHA-256.

Item: pk `ACCESS#service-tokens`, sk `TOKEN#<id>`, with name, role, secret_sha256, created_at_ms,
created_by and, once revoked, revoked_at_ms / revoked_by (kept, so the audit trail can name the
token a past request used).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.access.service_tokens import ServiceToken
from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable

PK = "ACCESS#service-tokens"
SK_PREFIX = "TOKEN#"


def _key(token_id: str) -> dict[str, Any]:
    return {"pk": {"S": PK}, "sk": {"S": f"{SK_PREFIX}{token_id}"}}


class DynamoServiceTokens:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, token: ServiceToken) -> None:
        item: dict[str, Any] = {
            **_key(token.token_id),
            "token_id": {"S": token.token_id},
            "name": {"S": token.name},
            "role": {"S": token.role},
            "secret_sha256": {"S": token.secret_sha256},
            "created_at_ms": {"N": str(token.created_at_ms)},
            "created_by": {"S": token.created_by},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except (BotoCoreError, ClientError) as exc:
            # Includes 64 random id bits colliding: the condition refuses, never overwrites.
            raise unavailable(exc, "storing a service token") from exc

    def get(self, token_id: str) -> ServiceToken | None:
        try:
            found = self._client.get_item(TableName=self._table, Key=_key(token_id), ConsistentRead=True)
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, "reading a service token") from exc
        item = found.get("Item")
        return _token(item) if item else None

    def list(self, limit: int) -> list[ServiceToken]:
        tokens: list[ServiceToken] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
            "ExpressionAttributeValues": {":pk": {"S": PK}, ":sk": {"S": SK_PREFIX}},
        }
        try:
            while len(tokens) < limit:
                page = self._client.query(**request, Limit=limit - len(tokens))
                tokens.extend(_token(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as exc:
            raise unavailable(exc, "listing service tokens") from exc
        return tokens

    def revoke(self, token_id: str, *, at_ms: int, by: str) -> ServiceToken | None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(token_id),
                UpdateExpression="SET revoked_at_ms = if_not_exists(revoked_at_ms, :at), "
                "revoked_by = if_not_exists(revoked_by, :by)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": {"N": str(at_ms)}, ":by": {"S": by}},
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return None
            raise unavailable(exc, "revoking a service token") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "revoking a service token") from exc
        return self.get(token_id)


def _token(item: dict[str, Any]) -> ServiceToken:
    revoked = item.get("revoked_at_ms")
    return ServiceToken(
        token_id=item["token_id"]["S"],
        name=item["name"]["S"],
        role=item["role"]["S"],
        secret_sha256=item["secret_sha256"]["S"],
        created_at_ms=int(item["created_at_ms"]["N"]),
        created_by=item["created_by"]["S"],
        revoked_at_ms=int(revoked["N"]) if revoked else None,
        revoked_by=item["revoked_by"]["S"] if "revoked_by" in item else None,
    )
