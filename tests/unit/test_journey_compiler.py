"""A published version compiles to a state machine per node as the runtime contract says, and the
result is valid ASL (moto's ASL parser and cfn-lint's Step Functions checks)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp.journeys.compiler import (
    DONE,
    ENTER,
    RECORD_FAILURE,
    STOPPED,
    compile_json,
    compile_version,
    state_machine_name,
    transitions,
)
from cdp.journeys.definition import parse_definition
from cdp.journeys.model import PublishedVersion

from tests.unit.journey_samples import CART, WELCOME

STEP = "arn:aws:lambda:ap-northeast-1:123456789012:function:cdp-journey-step"


def version(document: dict[str, Any]) -> PublishedVersion:
    return PublishedVersion(
        "cart", 3, parse_definition(document).document(), {"cart-reminder": 2}, "2026-12-01T00:00:00Z"
    )


def test_each_node_becomes_a_task_calling_the_step_function_with_its_op() -> None:
    states = compile_version(version(WELCOME), STEP)["States"]
    ops = {name: state["Parameters"]["op"] for name, state in states.items() if state["Type"] == "Task"}
    assert ops == {
        ENTER: "enter",
        "pause": "delay",
        "ab": "split",
        "welcome": "send",
        "morning": "delay",
        "clicked": "condition",
        "tag": "action",
        "birthday": "delay",
        "done": "exit",
        RECORD_FAILURE: "exit",
    }
    task = states["welcome"]
    assert task["Resource"] == STEP and task["ResultPath"] == "$.step"
    assert task["Parameters"] == {
        "op": "send",
        "node": "welcome",
        "entered.$": "$$.State.EnteredTime",
        "execution.$": "$$.Execution.Id",
        "run.$": "$.run",
    }
    assert task["Retry"][0] == {"ErrorEquals": ["BadRequest", "NotFound", "Conflict", "RunEnded"], "MaxAttempts": 0}
    retried = task["Retry"][1]
    assert {"RetryLater", "Lambda.Unknown", "States.TaskFailed"} <= set(retried["ErrorEquals"])
    assert (retried["MaxAttempts"], retried["BackoffRate"]) == (3, 2)
    assert task["Catch"] == [
        {"ErrorEquals": ["RunEnded"], "ResultPath": "$.error", "Next": STOPPED},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": RECORD_FAILURE},
    ]


def test_a_delay_waits_until_the_time_the_step_computed_unless_the_run_ended() -> None:
    states = compile_version(version(WELCOME), STEP)["States"]
    assert states["pause"]["Next"] == "pause.wait" and "pause.next" not in states
    assert states["pause"]["Catch"][0] == {"ErrorEquals": ["RunEnded"], "ResultPath": "$.error", "Next": STOPPED}
    assert states["pause.wait"] == {"Type": "Wait", "TimestampPath": "$.step.until", "Next": "ab"}


def test_a_wait_for_event_waits_on_a_task_token_with_its_timeout_caught() -> None:
    states = compile_version(version(CART), STEP)["States"]
    wait = states["wait_order"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert wait["Parameters"]["FunctionName"] == STEP
    assert wait["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert wait["TimeoutSeconds"] == 1800 and wait["Next"] == "done"
    assert [c["ErrorEquals"] for c in wait["Catch"]] == [["States.Timeout"], ["RunEnded"], ["States.ALL"]]
    assert wait["Catch"][0]["Next"] == "wait_order.timed_out"
    assert states["wait_order.timed_out"]["Parameters"]["op"] == "timed_out"
    assert states["wait_order.timed_out"]["Next"] == "remind"


def test_splits_choose_the_node_the_step_named_and_the_holdout_stops() -> None:
    states = compile_version(version(WELCOME), STEP)["States"]
    split = states["ab.next"]
    # Two branches lead to `welcome`: one rule; the holdout has no node (the step raises RunEnded).
    assert [rule["Next"] for rule in split["Choices"]] == ["welcome"]
    assert split["Default"] == RECORD_FAILURE
    assert states["ab"]["Catch"][0]["Next"] == STOPPED
    condition = states["clicked.next"]
    assert [rule.get("StringEquals") for rule in condition["Choices"]] == ["tag", "birthday"]


def test_exit_finishes_the_run_as_completed() -> None:
    states = compile_version(version(CART), STEP)["States"]
    assert states["done"]["Parameters"]["reason"] == "completed" and states["done"]["Next"] == DONE
    assert states[DONE] == {"Type": "Succeed"} and states[STOPPED]["Type"] == "Succeed"


def test_the_compiled_machine_is_valid_asl() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    for document in (CART, WELCOME):
        AmazonStateLanguageParser.parse(compile_json(version(document), STEP))


def test_cfn_lint_finds_nothing_wrong_in_the_compiled_machine() -> None:
    from cfnlint.api import lint

    for document in (CART, WELCOME):
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Machine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "RoleArn": "arn:aws:iam::123456789012:role/journeys",
                        "Definition": compile_version(version(document), STEP),
                    },
                }
            },
        }
        assert [str(match) for match in lint(json.dumps(template))] == []


def test_names_fit_80_characters() -> None:
    assert state_machine_name("cdp", "cart", 3) == "cdp-journey-cart-v3"
    long = state_machine_name("cdp-production", "x" * 70, 12)
    assert len(long) <= 80 and long.startswith("cdp-production-journey-") and long.endswith("-v12")
    with pytest.raises(ValueError):
        state_machine_name("p" * 70, "cart", 1)


def test_transitions_per_path() -> None:
    definition = parse_definition(CART)
    # Enter(2) + wait timed out (wait, timed_out, choice) + send (2) + exit (2)
    assert transitions(definition, ["wait_order", "remind", "done"], timed_out=frozenset({"wait_order"})) == 6
    assert transitions(definition, ["wait_order", "done"]) == 4
