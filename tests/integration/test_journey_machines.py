"""The Step Functions adapter of JourneyMachines on moto: a version's machine is created once with
the journeys role and its compiled definition, found again when published again, and deleted."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cdp.adapters.journey_machines import StepFunctionsJourneyMachines
from cdp.journeys.compiler import compile_version
from cdp.journeys.definition import parse_definition
from cdp.journeys.model import PublishedVersion

from infra.local.config import REGION
from tests.unit.journey_samples import CART

STEP_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:cdp-journey_step"
ROLE_ARN = "arn:aws:iam::123456789012:role/cdp-journeys"


def version(number: int = 1) -> PublishedVersion:
    return PublishedVersion(
        "cart", number, parse_definition(CART).document(), {"cart-reminder": 2}, "2026-12-01T00:00:00Z"
    )


def machines(sfn: Any) -> StepFunctionsJourneyMachines:
    return StepFunctionsJourneyMachines(sfn, role_arn=ROLE_ARN, step_function_arn=STEP_ARN, name_prefix="LineCdp")


def test_deploy_creates_the_versions_machine_once_and_retire_deletes_it(aws: None) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    adapter = machines(sfn)
    arn = adapter.deploy(version())
    assert arn == f"arn:aws:states:{REGION}:123456789012:stateMachine:LineCdp-journey-cart-v1"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["roleArn"] == ROLE_ARN and described["type"] == "STANDARD"
    assert json.loads(described["definition"]) == compile_version(version(), STEP_ARN)
    assert adapter.deploy(version()) == arn
    assert adapter.deploy(version(2)).endswith(":LineCdp-journey-cart-v2")
    assert len(sfn.list_state_machines()["stateMachines"]) == 2
    adapter.retire(arn)
    adapter.retire(arn)  # gone already: nothing to do
    assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["LineCdp-journey-cart-v2"]


class Exists:
    """Step Functions refusing a second machine of that name (another definition), then describing it."""

    def __init__(self) -> None:
        self.described: list[str] = []

    def create_state_machine(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": "StateMachineAlreadyExists", "Message": "exists"}}, "CreateStateMachine")

    def describe_state_machine(self, stateMachineArn: str) -> Any:
        self.described.append(stateMachineArn)
        return {"stateMachineArn": stateMachineArn}


def test_a_machine_of_that_name_is_the_versions_machine() -> None:
    client = Exists()
    arn = machines(client).deploy(version())
    assert client.described == [arn] and arn.endswith(":stateMachine:LineCdp-journey-cart-v1")


def test_other_errors_are_not_swallowed() -> None:
    class Denied(Exists):
        def create_state_machine(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateStateMachine")

    with pytest.raises(ClientError):
        machines(Denied()).deploy(version())
    with pytest.raises(ValueError):
        StepFunctionsJourneyMachines(Exists(), role_arn=ROLE_ARN, step_function_arn="not-an-arn", name_prefix="x")
