"""The journey step function as deployed, on moto: the stack's template provisions it, a published
cart reminder's state machine (created by the JourneyMachines adapter with the stack's role and
step function ARN) calls the real handler through Lambda, which keeps the run in DynamoDB
(cdp.adapters.dynamodb.journey_runs), registers the wait, and sends the reminder through the send
point to the LINE fake once the 30 minutes pass on the local clock. Every AWS call the function
makes is checked against its IAM policy (tests/iam)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp import settings as env_names
from cdp.adapters.dynamodb.journey_runs import DynamoRunStore, DynamoWaitStore
from cdp.adapters.dynamodb.journeys import journey_pk, version_sk
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore, profile_pk, profile_to_document
from cdp.adapters.journey_machines import StepFunctionsJourneyMachines
from cdp.clock import SystemClock, install_time_source
from cdp.journeys.definition import parse_definition
from cdp.journeys.model import PublishedVersion
from cdp.journeys.runs import EXITED, ExecutionInput, Run, run_id_for
from cdp.profiles.model import Profile, Stamped

from infra.cdp_infra.routes import ADMIN_API, JOURNEY_STEP
from infra.local import aws_calls, sfn_clock
from infra.local.clock import LocalClock
from infra.local.lambda_service import LocalLambdaService, install
from infra.local.line_fake import LineApiFake
from tests.fakes_messaging import FakeRenderer
from tests.integration.conftest import LINE_CHANNEL, Stack
from tests.unit.journey_samples import CART

OLD = "2026-01-01T00:00:00.000Z"
AMY = "U" + "b" * 32
MIDDAY_TAIPEI = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 12:00 in Taipei: outside any quiet hours


@dataclass
class Local:
    stack: Stack
    clock: LocalClock
    line: LineApiFake
    runs: DynamoRunStore
    waits: DynamoWaitStore
    machines: StepFunctionsJourneyMachines

    @property
    def sfn(self) -> Any:
        return self.stack.client("stepfunctions")


@pytest.fixture
def local(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    clock = LocalClock()
    clock.set(MIDDAY_TAIPEI)
    previous = install_time_source(clock.now_ms)
    module = stack.runtime.module(JOURNEY_STEP)
    renderer = FakeRenderer()
    renderer.add("cart-reminder", line="Your cart {cart_id} is waiting", version=2)
    monkeypatch.setattr(module, "production_renderer", lambda settings: renderer)
    module.build.cache_clear()
    undo_lambda = install(LocalLambdaService(stack.runtime, stack.resources.function_arns))
    undo_clock = sfn_clock.install(clock.now, clock.on_move)
    with LineApiFake(clock=clock) as line:
        line.register_channel(stack.config.line_channel_access_token, stack.config.line_bot_user_id)
        monkeypatch.setenv(env_names.ENV_LINE_API_BASE_URL, line.base_url)
        dynamodb = stack.client("dynamodb")
        environment = stack.resources.function_env
        admin = environment["admin_api"]
        machines = StepFunctionsJourneyMachines(
            stack.client("stepfunctions"),
            role_arn=admin[env_names.ENV_JOURNEY_ROLE_ARN],
            step_function_arn=admin[env_names.ENV_JOURNEY_STEP_ARN],
            name_prefix=admin[env_names.ENV_JOURNEY_MACHINE_PREFIX],
        )
        yield Local(
            stack,
            clock,
            line,
            DynamoRunStore(dynamodb, stack.core_table),
            DynamoWaitStore(dynamodb, stack.core_table, SystemClock()),
            machines,
        )
    undo_clock()
    undo_lambda()
    module.build.cache_clear()
    install_time_source(previous)


def put_profile(stack: Stack, profile_id: str) -> None:
    person = Profile.new(profile_id, OLD)
    person.identifiers["member_id:M-1"] = {"type": "member_id", "value": "M-1", "added_at": OLD}
    value = f"{LINE_CHANNEL}:{AMY}"
    person.identifiers[f"line:{value}"] = {"type": "line", "value": value, "added_at": OLD}
    person.line_accounts[value] = Stamped("friend", OLD, f"line:{LINE_CHANNEL}", "e1")
    stack.client("dynamodb").put_item(
        TableName=stack.core_table,
        Item={
            "pk": {"S": profile_pk(person.profile_id)},
            "sk": {"S": "PROFILE"},
            "doc": {"S": json.dumps(profile_to_document(person))},
            "version": {"N": "1"},
        },
    )


def publish(local: Local) -> PublishedVersion:
    """What publishing leaves behind: the version item (as the journey store writes it) and its machine."""
    version = PublishedVersion("cart", 1, parse_definition(CART).document(), {"cart-reminder": 2}, OLD)
    version = PublishedVersion(**{**version.as_dict(), "state_machine_arn": local.machines.deploy(version)})
    local.stack.client("dynamodb").put_item(
        TableName=local.stack.core_table,
        Item={
            "pk": {"S": journey_pk("cart")},
            "sk": {"S": version_sk(1)},
            "version": {"N": "1"},
            "doc": {"S": json.dumps(version.as_dict())},
        },
    )
    return version


def start(local: Local, version: PublishedVersion, cart: str) -> Run:
    """What the starter does: the run, then its execution named after it."""
    run = Run(
        run_id=run_id_for("cart", 1, "p_amy", cart, 1),
        journey_id="cart",
        version=1,
        profile_id="p_amy",
        entry_key=cart,
        entered_at=MIDDAY_TAIPEI.isoformat().replace("+00:00", "Z"),
        entry={"event": "Product Added", "properties": {"cart_id": cart}},
    )
    assert local.runs.put_new(run)
    payload = ExecutionInput(run.run_id, "cart", 1, "p_amy", cart, run.entered_at, run.entry).as_dict()
    arn = local.sfn.start_execution(
        stateMachineArn=version.state_machine_arn, name=run.run_id, input=json.dumps(payload)
    )["executionArn"]
    local.runs.set_execution(run.run_id, arn)
    return run


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within time"
        time.sleep(0.05)


def current(local: Local, run: Run) -> Run:
    found = local.runs.get(run.run_id)
    assert found is not None
    return found


def test_the_deployed_step_function_runs_a_cart_reminder_on_dynamodb_and_the_line_fake(local: Local) -> None:
    put_profile(local.stack, "p_amy")
    version = publish(local)
    run = start(local, version, "C1")
    eventually(lambda: len(local.waits.waiting_for("p_amy", "Order Completed")) == 1)
    (wait,) = local.waits.waiting_for("p_amy", "Order Completed")
    assert wait.correlation == "cart_id=C1" and current(local, run).node == "wait_order"
    local.clock.advance(timedelta(minutes=31))
    eventually(lambda: current(local, run).status == EXITED)
    finished = current(local, run)
    assert finished.exit_reason == "completed" and finished.sent == {"remind": "sent"}
    assert [step.node for step in finished.path] == ["wait_order", "wait_order", "remind", "done"]
    (pushed,) = local.line.sent("push", to=AMY)
    assert pushed["messages"][0]["text"] == "Your cart C1 is waiting"
    names = [json.loads(i["payload"]["S"]).get("event") for i in local.stack.raw_items().values() if "payload" in i]
    assert "Message Sent" in names  # the send point's outcome goes through the event pipeline
    timeline = DynamoProfileStore(local.stack.client("dynamodb"), local.stack.core_table).timeline("p_amy")
    assert {"Journey Entered", "Journey Node Reached", "Journey Exited"} <= {e.document.get("event") for e in timeline}


def test_an_order_resumes_the_deployed_run_and_nothing_is_sent(local: Local) -> None:
    put_profile(local.stack, "p_amy")
    version = publish(local)
    run = start(local, version, "C2")
    eventually(lambda: len(local.waits.waiting_for("p_amy", "Order Completed")) == 1)
    (wait,) = local.waits.waiting_for("p_amy", "Order Completed")
    local.sfn.send_task_success(taskToken=wait.task_token, output=json.dumps({"event": {"name": "Order Completed"}}))
    eventually(lambda: current(local, run).status == EXITED)
    assert current(local, run).sent == {} and local.line.sent("push", to=AMY) == []


def test_the_admin_api_may_create_and_delete_a_versions_machine(stack: Stack) -> None:
    """Publishing as the admin function does (its environment, its role): the IAM check verifies
    CreateStateMachine / TagResource / DeleteStateMachine on the journey prefix and PassRole."""
    version = PublishedVersion("cart", 7, parse_definition(CART).document(), {"cart-reminder": 2}, OLD)
    sfn = stack.client("stepfunctions")
    with aws_calls.running(ADMIN_API):
        machines = StepFunctionsJourneyMachines.from_env()
        arn = machines.deploy(version)
        assert arn.endswith(":stateMachine:LineCdp-journey-cart-v7")
        assert sfn.describe_state_machine(stateMachineArn=arn)["roleArn"] == os.environ[env_names.ENV_JOURNEY_ROLE_ARN]
        machines.retire(arn)
    assert [
        m["name"] for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith("LineCdp-journey")
    ] == []
