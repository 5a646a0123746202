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
CLOSED_UNSUCCESSFULLY = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# A name stays taken for 90 days after its execution closed. When a run failed (e.g. a profile
# stayed busy longer than the retries), a later request starts `<name>-2`, `-3`, ...: the ledger
# makes a re-run resume where the failed one stopped.
MAX_RESTARTS = 10


class StepFunctionsIdentityWorkflows:
    def __init__(self, client: Any, *, merge_arn: str = "", unmerge_arn: str = "") -> None:
        self._client = client
        self._merge_arn = merge_arn
        self._unmerge_arn = unmerge_arn

    def request(self, survivor_id: str, loser_id: str, *, requested_by: str, merge_id: str | None = None) -> None:
        merge_id = merge_id or merge_id_for(survivor_id, loser_id)
        self._start(
            self._merge_arn,
            merge_id,
            {"survivor": survivor_id, "loser": loser_id, "requestedBy": requested_by, "mergeId": merge_id},
        )

    def start_unmerge(self, merge_id: str, *, requested_by: str) -> str:
        return self._start(self._unmerge_arn, f"undo-{merge_id}", {"mergeId": merge_id, "requestedBy": requested_by})

    def _start(self, arn: str, base_name: str, payload: dict[str, Any]) -> str:
        """Start `base_name` (or its next restart); returns the name of the run that counts."""
        if not arn:
            raise RuntimeError("identity workflow state machine ARN is not configured")
        for attempt in range(1, MAX_RESTARTS + 1):
            name = base_name if attempt == 1 else f"{base_name}-{attempt}"
            try:
                self._client.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))
                return name
            except ClientError as exc:
                if error_code(exc) != ALREADY_EXISTS:
                    raise unavailable(exc, "starting an identity workflow") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, "starting an identity workflow") from exc
            if self._status(arn, name) not in CLOSED_UNSUCCESSFULLY:
                return name  # requested before and running or done: a duplicate is a no-op
        raise RuntimeError(f"{base_name} failed {MAX_RESTARTS} times; see its executions")

    def _status(self, state_machine_arn: str, name: str) -> str:
        execution_arn = f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
        try:
            status: str = self._client.describe_execution(executionArn=execution_arn)["status"]
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "reading an identity workflow") from exc
        return status
