"""Message templates in the core table.

- `TEMPLATE#<id>` / `META`: the record (name, description, status, latest version, channels, times),
  listed through gsi1 (`gsi1pk` = `TEMPLATES`, `gsi1sk` = the id).
- `TEMPLATE#<id>` / `VERSION#<0000000001>`: one version's content (JSON), written once
  (`attribute_not_exists`), never updated: a send pins the version it used.

A new version is one transaction: the record's conditional update (its latest version and status
still the ones read) and the version's conditional put, so two editors never both write version n.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import CONDITIONAL_CHECK_FAILED, TRANSACTION_CANCELED, error_code, unavailable
from cdp.messaging.content import CHANNELS, Channel
from cdp.messaging.templates.model import Template, TemplateVersion, content_from_dict

PK_PREFIX = "TEMPLATE#"
META = "META"
VERSION_PREFIX = "VERSION#"
INDEX_KEY = "TEMPLATES"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def template_pk(template_id: str) -> str:
    return f"{PK_PREFIX}{template_id}"


def _version_sk(version: int) -> str:
    return f"{VERSION_PREFIX}{version:010d}"


class DynamoTemplateStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, template: Template, first: TemplateVersion) -> bool:
        return self._transact(
            [
                {"Put": {**self._meta_put(template), "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {**self._version_put(first), "ConditionExpression": "attribute_not_exists(pk)"}},
            ],
            "creating a template",
        )

    def replace(
        self, template: Template, *, expected_version: int, expected_status: str, new_version: TemplateVersion | None
    ) -> bool:
        meta = {
            **self._meta_put(template),
            "ConditionExpression": "latest_version = :expected AND #status = :status",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}, ":status": _s(expected_status)},
        }
        if new_version is None:
            try:
                self._client.put_item(**meta)
            except ClientError as exc:
                if error_code(exc) == CONDITIONAL_CHECK_FAILED:
                    return False
                raise unavailable(exc, "writing a template") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, "writing a template") from exc
            return True
        return self._transact(
            [
                {"Put": meta},
                {"Put": {**self._version_put(new_version), "ConditionExpression": "attribute_not_exists(pk)"}},
            ],
            "writing a template version",
        )

    def get(self, template_id: str) -> Template | None:
        item = self._get({"pk": _s(template_pk(template_id)), "sk": _s(META)}, "reading a template")
        return _template(item) if item else None

    def version(self, template_id: str, version: int) -> TemplateVersion | None:
        if version < 1:
            return None
        item = self._get({"pk": _s(template_pk(template_id)), "sk": _s(_version_sk(version))}, "reading a template")
        if not item:
            return None
        return TemplateVersion(
            template_id=template_id,
            version=int(item["version"]["N"]),
            content=content_from_dict(json.loads(item["content"]["S"])),
            created_at=item["created_at"]["S"],
        )

    def versions(self, template_id: str) -> list[tuple[int, str]]:
        items = self._query(
            {
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {":pk": _s(template_pk(template_id)), ":prefix": _s(VERSION_PREFIX)},
                "ProjectionExpression": "#version, created_at",
                "ExpressionAttributeNames": {"#version": "version"},
            },
            "listing template versions",
        )
        return [(int(item["version"]["N"]), item["created_at"]["S"]) for item in items]

    def templates(self) -> list[Template]:
        items = self._query(
            {
                "IndexName": "gsi1",
                "KeyConditionExpression": "gsi1pk = :pk",
                "ExpressionAttributeValues": {":pk": _s(INDEX_KEY)},
            },
            "listing templates",
        )
        return sorted((_template(item) for item in items), key=lambda t: t.template_id)

    # ---------------------------------------------------------------------------------------------
    def _meta_put(self, template: Template) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": _s(template_pk(template.template_id)),
            "sk": _s(META),
            "gsi1pk": _s(INDEX_KEY),
            "gsi1sk": _s(template.template_id),
            "template_id": _s(template.template_id),
            "name": _s(template.name),
            "description": _s(template.description),
            "status": _s(template.status),
            "latest_version": {"N": str(template.latest_version)},
            "channels": {"L": [_s(channel) for channel in template.channels]},
            "created_at": _s(template.created_at),
            "updated_at": _s(template.updated_at),
        }
        if template.archived_at:
            item["archived_at"] = _s(template.archived_at)
        return {"TableName": self._table, "Item": item}

    def _version_put(self, version: TemplateVersion) -> dict[str, Any]:
        content = json.dumps(version.content.as_dict(), ensure_ascii=False, separators=(",", ":"))
        return {
            "TableName": self._table,
            "Item": {
                "pk": _s(template_pk(version.template_id)),
                "sk": _s(_version_sk(version.version)),
                "version": {"N": str(version.version)},
                "content": _s(content),
                "created_at": _s(version.created_at),
            },
        }

    def _transact(self, items: list[dict[str, Any]], what: str) -> bool:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) == TRANSACTION_CANCELED:
                reasons = exc.response.get("CancellationReasons") or []
                codes = {str(reason.get("Code")) for reason in reasons if reason.get("Code") not in (None, "None")}
                if not codes or codes <= {"ConditionalCheckFailed"}:
                    return False
            raise unavailable(exc, what) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, what) from exc
        return True

    def _get(self, key: dict[str, Any], what: str) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] | None = self._client.get_item(
                TableName=self._table, Key=key, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, what) from exc
        return item

    def _query(self, request: dict[str, Any], what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request = {"TableName": self._table, **request}
        while True:
            try:
                response = self._client.query(**request)
            except (ClientError, BotoCoreError) as exc:
                raise unavailable(exc, what) from exc
            items.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return items
            request["ExclusiveStartKey"] = last


def _template(item: dict[str, Any]) -> Template:
    channels: tuple[Channel, ...] = tuple(
        channel for channel in CHANNELS if channel in {entry.get("S") for entry in item["channels"]["L"]}
    )
    return Template(
        template_id=item["template_id"]["S"],
        name=item["name"]["S"],
        description=item.get("description", {}).get("S", ""),
        status=item["status"]["S"],
        latest_version=int(item["latest_version"]["N"]),
        channels=channels,
        created_at=item["created_at"]["S"],
        updated_at=item["updated_at"]["S"],
        archived_at=item.get("archived_at", {}).get("S"),
    )
