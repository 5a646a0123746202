"""Start a function asynchronously (InvocationType=Event): the admin API starts the import worker,
the worker its own continuation."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import unavailable
from cdp.errors import StoreUnavailable


class LambdaImportStarter:
    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def start(self, import_id: str) -> None:
        try:
            response = self._client.invoke(
                FunctionName=self._function,
                InvocationType="Event",
                Payload=json.dumps({"importId": import_id}).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "starting the import worker") from exc
        if response.get("StatusCode") != 202:
            raise StoreUnavailable(f"starting the import worker answered {response.get('StatusCode')}")
