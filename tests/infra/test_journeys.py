"""Journeys' execution on the synthesized stack: the step function sends like the message sender,
the machines' role may only call it, and the admin API may create machines of the stack's journey
prefix only and pass that role only."""

from __future__ import annotations

from typing import Any

import pytest
from cdp import settings

from infra.cdp_infra.routes import ADMIN_API, JOURNEY_STEP, MESSAGE_SENDER
from tests.infra.test_stack import _actions, _function, _function_id, _resources, _statements

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _journeys_role(t: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (key, role) for key, role in _resources(t, "AWS::IAM::Role").items() if key.startswith("JourneysMachinesRole")
    ]
    return found


def test_the_step_function_has_the_send_points_environment_and_its_own(synth: Any) -> None:
    t = synth.template
    variables = _function(t, JOURNEY_STEP)["Environment"]["Variables"]
    sender = _function(t, MESSAGE_SENDER)["Environment"]["Variables"]
    for name in (settings.ENV_LINE_CHANNELS_SECRET, settings.ENV_MESSAGE_SCHEDULE_GROUP, settings.ENV_CORE_TABLE):
        assert variables[name] == sender[name]
    # held sends come back to the message sender, not to the step function
    assert variables[settings.ENV_MESSAGE_SENDER_FUNCTION] == {"Fn::GetAtt": [_function_id(t, MESSAGE_SENDER), "Arn"]}
    assert variables[settings.ENV_RAW_EVENTS_TABLE]


def test_the_step_function_writes_run_items_only_and_sends(synth: Any) -> None:
    statements = _statements(synth.template, JOURNEY_STEP)
    runs = [s for s in statements if "dynamodb:UpdateItem" in _actions(s) and "JRUN#*" in str(s.get("Condition"))]
    assert runs and runs[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "JRUN#*",
        "JPERSON#*",
        "JWAIT#*",
    ]
    actions = {a for s in statements for a in _actions(s)}
    assert {"events:PutEvents", "ses:SendEmail", "scheduler:CreateSchedule", "iam:PassRole"} <= actions
    assert not any(a.startswith("states:") for a in actions)


def test_the_machines_role_may_only_invoke_the_step_function(synth: Any) -> None:
    t = synth.template
    key, role = _journeys_role(t)
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "states.amazonaws.com"}]
    statements = [
        statement
        for policy in _resources(t, "AWS::IAM::Policy").values()
        if {"Ref": key} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert {a for s in statements for a in _actions(s)} == {"lambda:InvokeFunction"}
    step = _function_id(t, JOURNEY_STEP)
    assert statements[0]["Resource"][0] == {"Fn::GetAtt": [step, "Arn"]}


def test_the_admin_api_publishes_machines_of_the_journey_prefix_with_that_role(synth: Any) -> None:
    t = synth.template
    key, _ = _journeys_role(t)
    variables = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert variables[settings.ENV_JOURNEY_ROLE_ARN] == {"Fn::GetAtt": [key, "Arn"]}
    assert variables[settings.ENV_JOURNEY_STEP_ARN] == {"Fn::GetAtt": [_function_id(t, JOURNEY_STEP), "Arn"]}
    assert variables[settings.ENV_JOURNEY_MACHINE_PREFIX] == "LineCdp"
    statements = _statements(t, ADMIN_API)
    (machines,) = [s for s in statements if "states:CreateStateMachine" in _actions(s)]
    assert set(_actions(machines)) == {
        "states:CreateStateMachine",
        "states:DescribeStateMachine",
        "states:DeleteStateMachine",
        "states:TagResource",
    }
    assert "stateMachine:LineCdp-journey-*" in str(machines["Resource"])
    passes = [s["Resource"] for s in statements if "iam:PassRole" in _actions(s)]
    assert any({"Fn::GetAtt": [key, "Arn"]} in (r if isinstance(r, list) else [r]) for r in passes)
