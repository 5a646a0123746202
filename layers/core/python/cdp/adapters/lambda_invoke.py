"""Start a function asynchronously (InvocationType=Event): the admin API starts the import worker,
the worker its own continuation; the event processor hands auto-replies to the message sender."""

from __future__ import annotations

import json
from collections.abc import Sequence
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


class LambdaSendRequests:
    """Send requests to the message sender as one asynchronous invoke (`{"requests": [...]}`):
    Lambda queues it and retries a failed run; the send key makes any repeat a no-op."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def submit(self, requests: Sequence[dict[str, Any]]) -> None:
        payload = json.dumps({"requests": list(requests)}, ensure_ascii=False, separators=(",", ":"))
        try:
            response = self._client.invoke(
                FunctionName=self._function, InvocationType="Event", Payload=payload.encode()
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "handing send requests to the message sender") from exc
        if response.get("StatusCode") != 202:
            raise StoreUnavailable(f"the message sender answered {response.get('StatusCode')} to an invoke")


class LambdaContinuation:
    """A job continued in a fresh asynchronous invocation of the same function (the retention job)."""

    def __init__(self, client: Any, function_arn: str) -> None:
        self._client = client
        self._function = function_arn

    def start(self, payload: dict[str, Any], *, doing: str) -> None:
        try:
            response = self._client.invoke(
                FunctionName=self._function, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc
        if response.get("StatusCode") != 202:
            raise StoreUnavailable(f"{doing} answered {response.get('StatusCode')}")


class LambdaExportStarter:
    """A person export's run: an asynchronous invoke of the admin function that serves it
    (`{"profile_export": <job id>}`, cdp.privacy.export_jobs)."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def start_export(self, job_id: str) -> None:
        payload = json.dumps({"profile_export": job_id}).encode()
        try:
            self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=payload)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "starting the export job") from exc
