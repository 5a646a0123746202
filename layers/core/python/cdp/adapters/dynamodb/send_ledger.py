"""The send point's items in the core table.

- `SEND#<send key>` / `SEND`: the send key's record (state + the record as JSON); every write is
  conditional on the state it expects, so two invocations of one send key cannot both claim it.
- `SENDBATCH#<batch id>` / `BATCH`: a multicast's recipients and content, stored before the call.
- `MSGCAP#<profile id>` / `<counter key>`: a frequency-cap counter as a string set of send keys;
  one transaction adds the send key to every counter of a send if each holds it already or has
  room (`size(keys) < limit`), so a retried send counts once and a full counter refuses them all.
- `SUPPRESSION#<channel>#<address>` / `SUPPRESSION`: bounced/complained email, opted-out phones.
- `CONFIG#messaging-policy#<workspace>` / `CONFIG`: the workspace's messaging policy, versioned.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.config_items import VersionedConfigItem
from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, TRANSACTION_CANCELED, error_code, unavailable
from cdp.messaging.content import Channel
from cdp.messaging.policy import CapCounter, MessagingPolicy
from cdp.messaging.ports import MulticastBatch, SendRecord, State

SEND_PREFIX = "SEND#"
BATCH_PREFIX = "SENDBATCH#"
CAP_PREFIX = "MSGCAP#"
SUPPRESSION_PREFIX = "SUPPRESSION#"
POLICY_PREFIX = "CONFIG#messaging-policy#"
KEY_PREFIXES = (SEND_PREFIX, BATCH_PREFIX, CAP_PREFIX, SUPPRESSION_PREFIX)
TTL_ATTRIBUTE = "expires_at"
RECORD_KEEP_SECONDS = 400 * 86400  # longer than any campaign's or journey's replay window


class DynamoSendLedger:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, send_key: str) -> SendRecord | None:
        item = self._get({"pk": {"S": SEND_PREFIX + send_key}, "sk": {"S": "SEND"}}, "reading a send record")
        if item is None:
            return None
        document = json.loads(item["doc"]["S"])
        document["cap_keys"] = tuple(document.get("cap_keys", ()))
        return SendRecord(**document)

    def put(self, record: SendRecord, *, expect: Sequence[State | None]) -> bool:
        conditions: list[str] = []
        values: dict[str, Any] = {}
        if None in expect:
            conditions.append("attribute_not_exists(pk)")
        states = [state for state in expect if state is not None]
        if states:
            names = [f":s{index}" for index in range(len(states))]
            values.update({name: {"S": state} for name, state in zip(names, states, strict=True)})
            conditions.append(f"#state IN ({', '.join(names)})")
        request: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": {"S": SEND_PREFIX + record.send_key},
                "sk": {"S": "SEND"},
                "state": {"S": record.state},
                "doc": {"S": json.dumps(dataclasses.asdict(record), ensure_ascii=False, separators=(",", ":"))},
                TTL_ATTRIBUTE: {"N": str(record.at_ms // 1000 + RECORD_KEEP_SECONDS)},
            },
            "ConditionExpression": " OR ".join(conditions),
        }
        if states:
            request["ExpressionAttributeNames"] = {"#state": "state"}
            request["ExpressionAttributeValues"] = values
        return self._conditional_put(request, "writing a send record")

    def put_batch(self, batch: MulticastBatch) -> MulticastBatch:
        key = {"pk": {"S": BATCH_PREFIX + batch.batch_id}, "sk": {"S": "BATCH"}}
        document = dataclasses.asdict(batch)
        request = {
            "TableName": self._table,
            "Item": {
                **key,
                "doc": {"S": json.dumps(document, ensure_ascii=False, separators=(",", ":"))},
                TTL_ATTRIBUTE: {"N": str(batch.at_ms // 1000 + RECORD_KEEP_SECONDS)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if self._conditional_put(request, "writing a multicast batch"):
            return batch
        stored = self.get_batch(batch.batch_id)
        if stored is None:  # cannot happen: the condition failed because it exists
            raise unavailable(ClientError({"Error": {"Code": "BatchVanished"}}, "GetItem"), "reading a batch")
        return stored

    def get_batch(self, batch_id: str) -> MulticastBatch | None:
        item = self._get({"pk": {"S": BATCH_PREFIX + batch_id}, "sk": {"S": "BATCH"}}, "reading a multicast batch")
        if item is None:
            return None
        document = json.loads(item["doc"]["S"])
        document["to"] = tuple(document["to"])
        return MulticastBatch(**document)

    def _get(self, key: dict[str, Any], what: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self._table, Key=key, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, what) from exc
        return item

    def _conditional_put(self, request: dict[str, Any], what: str) -> bool:
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, what) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, what) from exc
        return True


class DynamoFrequencyCaps:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def take(self, profile_id: str, send_key: str, counters: Sequence[CapCounter]) -> CapCounter | None:
        if not counters:
            return None
        updates = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": CAP_PREFIX + profile_id}, "sk": {"S": counter.key}},
                    "UpdateExpression": "ADD #keys :add SET #ttl = :ttl",
                    "ConditionExpression": "attribute_not_exists(#keys) OR contains(#keys, :key) OR size(#keys) < :limit",
                    "ExpressionAttributeNames": {"#keys": "keys", "#ttl": TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": {
                        ":add": {"SS": [send_key]},
                        ":key": {"S": send_key},
                        ":limit": {"N": str(counter.limit)},
                        ":ttl": {"N": str(counter.expires_at_s)},
                    },
                }
            }
            for counter in counters
        ]
        try:
            self._client.transact_write_items(TransactItems=updates)
        except ClientError as exc:
            if error_code(exc) != TRANSACTION_CANCELED:
                raise unavailable(exc, "counting a send against its caps") from exc
            reasons = exc.response.get("CancellationReasons") or []
            codes = [reason.get("Code", "None") for reason in reasons]
            full = [counters[i] for i, code in enumerate(codes[: len(counters)]) if code == "ConditionalCheckFailed"]
            if full:
                return full[0]
            raise unavailable(exc, "counting a send against its caps") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "counting a send against its caps") from exc
        return None

    def give_back(self, profile_id: str, send_key: str, keys: Sequence[str]) -> None:
        for key in keys:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": CAP_PREFIX + profile_id}, "sk": {"S": key}},
                    UpdateExpression="DELETE #keys :key",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#keys": "keys"},
                    ExpressionAttributeValues={":key": {"SS": [send_key]}},
                )
            except ClientError as exc:
                if error_code(exc) != CONDITIONAL_CHECK_FAILED:  # nothing to give back
                    raise unavailable(exc, "giving a cap back") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, "giving a cap back") from exc

    def count(self, profile_id: str, key: str) -> int:
        try:
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": CAP_PREFIX + profile_id}, "sk": {"S": key}},
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a cap counter") from exc
        return len(item["keys"]["SS"]) if item and "keys" in item else 0


class DynamoSuppressionList:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    @staticmethod
    def _key(channel: Channel, address: str) -> dict[str, Any]:
        return {"pk": {"S": f"{SUPPRESSION_PREFIX}{channel}#{address.strip().lower()}"}, "sk": {"S": "SUPPRESSION"}}

    def suppressed(self, channel: Channel, address: str) -> bool:
        try:
            item = self._client.get_item(TableName=self._table, Key=self._key(channel, address)).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the suppression list") from exc
        return item is not None

    def suppress(self, channel: Channel, address: str, *, reason: str, at_ms: int) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(channel, address), "reason": {"S": reason}, "at_ms": {"N": str(at_ms)}},
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "writing the suppression list") from exc


class DynamoPolicySource:
    """The workspace's messaging policy, read once per `cache_seconds` (defaults when none stored)."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default", cache_seconds: int = 60) -> None:
        self._item = VersionedConfigItem(
            client, table_name, pk_prefix=POLICY_PREFIX, workspace=workspace, what="messaging policy"
        )
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, MessagingPolicy] | None = None

    def policy(self) -> MessagingPolicy:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        stored = self._item.read()
        policy = MessagingPolicy.from_document(stored[0]) if stored else MessagingPolicy()
        self._cached = (now, policy)
        return policy


class DynamoMessagingPolicy:
    """The admin side of the policy document: read with its version, replace compare-and-set."""

    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._item = VersionedConfigItem(
            client, table_name, pk_prefix=POLICY_PREFIX, workspace=workspace, what="messaging policy"
        )

    def get(self) -> tuple[MessagingPolicy, int]:
        stored = self._item.read()
        return (MessagingPolicy.from_document(stored[0]), stored[1]) if stored else (MessagingPolicy(), 0)

    def put(self, policy: MessagingPolicy, *, expected_version: int) -> int:
        return self._item.write(policy.as_document(), expected_version=expected_version)
