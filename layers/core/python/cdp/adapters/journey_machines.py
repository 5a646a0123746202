"""JourneyMachines on Step Functions: each published version gets a Standard state machine of its
own (cdp.journeys.compiler), created at publish with the journeys role and deleted when retired
(a failed publish, or a superseded version nothing runs on any more: cdp.journeys.retirement).

Deploying is idempotent: a machine of the version's name exists already = deployed (a version is
immutable, so the machine of that name is its machine)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from cdp.adapters.aws import client as aws_client
from cdp.journeys.compiler import compile_json, state_machine_name
from cdp.journeys.model import PublishedVersion
from cdp.observability import logger
from cdp.settings import JourneyMachinesSettings

ALREADY_EXISTS = "StateMachineAlreadyExists"
GONE = ("StateMachineDoesNotExist", "ResourceNotFound")


class StepFunctionsJourneyMachines:
    def __init__(self, client: Any, *, role_arn: str, step_function_arn: str, name_prefix: str) -> None:
        self._client = client
        self._role_arn = role_arn
        self._step_function_arn = step_function_arn
        self._prefix = name_prefix
        parts = step_function_arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda":
            raise ValueError(f"not a Lambda function ARN: {step_function_arn!r}")
        self._partition, self._region, self._account = parts[1], parts[3], parts[4]

    @classmethod
    def from_env(cls) -> StepFunctionsJourneyMachines:
        settings = JourneyMachinesSettings.from_env()
        return cls(
            aws_client("stepfunctions"),
            role_arn=settings.role_arn,
            step_function_arn=settings.step_function_arn,
            name_prefix=settings.name_prefix,
        )

    def name(self, version: PublishedVersion) -> str:
        return state_machine_name(self._prefix, version.journey_id, version.version)

    def arn(self, name: str) -> str:
        return f"arn:{self._partition}:states:{self._region}:{self._account}:stateMachine:{name}"

    def deploy(self, version: PublishedVersion) -> str:
        name = self.name(version)
        try:
            created = self._client.create_state_machine(
                name=name,
                definition=compile_json(version, self._step_function_arn),
                roleArn=self._role_arn,
                type="STANDARD",
                tags=[
                    {"key": "cdp:journey", "value": version.journey_id},
                    {"key": "cdp:journey-version", "value": str(version.version)},
                ],
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != ALREADY_EXISTS:
                raise
            existing = self.arn(name)
            self._client.describe_state_machine(stateMachineArn=existing)  # it is there (raises if not)
            logger.info("journey state machine exists already", extra={"state_machine": name})
            return existing
        arn: str = created["stateMachineArn"]
        logger.info("journey state machine created", extra={"state_machine": name})
        return arn

    def retire(self, state_machine_arn: str) -> None:
        _delete(self._client, state_machine_arn)


class StepFunctionsMachineRetirement:
    """What the sweep of superseded versions needs (cdp.journeys.retirement): whether a machine
    has a running execution, and deleting it."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def running(self, state_machine_arn: str) -> bool:
        try:
            answer = self._client.list_executions(
                stateMachineArn=state_machine_arn, statusFilter="RUNNING", maxResults=1
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in GONE:
                return False
            raise
        return bool(answer.get("executions"))

    def retire(self, state_machine_arn: str) -> None:
        _delete(self._client, state_machine_arn)


def _delete(sfn: Any, state_machine_arn: str) -> None:
    try:
        sfn.delete_state_machine(stateMachineArn=state_machine_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in GONE:
            raise
    logger.info("journey state machine retired", extra={"state_machine": state_machine_arn})
