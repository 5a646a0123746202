"""The local stack's fault plan: validated, reproducible from its seed, applied only where it says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from infra.local.faults import (
    FaultInjectingRuntime,
    FaultPlan,
    FaultPlanError,
    Faults,
    FunctionCrashed,
)

RAW, CORE = "raw-table", "core-table"


def faults(**plan: Any) -> Faults:
    found = Faults()
    found.raw_table, found.core_table = RAW, CORE
    found.configure(FaultPlan.from_json(plan))
    return found


def put(table: str, pk: str) -> dict[str, Any]:
    return {"TableName": table, "Item": {"pk": {"S": pk}}}


def commit(pk: str) -> dict[str, Any]:
    return {"TransactItems": [{"Put": {"TableName": CORE, "Item": {"pk": {"S": pk}, "sk": {"S": "PROFILE"}}}}]}


@pytest.mark.parametrize(
    "plan",
    [
        [],
        {"raw_write_failure_rate": 1.5},
        {"processor_death_before_commit_rate": True},
        {"processor_death_after_commit_rate": "0.1"},
        {"merge_step_failures": -1},
        {"seed": 1.5},
        {"poison_message_ids": "m-1"},
        {"poison_message_ids": [""]},
        {"merge_step": 3},
        {"journey_step_failures": True},
        {"journey_step_op": ["send"]},
        {"raw_writes": 0.1},
    ],
)
def test_a_plan_it_cannot_apply_is_refused(plan: Any) -> None:
    with pytest.raises(FaultPlanError):
        FaultPlan.from_json(plan)


def test_a_plan_reads_back_as_it_was_given() -> None:
    given = {
        "seed": 7,
        "raw_write_failure_rate": 0.04,
        "processor_death_before_commit_rate": 0.0,
        "processor_death_after_commit_rate": 0.03,
        "merge_step_failures": 1,
        "merge_step": "move",
        "journey_step_failures": 1,
        "journey_step_op": "send",
        "poison_message_ids": ["m-9"],
    }
    assert FaultPlan.from_json(given).as_dict() == given
    assert not Faults().active and faults(**given).active


def outcomes(plan: Faults, keys: list[str]) -> list[bool]:
    found = []
    for key in keys:
        try:
            plan.before_call("dynamodb", "PutItem", put(RAW, key))
            found.append(False)
        except ClientError as error:
            assert error.response["Error"]["Code"] == "InternalServerError"
            found.append(True)
    return found


def test_decisions_follow_the_seed_and_the_attempt_not_the_order() -> None:
    keys = [f"partner#web#m-{n}" for n in range(400)]
    first = outcomes(faults(seed=3, raw_write_failure_rate=0.25), keys)
    again = outcomes(faults(seed=3, raw_write_failure_rate=0.25), list(reversed(keys)))
    other_seed = outcomes(faults(seed=4, raw_write_failure_rate=0.25), keys)

    assert first == list(reversed(again))
    assert first != other_seed
    assert 60 < sum(first) < 140  # about a quarter
    retried = faults(seed=3, raw_write_failure_rate=0.25)
    failing = keys[first.index(True)]
    assert [outcomes(retried, [failing])[0] for _ in range(20)].count(False) > 0  # a retry is a new draw


def test_only_writes_to_the_raw_table_fail() -> None:
    plan = faults(raw_write_failure_rate=1.0)
    plan.before_call("dynamodb", "PutItem", put(CORE, "x"))
    plan.before_call("dynamodb", "GetItem", {"TableName": RAW, "Key": {"pk": {"S": "x"}}})
    plan.before_call("sqs", "SendMessage", {"QueueUrl": "q"})
    for operation, params in [
        ("PutItem", put(RAW, "x")),
        ("BatchWriteItem", {"RequestItems": {RAW: [{"PutRequest": {"Item": {"pk": {"S": "x"}}}}]}}),
    ]:
        with pytest.raises(ClientError):
            plan.before_call("dynamodb", operation, params)
    assert plan.snapshot()["injected"] == {"raw_write_failures": 2}


HANDLER = """
from infra.local import faults

def lambda_handler(event, context):
    params = {"TransactItems": [{"Put": {"TableName": "core-table", "Item": {"pk": {"S": event["pk"]}}}}]}
    try:  # as the SDK hook does around the real call
        RUNTIME.faults.before_call("dynamodb", "TransactWriteItems", params)
        RUNTIME.faults.after_call("dynamodb", "TransactWriteItems", params)
    except Exception:  # a handler's own error handling must not swallow a death
        return {"caught": True}
    return {"function": faults.current_function()}
"""


@pytest.fixture
def functions(tmp_path: Path) -> Path:
    for name in ("event_processor", "ingest", "identity_merge", "journey_step"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "handler.py").write_text(HANDLER)
    return tmp_path


def runtime(functions: Path, **plan: Any) -> FaultInjectingRuntime:
    found = FaultInjectingRuntime(faults(**plan), functions)
    for name in ("event_processor", "ingest", "identity_merge", "journey_step"):
        found.module(name).RUNTIME = found
    return found


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_processor_dies_around_its_commit_and_its_caller_sees_a_crash(functions: Path, when: str) -> None:
    local = runtime(functions, **{f"processor_death_{when}_commit_rate": 1.0})

    with pytest.raises(FunctionCrashed, match=f"died {when} its commit"):
        local.invoke("event_processor", {"pk": "PROFILE#1"})

    assert local.invoke("ingest", {"pk": "PROFILE#1"}) == {"function": "ingest"}  # not the processor: no death
    assert local.faults.snapshot()["injected"] == {f"processor_deaths_{when}_commit": 1}


def test_a_merge_step_dies_once_after_its_work(functions: Path) -> None:
    local = runtime(functions, merge_step_failures=1, merge_step="move")

    assert local.invoke("identity_merge", {"pk": "M#1", "action": "plan"}) == {"function": "identity_merge"}
    with pytest.raises(FunctionCrashed, match="'move' step died"):
        local.invoke("identity_merge", {"pk": "M#1", "action": "move"})
    assert local.invoke("identity_merge", {"pk": "M#1", "action": "move"}) == {"function": "identity_merge"}
    assert local.faults.snapshot()["injected"] == {"merge_step_failures": 1}


def test_a_journey_step_dies_once_after_its_work(functions: Path) -> None:
    local = runtime(functions, journey_step_failures=1, journey_step_op="send")

    assert local.invoke("journey_step", {"pk": "R#1", "op": "enter", "node": "entry"}) == {"function": "journey_step"}
    with pytest.raises(FunctionCrashed, match="'send' died after doing its work"):
        local.invoke("journey_step", {"pk": "R#1", "op": "send", "node": "remind"})
    assert local.invoke("journey_step", {"pk": "R#1", "op": "send", "node": "remind"}) == {"function": "journey_step"}
    assert local.faults.snapshot()["injected"] == {"journey_step_failures": 1}


def test_a_poison_record_reaches_the_processor_without_its_payload() -> None:
    plan = faults(poison_message_ids=["m-2"])
    record = {"dynamodb": {"NewImage": {"pk": {"S": "partner#web#m-2"}, "payload": {"S": '{"messageId": "m-2"}'}}}}
    good = {"dynamodb": {"NewImage": {"pk": {"S": "partner#web#m-1"}, "payload": {"S": '{"messageId": "m-1"}'}}}}
    event = {"Records": [good, record]}

    delivered = plan.before_invoke("event_processor", event)

    assert delivered["Records"][0] == good
    assert "payload" not in delivered["Records"][1]["dynamodb"]["NewImage"]
    assert "payload" in record["dynamodb"]["NewImage"]  # the stream's record itself is untouched
    assert plan.before_invoke("archive_writer", event) is event
