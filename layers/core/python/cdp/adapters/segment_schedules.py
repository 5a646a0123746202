"""One EventBridge Scheduler schedule per active segment, named after it, in the stack's segment
schedule group: `rate(N minutes)` -> the recompute function with {"segment_id": ...}."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code, unavailable


class SchedulerSegmentSchedules:
    def __init__(self, client: Any, *, group: str, target_arn: str, role_arn: str) -> None:
        self._client = client
        self._group = group
        self._target = target_arn
        self._role = role_arn

    def put(self, segment_id: str, every_minutes: int) -> None:
        """Create the schedule, or update it when it exists (same name, new cadence)."""
        request = {
            "Name": segment_id,
            "GroupName": self._group,
            "ScheduleExpression": f"rate({every_minutes} minutes)",
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": min(15, every_minutes // 4)},
            "Target": {
                "Arn": self._target,
                "RoleArn": self._role,
                "Input": json.dumps({"segment_id": segment_id}),
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
            },
            "Description": f"Recompute segment {segment_id} every {every_minutes} minutes",
        }
        try:
            try:
                self._client.create_schedule(**request)
            except ClientError as exc:
                if error_code(exc) != "ConflictException":
                    raise
                self._client.update_schedule(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"scheduling segment {segment_id}") from exc

    def delete(self, segment_id: str) -> None:
        try:
            self._client.delete_schedule(Name=segment_id, GroupName=self._group)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise unavailable(exc, f"unscheduling segment {segment_id}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"unscheduling segment {segment_id}") from exc
