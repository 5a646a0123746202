"""Starts the identity workflows on Step Functions.

Execution names are derived from the merge (see `merge_id_for`), so a repeated request, e.g. a
stream replay or two events proving the same pair at once, finds the execution that exists and
does nothing: Step Functions refuses a second execution with the same name.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code, unavailable
from cdp.identity.merge import merge_id_for

ALREADY_EXISTS = "ExecutionAlreadyExists"


class StepFunctionsIdentityWorkflows:
    def __init__(self, client: Any, *, merge_arn: str = "", unmerge_arn: str = "") -> None:
        self._client = client
        self._merge_arn = merge_arn
        self._unmerge_arn = unmerge_arn

    def request(self, survivor_id: str, loser_id: str, *, requested_by: str) -> None:
        merge_id = merge_id_for(survivor_id, loser_id)
        self._start(
            self._merge_arn,
            merge_id,
            {"survivor": survivor_id, "loser": loser_id, "requestedBy": requested_by, "mergeId": merge_id},
        )

    def start_unmerge(self, merge_id: str, *, requested_by: str) -> str:
        name = f"undo-{merge_id}"
        self._start(self._unmerge_arn, name, {"mergeId": merge_id, "requestedBy": requested_by})
        return name

    def _start(self, arn: str, name: str, payload: dict[str, Any]) -> None:
        if not arn:
            raise RuntimeError("identity workflow state machine ARN is not configured")
        try:
            self._client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
        except ClientError as exc:
            if error_code(exc) == ALREADY_EXISTS:
                return  # the same merge was requested before: it runs (or ran) once
            raise unavailable(exc, "starting an identity workflow") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "starting an identity workflow") from exc
