"""Starting the identity workflows on Step Functions: execution names are derived from the merge,
so a duplicate request is a no-op. A Step Functions (standard) name stays taken for 90 days after
its execution closed, whatever the outcome; a fake client with that rule shows what happens to a
request that follows a failed execution."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from cdp.adapters.stepfunctions import StepFunctionsIdentityWorkflows
from cdp.identity.merge import merge_id_for

MERGE_ARN = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:Merge"
UNMERGE_ARN = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:Unmerge"


class FakeStepFunctions:
    """start_execution with Step Functions' name rule: a used name is refused (ExecutionAlreadyExists)."""

    def __init__(self) -> None:
        self.executions: dict[tuple[str, str], dict[str, Any]] = {}

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:
        if (stateMachineArn, name) in self.executions:
            raise ClientError(
                {"Error": {"Code": "ExecutionAlreadyExists", "Message": f"Execution Already Exists: '{name}'"}},
                "StartExecution",
            )
        self.executions[(stateMachineArn, name)] = {"input": json.loads(input), "status": "RUNNING"}
        return {"executionArn": f"{stateMachineArn}:{name}"}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        prefix, _, name = executionArn.rpartition(":")
        return {"status": self.executions[(prefix.replace(":execution:", ":stateMachine:"), name)]["status"]}

    def running(self) -> list[str]:
        return [name for (_arn, name), e in self.executions.items() if e["status"] == "RUNNING"]


def test_a_duplicate_merge_request_starts_nothing() -> None:
    client = FakeStepFunctions()
    workflows = StepFunctionsIdentityWorkflows(client, merge_arn=MERGE_ARN, unmerge_arn=UNMERGE_ARN)

    workflows.request("p_s", "p_l", requested_by="e-1")
    workflows.request("p_s", "p_l", requested_by="e-2")  # a replay, or another event proving the pair

    assert client.running() == [merge_id_for("p_s", "p_l")]
    (execution,) = client.executions.values()
    assert execution["input"]["requestedBy"] == "e-1"


def test_a_merge_requested_again_after_its_execution_failed_runs_again() -> None:
    client = FakeStepFunctions()
    workflows = StepFunctionsIdentityWorkflows(client, merge_arn=MERGE_ARN, unmerge_arn=UNMERGE_ARN)
    workflows.request("p_s", "p_l", requested_by="e-1")
    for execution in client.executions.values():
        execution["status"] = "FAILED"  # e.g. the survivor stayed busy longer than the retries

    workflows.request("p_s", "p_l", requested_by="e-9")

    assert len(client.running()) == 1, "the new request started no execution"


def test_an_unmerge_requested_again_after_its_execution_failed_runs_again() -> None:
    client = FakeStepFunctions()
    workflows = StepFunctionsIdentityWorkflows(client, merge_arn=MERGE_ARN, unmerge_arn=UNMERGE_ARN)
    workflows.start_unmerge("m_1", requested_by="admin:p_s")
    for execution in client.executions.values():
        execution["status"] = "FAILED"

    workflows.start_unmerge("m_1", requested_by="admin:p_s")

    assert len(client.running()) == 1, "the new request started no execution"


def test_a_request_after_a_successful_merge_starts_nothing() -> None:
    client = FakeStepFunctions()
    workflows = StepFunctionsIdentityWorkflows(client, merge_arn=MERGE_ARN, unmerge_arn=UNMERGE_ARN)
    workflows.request("p_s", "p_l", requested_by="e-1")
    for execution in client.executions.values():
        execution["status"] = "SUCCEEDED"

    workflows.request("p_s", "p_l", requested_by="e-2")

    assert len(client.executions) == 1
