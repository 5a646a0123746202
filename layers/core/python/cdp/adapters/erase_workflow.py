"""Starts the erase workflow on Step Functions, named by the erase (a repeated start is a no-op)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code, unavailable
from cdp.adapters.stepfunctions import ALREADY_EXISTS, CLOSED_UNSUCCESSFULLY, MAX_RESTARTS


class StepFunctionsEraseWorkflow:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def start(self, erase_id: str, *, round_number: int = 1) -> str:
        """Start the erase's run for this round (a restarted incomplete erase is a new round);
        a run that failed is started again under `<name>-<n>`. The name of the run that counts."""
        if not self._arn:
            raise RuntimeError("the erase state machine ARN is not configured")
        base = erase_id if round_number == 1 else f"{erase_id}-round-{round_number}"
        for attempt in range(1, MAX_RESTARTS + 1):
            name = base if attempt == 1 else f"{base}-{attempt}"
            try:
                self._client.start_execution(
                    stateMachineArn=self._arn, name=name, input=json.dumps({"eraseId": erase_id})
                )
                return name
            except ClientError as exc:
                if error_code(exc) != ALREADY_EXISTS:
                    raise unavailable(exc, "starting the erase workflow") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, "starting the erase workflow") from exc
            if self._status(name) not in CLOSED_UNSUCCESSFULLY:
                return name
        raise RuntimeError(f"{base} failed {MAX_RESTARTS} times; see its executions")

    def _status(self, name: str) -> str:
        arn = self._arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
        try:
            return str(self._client.describe_execution(executionArn=arn)["status"])
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading an erase run") from exc
