"""Compiled journeys executed by moto's Step Functions on the local clock, their Lambda tasks
calling the journey step ops: a 30-minute delay then a send, a wait for an order that times out
(reminder sent) or is answered (nothing sent), a retried send that sends once, and a stop
mid-wait. Effects are asserted (run records, send requests, timeline events), not only the
execution's status, which moto reports SUCCEEDED even when a state's runtime error was swallowed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3
import pytest
from cdp.adapters.journey_machines import StepFunctionsJourneyMachines
from cdp.identity.identifiers import Identifier
from cdp.journeys.compiler import transitions
from cdp.journeys.definition import parse_definition
from cdp.journeys.model import PublishedVersion
from cdp.journeys.runs import EXITED, ExecutionInput, Run, run_id_for
from cdp.journeys.stepper import JourneyStepper
from cdp.messaging.request import SendRequest
from cdp.profiles.model import Profile

from infra.local import sfn_clock
from infra.local.clock import LocalClock
from infra.local.config import REGION
from infra.local.lambda_service import LocalLambdaService, install
from tests.fakes import FakeProfileStore, FakeRawEventStore, FakeSegmentStore
from tests.fakes_journey_flow import InMemoryWaitStore
from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore
from tests.unit.journey_samples import CART

STEP_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:cdp-journey_step"
ROLE_ARN = "arn:aws:iam::123456789012:role/cdp-journeys"

DELAY_THEN_SEND = {
    "name": "Delay then send",
    "entry": {"type": "segment", "segment_id": "new"},
    "start": "pause",
    "nodes": {
        "pause": {"type": "delay", "duration": "PT30M", "next": "hello"},
        "hello": {"type": "send", "template_id": "hello", "next": "done"},
        "done": {"type": "exit"},
    },
}
SPLIT_TAG = {
    "name": "Split and tag",
    "entry": {"type": "segment", "segment_id": "new"},
    "start": "ab",
    "nodes": {
        "ab": {
            "type": "random_split",
            "branches": [
                {"name": "a", "percent": 99.999, "next": "check"},
                {"name": "control", "percent": 0.001, "holdout": True},
            ],
        },
        "check": {
            "type": "condition",
            "branches": [{"name": "vip", "when": {"in_segment": "vip"}, "next": "tag"}],
            "else": "done",
        },
        "tag": {"type": "action", "action": "add_tag", "tag": "journey:vip", "next": "done"},
        "done": {"type": "exit"},
    },
}


@dataclass
class Answer:
    state: str
    reason: str | None = None


@dataclass
class Sender:
    answers: list[str] = field(default_factory=list)  # states to answer, in order; then "sent"
    requests: list[SendRequest] = field(default_factory=list)

    def __call__(self, request: SendRequest) -> Answer:
        self.requests.append(request)
        return Answer(self.answers.pop(0) if self.answers else "sent")


class ClockPort:
    def __init__(self, clock: LocalClock) -> None:
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock.now() * 1000)


class StepRuntime:
    """The local Lambda runtime for the journey step function: the ops over in-memory stores."""

    def __init__(self, stepper: JourneyStepper) -> None:
        self.stepper = stepper
        self.calls: list[dict[str, Any]] = []
        self.crash_after: set[str] = set()  # ops whose next invocation dies after doing its work

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self.calls.append(event)
        answer = self.stepper.handle(event)
        if event.get("op") in self.crash_after:
            self.crash_after.discard(event["op"])
            raise Crashed(f"the {event['op']} step died after doing its work")
        return answer


class Crashed(RuntimeError):
    """The function's process died after its effect, before Step Functions heard back."""


@dataclass
class Local:
    sfn: Any
    clock: LocalClock
    runs: InMemoryRunStore
    waits: InMemoryWaitStore
    journeys: InMemoryJourneyStore
    events: FakeRawEventStore
    segments: FakeSegmentStore
    sender: Sender
    profiles: FakeProfileStore
    runtime: StepRuntime
    machines: StepFunctionsJourneyMachines

    def publish(self, journey_id: str, document: dict[str, Any]) -> PublishedVersion:
        definition = parse_definition(document)
        version = PublishedVersion(
            journey_id, 1, definition.document(), {"hello": 3, "cart-reminder": 2}, "2026-12-01T00:00:00Z"
        )
        self.journeys.add_version(version)
        arn = self.machines.deploy(version)
        assert self.machines.deploy(version) == arn  # publishing again finds the machine
        return PublishedVersion(**{**version.as_dict(), "state_machine_arn": arn})

    def start(self, version: PublishedVersion, entry_key: str = "-", properties: dict[str, Any] | None = None) -> Run:
        run = Run(
            run_id=run_id_for(version.journey_id, version.version, "p1", entry_key, 1),
            journey_id=version.journey_id,
            version=version.version,
            profile_id="p1",
            entry_key=entry_key,
            entered_at="2026-12-07T02:00:00.000Z",
            entry={"event": "Product Added", "properties": properties or {}},
        )
        assert self.runs.put_new(run)
        execution_input = ExecutionInput(
            run.run_id, run.journey_id, run.version, run.profile_id, run.entry_key, run.entered_at, run.entry
        )
        arn = self.sfn.start_execution(
            stateMachineArn=version.state_machine_arn, name=run.run_id, input=json.dumps(execution_input.as_dict())
        )["executionArn"]
        self.runs.set_execution(run.run_id, arn)
        return run

    def run(self, run_id: str) -> Run:
        found = self.runs.get(run_id)
        assert found is not None
        return found

    def entered(self, run: Run) -> list[str]:
        arn = self.run(run.run_id).execution_arn
        history = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]

    def status(self, run: Run) -> str:
        result: str = self.sfn.describe_execution(executionArn=self.run(run.run_id).execution_arn)["status"]
        return result


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within time"
        time.sleep(0.02)


@pytest.fixture
def local(aws: None) -> Iterator[Local]:
    clock = LocalClock()
    runs, waits, journeys = InMemoryRunStore(), InMemoryWaitStore(), InMemoryJourneyStore()
    profiles, events, segments = FakeProfileStore(), FakeRawEventStore(), FakeSegmentStore()
    profiles.seed(
        Profile(profile_id="p1", created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z"),
        [Identifier("member_id", "M-1")],
    )
    sender = Sender()
    stepper = JourneyStepper(
        runs=runs,
        waits=waits,
        versions=journeys.version,
        profiles=profiles,
        members=segments,
        events=events,
        send=sender,
        clock=ClockPort(clock),
    )
    runtime = StepRuntime(stepper)
    undo_lambda = install(LocalLambdaService(runtime, {STEP_ARN: "journey_step"}))  # type: ignore[arg-type]
    undo_clock = sfn_clock.install(clock.now, clock.on_move)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machines = StepFunctionsJourneyMachines(sfn, role_arn=ROLE_ARN, step_function_arn=STEP_ARN, name_prefix="cdp")
    yield Local(sfn, clock, runs, waits, journeys, events, segments, sender, profiles, runtime, machines)
    undo_clock()
    undo_lambda()


def test_a_30_minute_delay_then_a_send_runs_on_the_virtual_clock(local: Local) -> None:
    version = local.publish("welcome", DELAY_THEN_SEND)
    run = local.start(version)
    eventually(lambda: (local.run(run.run_id).waiting or {}).get("kind") == "delay")
    time.sleep(0.2)
    assert local.sender.requests == [] and local.run(run.run_id).status == "active"
    local.clock.advance(timedelta(minutes=30))
    eventually(lambda: local.run(run.run_id).status == EXITED)
    finished = local.run(run.run_id)
    assert finished.exit_reason == "completed" and finished.sent == {"hello": "sent"}
    assert [step.node for step in finished.path] == ["pause", "hello", "done"]
    (request,) = local.sender.requests
    assert (request.send_key, request.template_version) == (f"journey:{run.run_id}:hello", 3)
    eventually(lambda: local.status(run) == "SUCCEEDED")  # the exit op ran; Done may still be ahead
    entered = local.entered(run)
    assert entered == ["Enter", "pause", "pause.wait", "hello", "done", "Done"]
    definition = parse_definition(DELAY_THEN_SEND)
    assert transitions(definition, ["pause", "hello", "done"]) == len(entered)
    names = [entry.document.get("event") for entry in local.profiles.timeline(run.profile_id)]
    assert names.count("Journey Node Reached") == 3 and "Journey Entered" in names and "Journey Exited" in names


def test_a_wait_for_the_order_times_out_and_the_reminder_lists_the_cart(local: Local) -> None:
    version = local.publish("cart", CART)
    run = local.start(version, "C1", {"cart_id": "C1", "products": [{"sku": "S1"}]})
    eventually(lambda: len(local.waits.waiting_for("p1", "Order Completed")) == 1)
    (wait,) = local.waits.waiting_for("p1", "Order Completed")
    assert wait.correlation == "cart_id=C1"
    local.clock.advance(timedelta(minutes=29))
    time.sleep(0.2)
    assert local.sender.requests == []
    local.clock.advance(timedelta(minutes=1, seconds=1))
    eventually(lambda: local.run(run.run_id).status == EXITED)
    finished = local.run(run.run_id)
    assert finished.sent == {"remind": "sent"} and finished.exit_reason == "completed"
    assert local.sender.requests[0].data["products"] == [{"sku": "S1"}]
    assert local.waits.waiting_for("p1", "Order Completed") == []
    eventually(lambda: local.status(run) == "SUCCEEDED")  # the exit op ran; Done may still be ahead
    entered = local.entered(run)
    assert entered == ["Enter", "wait_order", "wait_order.timed_out", "remind", "done", "Done"]
    assert transitions(
        parse_definition(CART), ["wait_order", "remind", "done"], timed_out=frozenset({"wait_order"})
    ) == len(entered)


def test_an_order_within_the_wait_resumes_the_run_and_nothing_is_sent(local: Local) -> None:
    version = local.publish("cart", CART)
    run = local.start(version, "C1", {"cart_id": "C1"})
    eventually(lambda: len(local.waits.waiting_for("p1", "Order Completed")) == 1)
    local.clock.advance(timedelta(minutes=20))
    (wait,) = local.waits.waiting_for("p1", "Order Completed")
    local.sfn.send_task_success(taskToken=wait.task_token, output=json.dumps({"event": {"name": "Order Completed"}}))
    eventually(lambda: local.run(run.run_id).status == EXITED)
    assert local.sender.requests == [] and local.run(run.run_id).sent == {}
    eventually(lambda: local.status(run) == "SUCCEEDED")
    assert local.entered(run) == ["Enter", "wait_order", "done", "Done"]


def test_a_send_with_an_unknown_outcome_is_retried_with_the_same_key_and_sends_once(local: Local) -> None:
    local.sender.answers = ["retry"]
    version = local.publish("cart", CART)
    run = local.start(version, "C2", {"cart_id": "C2"})
    eventually(lambda: len(local.waits.waiting_for("p1", "Order Completed")) == 1)
    local.clock.advance(timedelta(minutes=31))
    eventually(lambda: local.run(run.run_id).status == EXITED, seconds=10.0)  # Retry waits 2 real seconds
    assert [r.send_key for r in local.sender.requests] == [f"journey:{run.run_id}:remind"] * 2
    assert local.run(run.run_id).sent == {"remind": "sent"}
    assert [step.node for step in local.run(run.run_id).path].count("remind") == 1


def test_stopping_a_run_mid_wait_ends_its_execution(local: Local) -> None:
    version = local.publish("cart", CART)
    run = local.start(version, "C3", {"cart_id": "C3"})
    eventually(lambda: len(local.waits.waiting_for("p1", "Order Completed")) == 1)
    local.sfn.stop_execution(
        executionArn=local.run(run.run_id).execution_arn, error="exit_event", cause="Order Completed"
    )
    eventually(lambda: local.status(run) == "ABORTED")
    waits = sfn_clock.waits()
    assert waits is not None
    eventually(lambda: waits.waiting == 0)
    local.clock.advance(timedelta(hours=1))
    time.sleep(0.2)
    assert local.sender.requests == []


def test_a_split_a_condition_and_an_action(local: Local) -> None:
    local.segments.member_of = lambda profile_id, ids: {"vip"} & set(ids)  # type: ignore[method-assign]
    version = local.publish("vip", SPLIT_TAG)
    run = local.start(version)
    eventually(lambda: local.run(run.run_id).status == EXITED)
    finished = local.run(run.run_id)
    assert finished.branches == {"ab": "a", "check": "vip"} and finished.exit_reason == "completed"
    tags = [
        e.payload["properties"]["tag"] for e in local.events.events.values() if e.payload.get("event") == "Tag Added"
    ]
    assert tags == ["journey:vip"]
    eventually(lambda: local.status(run) == "SUCCEEDED")
    entered = local.entered(run)
    assert entered == ["Enter", "ab", "ab.next", "check", "check.next", "tag", "done", "Done"]
    assert transitions(parse_definition(SPLIT_TAG), ["ab", "check", "tag", "done"]) == len(entered)


def test_a_failing_step_is_recorded_as_a_failed_run(local: Local) -> None:
    version = local.publish("welcome", DELAY_THEN_SEND)
    run = local.start(version)
    eventually(lambda: (local.run(run.run_id).waiting or {}).get("kind") == "delay")
    local.journeys.versions.clear()  # the version can no longer be read: every step fails
    local.clock.advance(timedelta(minutes=30))
    eventually(lambda: local.run(run.run_id).status == EXITED, seconds=20.0)
    assert local.run(run.run_id).exit_reason == "failed"
    eventually(lambda: local.status(run) == "FAILED", seconds=5.0)


def test_a_step_that_crashes_after_sending_is_retried_and_the_send_key_repeats(local: Local) -> None:
    local.runtime.crash_after = {"send"}
    version = local.publish("welcome", DELAY_THEN_SEND)
    run = local.start(version)
    eventually(lambda: (local.run(run.run_id).waiting or {}).get("kind") == "delay")
    local.clock.advance(timedelta(minutes=30))
    eventually(lambda: local.run(run.run_id).status == EXITED, seconds=10.0)  # Retry waits 2 real seconds
    finished = local.run(run.run_id)
    assert finished.exit_reason == "completed" and finished.sent == {"hello": "sent"}
    # The send point is asked twice with one key: its ledger answers the second from the first.
    assert [r.send_key for r in local.sender.requests] == [f"journey:{run.run_id}:hello"] * 2
    assert [step.node for step in finished.path] == ["pause", "hello", "done"]


def test_the_holdout_ends_the_run_at_the_split(local: Local) -> None:
    holdout = {
        **SPLIT_TAG,
        "nodes": {
            **SPLIT_TAG["nodes"],
            "ab": {
                "type": "random_split",
                "branches": [
                    {"name": "a", "percent": 0.001, "next": "check"},
                    {"name": "control", "percent": 99.999, "holdout": True},
                ],
            },
        },
    }
    version = local.publish("holdout", holdout)
    run = local.start(version)
    eventually(lambda: local.run(run.run_id).status == EXITED)
    finished = local.run(run.run_id)
    assert (finished.exit_reason, finished.branches) == ("holdout", {"ab": "control"})
    eventually(lambda: local.status(run) == "SUCCEEDED")
    assert local.entered(run) == ["Enter", "ab", "Stopped"]
    assert local.sender.requests == []
