"""Held sends released by EventBridge Scheduler: one one-time `at(...)` schedule per held send key,
in the product's schedule group, named `msg-release-<hash>` (a namespace apart from segment
schedules), that hands the request back to the sender function and deletes itself after firing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code, unavailable


class SchedulerReleases:
    def __init__(self, client: Any, *, group: str, target_arn: str, role_arn: str) -> None:
        self._client = client
        self._group = group
        self._target = target_arn
        self._role = role_arn

    def schedule_release(self, name: str, at_ms: int, request: dict[str, Any]) -> None:
        at = datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        schedule = {
            "Name": name,
            "GroupName": self._group,
            "ScheduleExpression": f"at({at})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "Target": {
                "Arn": self._target,
                "RoleArn": self._role,
                "Input": json.dumps({"requests": [request]}, ensure_ascii=False),
                "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 6 * 3600},
            },
            "Description": "Release a message held by quiet hours",
        }
        try:
            try:
                self._client.create_schedule(**schedule)
            except ClientError as exc:
                if error_code(exc) != "ConflictException":
                    raise
                self._client.update_schedule(**schedule)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"scheduling the release {name}") from exc
