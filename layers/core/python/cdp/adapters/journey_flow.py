"""Journey runtime adapters beside DynamoDB: the starts queue (SQS), executions (Step Functions),
scheduled-cohort schedules (EventBridge Scheduler) and run ending on archive (the consumer)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp import settings
from cdp.adapters.aws import client as aws_client
from cdp.adapters.dynamodb.errors import error_code, unavailable
from cdp.adapters.sqs_batches import send_bodies
from cdp.journeys.definition import ScheduledEntry
from cdp.journeys.model import PublishedVersion
from cdp.journeys.ports import EntryRequest
from cdp.journeys.runs import ACTIVE, RunStore
from cdp.journeys.starter import Started, entry_to_json
from cdp.settings import JourneyAdminSettings

SCHEDULE_PREFIX = "journey-"  # the journeys' namespace in their schedule group
# SendTaskSuccess on a token whose task is gone: the wait is over, whatever ended it.
_TOKEN_GONE = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


def schedule_name(journey_id: str) -> str:
    return SCHEDULE_PREFIX + journey_id


class SqsEntryQueue:
    """cdp.journeys.ports.EntryQueue: one message per entry (the starter answers per message)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, requests: Sequence[EntryRequest]) -> None:
        # A failure is retried by the caller; admission makes an entry queued twice start once.
        bodies = [entry_to_json(request) for request in requests]
        send_bodies(self._client, self._url, bodies, doing="queueing journey entries")


class StepFunctionsExecutions:
    """cdp.journeys.starter.Executions on Step Functions."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> Started:
        try:
            answer = self._client.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload, ensure_ascii=False, default=str)
            )
        except ClientError as exc:
            if error_code(exc) == "ExecutionAlreadyExists":
                return Started(execution_arn(state_machine_arn, name), new=False)
            raise unavailable(exc, "starting a journey run") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "starting a journey run") from exc
        return Started(str(answer["executionArn"]), new=True)

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        try:
            self._client.stop_execution(executionArn=execution_arn, error=error[:256], cause=cause[:32768])
        except ClientError as exc:
            if error_code(exc) != "ExecutionDoesNotExist":
                raise unavailable(exc, "stopping a journey run") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "stopping a journey run") from exc

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        try:
            self._client.send_task_success(
                taskToken=task_token, output=json.dumps(output, ensure_ascii=False, default=str)
            )
        except ClientError as exc:
            if error_code(exc) in _TOKEN_GONE:
                return False
            raise unavailable(exc, "resuming a journey run") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, "resuming a journey run") from exc
        return True


def execution_arn(state_machine_arn: str, name: str) -> str:
    """An execution's ARN from its machine's and its name (Standard workflows)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


class SchedulerEntrySchedules:
    """cdp.journeys.ports.EntrySchedules: `journey-<id>` in the journeys' schedule group, invoking
    the journey event consumer with `{"cohort": {"journey_id", "version", "scheduled_time"}}`."""

    def __init__(self, client: Any, *, group: str, target_arn: str, role_arn: str) -> None:
        self._client = client
        self._group = group
        self._target = target_arn
        self._role = role_arn

    @classmethod
    def from_env(cls) -> SchedulerEntrySchedules:
        """The admin API's: group, role and target from JourneyAdminSettings (all required here)."""
        config = JourneyAdminSettings.from_env()
        for value, name in (
            (config.schedule_group, settings.ENV_JOURNEY_SCHEDULE_GROUP),
            (config.scheduler_role_arn, settings.ENV_JOURNEY_SCHEDULER_ROLE_ARN),
            (config.journey_events_function, settings.ENV_JOURNEY_EVENTS_FUNCTION),
        ):
            if not value:
                raise settings.SettingsError(f"missing required environment variable {name}", setting=name)
        return cls(
            aws_client("scheduler"),
            group=config.schedule_group,
            target_arn=config.journey_events_function,
            role_arn=config.scheduler_role_arn,
        )

    def put(self, version: PublishedVersion) -> None:
        entry = version.definition.entry
        if not isinstance(entry, ScheduledEntry):
            return
        if entry.at:  # Scheduler's at() takes seconds; the definition may leave them out
            expression = f"at({entry.at if entry.at.count(':') == 2 else entry.at + ':00'})"
        else:
            expression = str(entry.expression)
        request: dict[str, Any] = {
            "Name": schedule_name(version.journey_id),
            "GroupName": self._group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": entry.time_zone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": self._target,
                "RoleArn": self._role,
                "Input": json.dumps(
                    {
                        "cohort": {
                            "journey_id": version.journey_id,
                            "version": version.version,
                            "scheduled_time": "<aws.scheduler.scheduled-time>",
                        }
                    }
                ),
                "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
            },
            "Description": f"Journey {version.journey_id} v{version.version}: scheduled cohort entry",
        }
        if entry.at:
            request["ActionAfterCompletion"] = "DELETE"
        try:
            try:
                self._client.create_schedule(**request)
            except ClientError as exc:
                if error_code(exc) != "ConflictException":
                    raise
                self._client.update_schedule(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"scheduling journey {version.journey_id}") from exc

    def remove(self, journey_id: str) -> None:
        try:
            self._client.delete_schedule(Name=schedule_name(journey_id), GroupName=self._group)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise unavailable(exc, f"unscheduling journey {journey_id}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"unscheduling journey {journey_id}") from exc


class LambdaRunEnder:
    """cdp.journeys.ports.RunEnder for the admin API: counts the journey's active runs and hands
    the ending to the journey event consumer (`{"end_runs": {...}}`, an asynchronous invoke), which
    stops each execution and records `journey.exited` (cdp.journeys.flow.JourneyFlow.end_all)."""

    def __init__(self, client: Any, function_name: str, runs: RunStore) -> None:
        self._client = client
        self._function = function_name
        self._runs = runs

    @classmethod
    def from_env(cls) -> LambdaRunEnder:
        from cdp.adapters.dynamodb.journey_runs import DynamoRunStore

        config = JourneyAdminSettings.from_env()
        for value, name in (
            (config.core_table, settings.ENV_CORE_TABLE),
            (config.journey_events_function, settings.ENV_JOURNEY_EVENTS_FUNCTION),
        ):
            if not value:
                raise settings.SettingsError(f"missing required environment variable {name}", setting=name)
        return cls(
            aws_client("lambda"),
            config.journey_events_function,
            DynamoRunStore(aws_client("dynamodb"), config.core_table),
        )

    def end_all(self, journey_id: str, reason: str) -> int:
        active = sum(1 for run in self._runs.of_journey(journey_id) if run.status == ACTIVE)
        payload = json.dumps({"end_runs": {"journey_id": journey_id, "reason": reason}}).encode()
        try:
            self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=payload)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"ending the runs of journey {journey_id}") from exc
        return active


class LambdaCohortContinuation:
    """cdp.journeys.flow.Continuation: the next pages of a cohort firing, or the rest of an
    archived journey's runs to end, in a fresh asynchronous invocation of the consumer itself."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def continue_cohort(self, cohort: dict[str, Any]) -> None:
        self._invoke({"cohort": cohort}, "continuing a cohort entry")

    def continue_ending(self, journey_id: str, reason: str) -> None:
        self._invoke({"end_runs": {"journey_id": journey_id, "reason": reason}}, "continuing to end runs")

    def _invoke(self, payload: dict[str, Any], doing: str) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=body)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, doing) from exc
