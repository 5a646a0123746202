"""The erase as deployed, on moto: the admin API requests it and starts the stack's state machine
(from the nested stack's template), whose steps run the real privacy_erase handler; every AWS
call the functions make is checked against their IAM policies (tests/iam)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.identity.identifiers import Identifier
from cdp.profiles.processor import EventProcessor

from infra.local.lambda_runtime import LambdaRuntime
from infra.local.lambda_service import LocalLambdaService, install
from tests.fakes import FakePublisher, FixedClock
from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json
from tests.unit.identity_helpers import normalizer_for, person_event

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
ERASE = "/admin/v1/profiles/{id}/erase"


def call(stack: Stack, method: str, profile_id: str, resource: str = ERASE) -> tuple[int, Any]:
    path = resource.replace("{id}", profile_id)
    event = api_event(method, path, resource=resource, headers=BEARER, path_parameters={"id": profile_id})
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


@pytest.fixture
def executing(aws: None, runtime: LambdaRuntime) -> Iterator[LocalLambdaService]:
    """Step Functions executes machines (moto keeps executable machines apart: this comes before
    the stack's machines are created) and calls the functions in this process."""
    service = LocalLambdaService(runtime, {})
    undo = install(service)
    yield service
    undo()


@pytest.fixture
def running(executing: LocalLambdaService, stack: Stack) -> Stack:
    executing.register(stack.resources.function_arns)
    return stack


def test_erase_through_the_api_and_the_state_machine(running: Stack) -> None:
    stack = running
    dynamodb = stack.client("dynamodb")
    store = DynamoProfileStore(dynamodb, stack.core_table)
    raw = DynamoRawEventStore(dynamodb, stack.raw_table, ttl_seconds=86400)
    processor = EventProcessor(normalizer_for, store, FakePublisher(), FixedClock())
    for i in range(3):
        event = person_event(f"pos-{i}", phones=["0912345678"], event="Order Completed", properties={"total": i})
        raw.store_once([event])
        processor.process(event)
    amy = store.owner(Identifier("phone", "+886912345678"))
    assert amy

    assert call(stack, "GET", amy)[0] == 404
    status, record = call(stack, "POST", amy)
    assert status == 202 and record["status"] == "running", record
    deadline = time.monotonic() + 60
    while record["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        record = call(stack, "GET", amy)[1]
    assert record["status"] == "erased", record
    assert record["removed"]["profile"] == 4 and record["removed"]["timeline_refs"] == 6
    assert record["remaining"] and not any(record["remaining"].values())
    assert store.get(amy) is None and not stack.raw_items()

    # again: the first record, 200; an unknown id: 404; lifting: 200 then idempotent
    again_status, again = call(stack, "POST", amy)
    assert (again_status, again["erase_id"]) == (200, record["erase_id"])
    status, error = call(stack, "POST", "p-unknown")
    assert (status, error["error"]) == (404, "profile_not_found")
    lift = ERASE + "/suppression"
    assert call(stack, "DELETE", amy, lift)[1]["lifted"] == 1
    assert call(stack, "DELETE", amy, lift)[1]["lifted"] == 0
    assert json.dumps(record).find("0912345678") == -1


def test_a_running_merge_is_refused_with_409_and_nothing_starts(stack: Stack) -> None:
    from cdp.identity.merge import STATUS_MERGING, MergeLedger

    dynamodb = stack.client("dynamodb")
    store = DynamoProfileStore(dynamodb, stack.core_table)
    processor = EventProcessor(normalizer_for, store, FakePublisher(), FixedClock())
    processor.process(person_event("m-1", member="M-409", event="Product Viewed"))
    amy = store.owner(Identifier("member_id", "M-409"))
    assert amy
    ledger = MergeLedger("merge-409", amy, "p-other", STATUS_MERGING, "e-1", "2026-12-01T00:00:00.000Z")
    assert store.put_ledger(ledger, expected_status=None)
    status, error = call(stack, "POST", amy)
    assert (status, error["error"]) == (409, "merge_in_progress")
    assert call(stack, "GET", amy)[0] == 404  # no record, no suppression, no run
    machine = stack.resources.function_env["admin_api"]["CDP_ERASE_STATE_MACHINE_ARN"]
    assert stack.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []


def test_runs_are_named_by_the_erase_and_a_failed_one_is_started_again(stack: Stack) -> None:
    from cdp.adapters.erase_workflow import StepFunctionsEraseWorkflow

    sfn = stack.client("stepfunctions")
    machine = stack.resources.function_env["admin_api"]["CDP_ERASE_STATE_MACHINE_ARN"]
    runs = StepFunctionsEraseWorkflow(sfn, machine)
    assert runs.start("erase-abc") == "erase-abc"
    assert runs.start("erase-abc") == "erase-abc"  # running: a repeated start is a no-op
    arn = machine.replace(":stateMachine:", ":execution:") + ":erase-abc"
    sfn.stop_execution(executionArn=arn, error="Test", cause="a failed run")
    assert runs.start("erase-abc") == "erase-abc-2"
    assert runs.start("erase-abc", round_number=2) == "erase-abc-round-2"


def test_a_merge_of_a_person_being_erased_is_not_undone(stack: Stack) -> None:
    from cdp.identity.merge import STATUS_MERGED, MergeLedger

    dynamodb = stack.client("dynamodb")
    store = DynamoProfileStore(dynamodb, stack.core_table)
    processor = EventProcessor(normalizer_for, store, FakePublisher(), FixedClock())
    processor.process(person_event("u-1", member="M-UNMERGE", event="Product Viewed"))
    amy = store.owner(Identifier("member_id", "M-UNMERGE"))
    assert amy
    status, record = call(stack, "POST", amy)
    assert status == 202 and record["status"] == "running", record
    ledger = MergeLedger("merge-erasing", amy, "p-gone", STATUS_MERGED, "e-2", "2026-12-01T00:00:00.000Z")
    assert store.put_ledger(ledger, expected_status=None)
    body = json.dumps({"mergeId": "merge-erasing"})
    event = api_event("POST", f"/admin/v1/profiles/{amy}/unmerge", resource="/admin/v1/profiles/{id}/unmerge",
                      headers=BEARER, path_parameters={"id": amy}, body=body)  # fmt: skip
    response = stack.invoke("admin_api", event)
    error = response_json(response)
    assert (response["statusCode"], error["error"]) == (409, "person_erased"), error
    assert record["erase_id"] in error["message"]
