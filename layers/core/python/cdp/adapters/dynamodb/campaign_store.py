"""Campaigns in the core table.

- `CAMPAIGN#<id>` / `DEF`: the campaign as JSON with its `version` and `status` (compare-and-set
  on the version); gsi1 `CAMPAIGNS` / `<id>` lists them.
- `CAMPAIGN#<id>` / `RUN#<run id>`: a run: its status, fan-out cursor and counts.
- `MSGPRICING#<workspace>` / `CONFIG`: the workspace's pricing config (versioned).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.config_items import VersionedConfigItem
from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, error_code, unavailable
from cdp.adapters.dynamodb.send_ledger import CAP_PREFIX
from cdp.campaigns.model import Campaign, Run
from cdp.campaigns.pricing import Pricing

PK_PREFIX = "CAMPAIGN#"
PRICING_PREFIX = "MSGPRICING#"
INDEX_KEY = "CAMPAIGNS"
BATCH_GET_LIMIT = 100  # keys per BatchGetItem


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


class DynamoCampaignStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, campaign: Campaign) -> bool:
        return self._put(self._campaign_item(campaign), "attribute_not_exists(pk)", {}, "creating a campaign")

    def replace(self, campaign: Campaign, *, expected_version: int) -> bool:
        values = {":expected": {"N": str(expected_version)}}
        return self._put(self._campaign_item(campaign), "version = :expected", values, "writing a campaign")

    def delete(self, campaign_id: str, *, expected_version: int) -> bool:
        """The runs first, then the campaign (conditionally): a campaign created again under the same
        id never finds a run of the deleted one. Only drafts and cancelled campaigns are deleted, so
        no runner writes a run meanwhile."""
        key = _s(PK_PREFIX + campaign_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :runs)",
            "ExpressionAttributeValues": {":pk": key, ":runs": _s("RUN#")},
            "ProjectionExpression": "sk",
            "ConsistentRead": True,
        }
        current = self._get(campaign_id, "DEF", "reading a campaign")
        if current is None or current["version"]["N"] != str(expected_version):
            return False
        try:
            while True:
                page = self._client.query(**request)
                for item in page.get("Items", []):
                    self._client.delete_item(TableName=self._table, Key={"pk": key, "sk": item["sk"]})
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": key, "sk": _s("DEF")},
                ConditionExpression="version = :expected",
                ExpressionAttributeValues={":expected": {"N": str(expected_version)}},
            )
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, "deleting a campaign") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "deleting a campaign") from exc
        return True

    def get(self, campaign_id: str) -> Campaign | None:
        item = self._get(campaign_id, "DEF", "reading a campaign")
        return Campaign.from_dict(json.loads(item["doc"]["S"])) if item else None

    def list(self) -> list[Campaign]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(INDEX_KEY)},
        }
        found: list[Campaign] = []
        while True:
            try:
                page = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, "listing campaigns") from exc
            found.extend(Campaign.from_dict(json.loads(item["doc"]["S"])) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(found, key=lambda c: c.campaign_id)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_run(self, campaign_id: str, run_id: str) -> Run | None:
        item = self._get(campaign_id, f"RUN#{run_id}", "reading a campaign run")
        return Run.from_dict(json.loads(item["doc"]["S"])) if item else None

    def start_run(self, run: Run) -> bool:
        return self._put(self._run_item(run), "attribute_not_exists(pk)", {}, "starting a campaign run")

    def replace_run(self, run: Run, *, expected_version: int) -> bool:
        values = {":expected": {"N": str(expected_version)}}
        return self._put(self._run_item(run), "version = :expected", values, "writing a campaign run")

    def run_status(self, campaign_id: str, run_id: str) -> tuple[str | None, str | None]:
        keys = [{"pk": _s(PK_PREFIX + campaign_id), "sk": _s(sk)} for sk in ("DEF", f"RUN#{run_id}")]
        try:
            answer = self._client.batch_get_item(
                RequestItems={
                    self._table: {
                        "Keys": keys,
                        "ProjectionExpression": "sk, #status",
                        "ExpressionAttributeNames": {"#status": "status"},
                    }
                }
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading a campaign's state") from exc
        found = {item["sk"]["S"]: item["status"]["S"] for item in answer.get("Responses", {}).get(self._table, [])}
        # Unprocessed keys (throttling) read as "unknown": the send goes on, as it would have a moment ago.
        return found.get("DEF"), found.get(f"RUN#{run_id}")

    # internals -----------------------------------------------------------------------------
    def _campaign_item(self, campaign: Campaign) -> dict[str, Any]:
        return {
            "pk": _s(PK_PREFIX + campaign.campaign_id),
            "sk": _s("DEF"),
            "gsi1pk": _s(INDEX_KEY),
            "gsi1sk": _s(campaign.campaign_id),
            "version": {"N": str(campaign.version)},
            "status": _s(campaign.status),
            "doc": _s(_dump(campaign.as_dict())),
        }

    def _run_item(self, run: Run) -> dict[str, Any]:
        return {
            "pk": _s(PK_PREFIX + run.campaign_id),
            "sk": _s(f"RUN#{run.run_id}"),
            "version": {"N": str(run.version)},
            "status": _s(run.status),
            "doc": _s(_dump(run.as_dict())),
        }

    def _get(self, campaign_id: str, sk: str, what: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self._table, Key={"pk": _s(PK_PREFIX + campaign_id), "sk": _s(sk)}, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, what) from exc
        return item

    def _put(self, item: dict[str, Any], condition: str, values: dict[str, Any], what: str) -> bool:
        request: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**request)
        except ClientError as exc:
            if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                return False
            raise unavailable(exc, what) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, what) from exc
        return True


class DynamoCapCounts:
    """Reads the send point's frequency-cap counters (`MSGCAP#<profile>` / `<counter>`, a string
    set of send keys) without taking them: preflight's view of who is capped."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def counts(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[tuple[str, str], int]:
        keys = [(profile_id, key) for profile_id, counters in wanted.items() for key in counters]
        counts: dict[tuple[str, str], int] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            chunk = keys[start : start + BATCH_GET_LIMIT]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": _s(CAP_PREFIX + pid), "sk": _s(key)} for pid, key in chunk],
                    "ProjectionExpression": "pk, sk, #keys",
                    "ExpressionAttributeNames": {"#keys": "keys"},
                }
            }
            for _attempt in range(8):
                try:
                    answer = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise unavailable(exc, "reading frequency caps") from exc
                for item in answer.get("Responses", {}).get(self._table, []):
                    profile_id = item["pk"]["S"][len(CAP_PREFIX) :]
                    counts[(profile_id, item["sk"]["S"])] = len(item.get("keys", {}).get("SS", []))
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
        return counts


class DynamoPricing:
    def __init__(self, client: Any, table_name: str, *, workspace: str = "default") -> None:
        self._item = VersionedConfigItem(
            client, table_name, pk_prefix=PRICING_PREFIX, workspace=workspace, what="pricing config"
        )

    def read(self) -> tuple[Pricing, int]:
        stored = self._item.read()
        return (Pricing.from_document(stored[0]), stored[1]) if stored else (Pricing(), 0)

    def write(self, pricing: Pricing, *, expected_version: int) -> int:
        return self._item.write(pricing.as_dict(), expected_version=expected_version)
