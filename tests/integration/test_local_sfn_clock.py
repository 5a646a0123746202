"""moto's Step Functions on the local clock: a 30-minute Wait and a 2-day task-token timeout end
right after the clock advances, an answered token goes on at once, and StopExecution ends a
waiting execution (its waiting threads included)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.local import sfn_clock
from infra.local.clock import LocalClock
from infra.local.config import REGION
from infra.local.lambda_service import LocalLambdaService, install

ROLE = "arn:aws:iam::123456789012:role/journeys"
FUNCTION = f"arn:aws:lambda:{REGION}:123456789012:function:token_keeper"


class Tokens:
    """The Lambda a `.waitForTaskToken` task calls: keeps the token it was given."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self.received.append(event)
        return {}


@pytest.fixture
def local(aws: None) -> Iterator[tuple[Any, LocalClock, Tokens]]:
    clock = LocalClock()
    tokens = Tokens()
    undo_lambda = install(LocalLambdaService(tokens, {FUNCTION: "token_keeper"}))  # type: ignore[arg-type]
    undo_clock = sfn_clock.install(clock.now, clock.on_move)
    yield boto3.client("stepfunctions", region_name=REGION), clock, tokens
    undo_clock()
    undo_lambda()


def machine(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    arn: str = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    return arn


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within time"
        time.sleep(0.02)


def status(sfn: Any, execution: str) -> str:
    result: str = sfn.describe_execution(executionArn=execution)["status"]
    return result


def entered(sfn: Any, execution: str) -> list[str]:
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]


def waiting() -> int:
    waits = sfn_clock.waits()
    assert waits is not None
    return waits.waiting


WAIT_30_MINUTES = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "Seconds": 1800, "Next": "Done"}, "Done": {"Type": "Succeed"}},
}
WAIT_UNTIL = {
    "StartAt": "Wait",
    "States": {"Wait": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Done"}, "Done": {"Type": "Succeed"}},
}
TOKEN_2_DAYS = {
    "StartAt": "Wait for order",
    "States": {
        "Wait for order": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": FUNCTION,
                "Payload": {"token.$": "$$.Task.Token", "entered.$": "$$.State.EnteredTime"},
            },
            "TimeoutSeconds": 2 * 86400,
            "ResultPath": "$.step",
            "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Timed out"}],
            "Next": "Received",
        },
        "Received": {"Type": "Succeed"},
        "Timed out": {"Type": "Succeed"},
    },
}


def test_a_30_minute_wait_ends_right_after_the_clock_advances_30_minutes(local: Any) -> None:
    sfn, clock, _ = local
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "wait", WAIT_30_MINUTES), name="w1", input="{}")[
        "executionArn"
    ]
    eventually(lambda: waiting() == 1)
    clock.advance(timedelta(minutes=29))
    time.sleep(0.2)
    assert status(sfn, execution) == "RUNNING"  # 29 minutes are not 30
    clock.advance(timedelta(minutes=1))
    eventually(lambda: status(sfn, execution) == "SUCCEEDED", seconds=2.0)
    assert entered(sfn, execution) == ["Wait", "Done"] and waiting() == 0


def test_a_wait_until_a_timestamp_follows_the_clock_set_past_it(local: Any) -> None:
    sfn, clock, _ = local
    until = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    execution = sfn.start_execution(
        stateMachineArn=machine(sfn, "until", WAIT_UNTIL), name="u1", input=json.dumps({"until": until})
    )["executionArn"]
    eventually(lambda: waiting() == 1)
    clock.set(datetime.now(UTC) + timedelta(days=3, seconds=1))
    eventually(lambda: status(sfn, execution) == "SUCCEEDED", seconds=2.0)


def test_a_task_token_with_a_2_day_timeout_times_out_when_the_clock_passes_2_days(local: Any) -> None:
    sfn, clock, tokens = local
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "token", TOKEN_2_DAYS), name="t1", input="{}")[
        "executionArn"
    ]
    eventually(lambda: len(tokens.received) == 1 and waiting() >= 1)
    clock.advance(timedelta(days=1))
    time.sleep(0.2)
    assert status(sfn, execution) == "RUNNING"
    clock.advance(timedelta(days=1, seconds=1))
    eventually(lambda: status(sfn, execution) == "SUCCEEDED", seconds=2.0)
    assert entered(sfn, execution) == ["Wait for order", "Timed out"]
    eventually(lambda: waiting() == 0)


def test_an_answered_token_goes_on_at_once(local: Any) -> None:
    sfn, _, tokens = local
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "answer", TOKEN_2_DAYS), name="a1", input="{}")[
        "executionArn"
    ]
    eventually(lambda: len(tokens.received) == 1)
    sfn.send_task_success(taskToken=tokens.received[0]["token"], output=json.dumps({"event": {"name": "Order"}}))
    eventually(lambda: status(sfn, execution) == "SUCCEEDED", seconds=2.0)
    assert entered(sfn, execution) == ["Wait for order", "Received"]
    output = json.loads(sfn.describe_execution(executionArn=execution)["output"])
    assert output["step"] == {"event": {"name": "Order"}}
    eventually(lambda: waiting() == 0)


@pytest.mark.parametrize("definition", [WAIT_30_MINUTES, TOKEN_2_DAYS], ids=["wait", "token"])
def test_stopping_a_waiting_execution_ends_it_and_its_waits(local: Any, definition: dict[str, Any]) -> None:
    sfn, _, _ = local
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "stop", definition), name="s1", input="{}")[
        "executionArn"
    ]
    eventually(lambda: waiting() >= 1)
    sfn.stop_execution(executionArn=execution, error="journey.exit", cause="Order Completed")
    eventually(lambda: status(sfn, execution) == "ABORTED", seconds=2.0)
    eventually(lambda: waiting() == 0, seconds=2.0)  # no thread keeps waiting out the deadline


def test_entered_times_and_history_read_the_local_clock(local: Any) -> None:
    sfn, clock, tokens = local
    clock.set(datetime(2030, 1, 1, 9, 0, tzinfo=UTC))
    execution = sfn.start_execution(stateMachineArn=machine(sfn, "entered", TOKEN_2_DAYS), name="e1", input="{}")[
        "executionArn"
    ]
    eventually(lambda: len(tokens.received) == 1)
    assert tokens.received[0]["entered"].startswith("2030-01-01T09:00")
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert all(event["timestamp"].year == 2030 for event in events[1:])
    sfn.stop_execution(executionArn=execution)
