"""The journey starter and event consumer handlers on moto, with the real adapters (runs, waits,
admissions, SQS, Step Functions, the bus, the raw events table) and the stack's IAM policies checked.

The journey definitions' store is the in-memory one (its DynamoDB adapter has its own tests)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cdp import settings
from cdp.adapters.dynamodb.journey_runs import (
    DynamoAdmissions,
    DynamoEventMarks,
    DynamoRunStore,
    DynamoWaitStore,
)
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.journey_flow import SqsEntryQueue, StepFunctionsExecutions
from cdp.clock import SystemClock
from cdp.journeys.flow import ExitRecorder, JourneyFlow
from cdp.journeys.ports import EntryRequest, Wait
from cdp.journeys.runs import EXITED, Run, run_id_for
from cdp.journeys.starter import Pacer, Starter, entry_to_json

from tests.fakes_journeys import InMemoryJourneyStore
from tests.integration.conftest import BusObserver, Stack
from tests.unit.journey_flow_helpers import CART, version

AT = "2026-03-01T10:00:00.000Z"
MACHINE_NAME = "LineCdp-journey-cart-v1"  # `<stack>-journey-<id>-v<n>`, as the stack's grants expect


@pytest.fixture
def journeys(stack: Stack) -> InMemoryJourneyStore:
    sfn = stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=MACHINE_NAME,
        # Still running when the test stops it (moto executes the definition).
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/journeys",
    )["stateMachineArn"]
    store = InMemoryJourneyStore()
    store.add_version(replace(version("cart", CART), state_machine_arn=machine))
    return store


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{index}", "body": body} for index, body in enumerate(bodies)]}


def entry(cart: str, cause: str, journey_id: str = "cart") -> str:
    return entry_to_json(
        EntryRequest(journey_id, 1, "p1", cart, cause, AT, {"event": "Product Added", "properties": {"cart_id": cart}})
    )


def test_the_starter_starts_each_entry_once_and_names_only_what_must_be_redelivered(
    stack: Stack, journeys: InMemoryJourneyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = stack.client("dynamodb")
    runs = DynamoRunStore(dynamodb, stack.core_table)
    starter = Starter(
        journeys,
        DynamoAdmissions(dynamodb, stack.core_table, runs, SystemClock()),
        runs,
        StepFunctionsExecutions(stack.client("stepfunctions")),
        Pacer(1000),
    )
    monkeypatch.setattr(stack.runtime.module("journey_starter"), "build", lambda: starter)
    journeys.add_version(replace(version("broken", CART), state_machine_arn=None))
    batch = sqs_event(entry("C1", "e1"), entry("C2", "e2"), "not an entry", entry("C9", "e9", journey_id="broken"))

    answer = stack.invoke("journey_starter", batch)

    assert answer == {"batchItemFailures": [{"itemIdentifier": "m3"}]}  # no machine: retried, then dead-lettered
    sfn = stack.client("stepfunctions")
    machine = journeys.version("cart", 1).state_machine_arn  # type: ignore[union-attr]
    names = {e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    expected = {run_id_for("cart", 1, "p1", cart, 1) for cart in ("C1", "C2")}
    assert names == expected
    for run_id in expected:
        run = runs.get(run_id)
        assert run is not None and run.execution_arn and run.execution_arn.endswith(run_id)
    # The same messages again (a redelivery) start nothing more.
    assert stack.invoke("journey_starter", sqs_event(entry("C1", "e1"), entry("C2", "e2"))) == {"batchItemFailures": []}
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 2


def test_the_consumer_queues_entries_resumes_waits_and_ends_runs_by_exit_rule(
    stack: Stack, journeys: InMemoryJourneyStore, bus: BusObserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb, clock = stack.client("dynamodb"), SystemClock()
    runs, waits = DynamoRunStore(dynamodb, stack.core_table), DynamoWaitStore(dynamodb, stack.core_table)
    queue_url = stack.env("journey_events", settings.ENV_JOURNEY_STARTS_QUEUE_URL)
    flow = JourneyFlow(
        journeys=journeys,
        live=journeys.live,
        runs=runs,
        waits=waits,
        executions=StepFunctionsExecutions(stack.client("stepfunctions")),
        queue=SqsEntryQueue(stack.client("sqs"), queue_url),
        marks=DynamoEventMarks(dynamodb, stack.core_table, clock),
        members=DynamoSegmentStore(dynamodb, stack.core_table),
        exits=ExitRecorder(
            EventBridgePublisher(stack.client("events"), stack.bus_name),
            DynamoProfileStore(dynamodb, stack.core_table),
        ),
        clock=clock,
    )
    monkeypatch.setattr(stack.runtime.module("journey_events"), "build", lambda arn: flow)

    def received(name: str, properties: dict[str, Any], event_id: str) -> Any:
        data = {"eventId": event_id, "profileId": "p1", "event": name, "timestamp": AT, "properties": properties}
        detail = {"id": f"{event_id}:received", "name": "event.received", "version": "1", "data": data}
        return stack.invoke("journey_events", {"detail-type": "event.received", "source": "cdp", "detail": detail})

    # An entry event: one entry on the starts queue.
    assert received("Product Added", {"cart_id": "C1"}, "e1")["entries"] == 1
    (message,) = stack.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["entry_key"] == "C1"

    # A run waiting for the order, on a real execution: the order ends it (exit rule) and its wait goes.
    run_id = run_id_for("cart", 1, "p1", "C1", 1)
    machine = journeys.version("cart", 1).state_machine_arn  # type: ignore[union-attr]
    execution = stack.client("stepfunctions").start_execution(stateMachineArn=machine, name=run_id, input="{}")
    runs.put_new(Run(run_id, "cart", 1, "p1", "C1", AT, execution_arn=execution["executionArn"]))
    runs.set_waiting(run_id, {"kind": "event", "event": "Order Completed"})
    waits.register(Wait(run_id, "cart", "wait_order", "p1", "Order Completed", "cart_id=C1", [], "tok", AT))
    outcome = received("Order Completed", {"cart_id": "C1"}, "e2")
    assert outcome["exited"] == 1
    run = runs.get(run_id)
    assert run is not None and run.status == EXITED and run.exit_reason == "exit_event"
    assert waits.waiting_for("p1", "Order Completed") == []
    described = stack.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "ABORTED"
    assert [e["detail"]["data"]["run_id"] for e in bus.of_type("journey.exited")] == [run_id]
    # The same envelope again is skipped.
    assert received("Order Completed", {"cart_id": "C1"}, "e2") == {
        "detailType": "event.received",
        "skipped": "duplicate",
    }
