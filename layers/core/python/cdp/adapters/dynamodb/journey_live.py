"""The event names live journeys listen to, as the processor reads them on every batch (cached).

Kept apart from the run and journey stores so the processor's cold start imports nothing of the
journey domain (its definition models cost about 80 ms to import).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable

LIVE_KEY = {"pk": {"S": "JOURNEYS"}, "sk": {"S": "LIVE"}}  # the live journeys' listing (the journey service writes it)


class DynamoLiveJourneyEvents:
    """The `events` of the `JOURNEYS` / `LIVE` item's document: what the processor publishes as
    `event.received` whatever the deploy selects."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def __call__(self) -> frozenset[str]:
        try:
            item = self._client.get_item(TableName=self._table, Key=LIVE_KEY, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading the live journeys") from exc
        if not item or "doc" not in item:
            return frozenset()
        names = json.loads(item["doc"]["S"]).get("events") or []
        return frozenset(name for name in names if isinstance(name, str))
