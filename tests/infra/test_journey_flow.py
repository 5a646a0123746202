"""The journeys' runtime in the synthesized template: the starts queue and its paced starter, the
event consumer and its rule, the cohort schedules, and their least-privilege grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings

from infra.cdp_infra.journey_flow import starter_batch
from infra.cdp_infra.routes import ADMIN_API, JOURNEY_EVENTS, JOURNEY_STARTER, ROUTES
from tests.infra.test_stack import _actions, _all_actions, _arn, _function, _function_id, _output_ref, _resources
from tests.infra.test_stack import _statements as statements_of

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_the_starter_consumes_the_starts_queue_two_at_a_time_with_partial_failures(synth: Any) -> None:
    t = synth.template
    assert not [r for r in ROUTES if r.function in (JOURNEY_STARTER, JOURNEY_EVENTS)]
    queue = _output_ref(t, "JourneyStartsQueueUrl")
    (mapping,) = [
        m["Properties"]
        for m in _resources(t, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == _arn(queue)
    ]
    assert mapping["FunctionName"] == {"Ref": _function_id(t, JOURNEY_STARTER)}
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert mapping["BatchSize"] == 50
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    props = t["Resources"][queue]["Properties"]
    assert props["RedrivePolicy"]["deadLetterTargetArn"] == _arn(_output_ref(t, "JourneyStartsDeadLetterQueueUrl"))
    starter = _function(t, JOURNEY_STARTER)
    assert props["VisibilityTimeout"] == 6 * starter["Timeout"]
    variables = starter["Environment"]["Variables"]
    assert variables[settings.ENV_JOURNEY_STARTS_PER_SECOND] == "100"  # journeyStartsPerSecond
    assert variables[settings.ENV_JOURNEY_STARTER_CONCURRENCY] == "2"


def test_the_starter_starts_journey_machines_only_and_writes_runs_and_admissions(synth: Any) -> None:
    t = synth.template
    statements = statements_of(t, JOURNEY_STARTER)
    (start,) = [s for s in statements if "states:StartExecution" in _actions(s)]
    assert _actions(start) == ["states:StartExecution"]
    assert "stateMachine:LineCdp-journey-*" in _text(start["Resource"])
    assert not {"states:StopExecution", "states:SendTaskSuccess", "events:PutEvents"} & _all_actions(statements)
    writes = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    assert [s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for s in writes] == [
        ["JRUN#*", "JPERSON#*", "JENTRY#*"]
    ]


def test_the_consumer_takes_events_segment_moves_and_merges_from_the_bus(synth: Any) -> None:
    t = synth.template
    consumer = _function_id(t, JOURNEY_EVENTS)
    (rule,) = [
        r["Properties"]
        for r in _resources(t, "AWS::Events::Rule").values()
        if any(target["Arn"] == _arn(consumer) for target in r["Properties"].get("Targets", []))
    ]
    assert sorted(rule["EventPattern"]["detail-type"]) == [
        "event.received",
        "profile.merged",
        "profile.unmerged",
        "segment.entered",
        "segment.exited",
    ]
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"] == _arn(_output_ref(t, "JourneyEventsDeadLetterQueueUrl"))
    variables = _function(t, JOURNEY_EVENTS)["Environment"]["Variables"]
    assert variables[settings.ENV_JOURNEY_STARTS_QUEUE_URL] == {"Ref": _output_ref(t, "JourneyStartsQueueUrl")}


def test_the_consumer_stops_and_resumes_journey_executions_only(synth: Any) -> None:
    t = synth.template
    statements = statements_of(t, JOURNEY_EVENTS)
    (stop,) = [s for s in statements if "states:StopExecution" in _actions(s)]
    assert "execution:LineCdp-journey-*" in _text(stop["Resource"])
    # on the machines: answer task tokens; the daily sweep lists and deletes superseded ones
    (machines,) = [s for s in statements if "states:SendTaskSuccess" in _actions(s)]
    assert sorted(_actions(machines)) == [
        "states:DeleteStateMachine",
        "states:ListExecutions",
        "states:SendTaskFailure",
        "states:SendTaskSuccess",
    ]
    assert "stateMachine:LineCdp-journey-*" in _text(machines["Resource"])
    assert "states:StartExecution" not in _all_actions(statements)
    assert {"events:PutEvents", "sqs:SendMessage"} <= _all_actions(statements)
    writes = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    leading = [s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for s in writes if "Condition" in s]
    # its items; the person's timeline (`Journey Exited`, one put, like the exit node's)
    # the daily sweep records the versions it retired on the journey
    assert leading == [["JRUN#*", "JPERSON#*", "JWAIT#*", "JSEEN#*", "JENTRY#*"], ["PROFILE#*"], ["JOURNEY#*"]]


def test_a_daily_schedule_sweeps_superseded_versions(synth: Any) -> None:
    t = synth.template
    (schedule,) = [
        s["Properties"]
        for s in _resources(t, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Name"] == "retire-superseded-versions"
    ]
    assert schedule["GroupName"] == "LineCdp-journeys" and schedule["ScheduleExpression"].startswith("cron(")
    assert schedule["Target"]["Arn"] == _arn(_function_id(t, JOURNEY_EVENTS))
    assert json.loads(schedule["Target"]["Input"]) == {"retire_versions": {}}


def test_cohort_schedules_invoke_the_consumer_and_the_admin_api_manages_them(synth: Any) -> None:
    t = synth.template
    (group,) = [
        g
        for g in _resources(t, "AWS::Scheduler::ScheduleGroup").values()
        if g["Properties"]["Name"] == "LineCdp-journeys"
    ]
    assert group
    variables = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert variables[settings.ENV_JOURNEY_SCHEDULE_GROUP] == "LineCdp-journeys"
    assert variables[settings.ENV_JOURNEY_EVENTS_FUNCTION] == _arn(_function_id(t, JOURNEY_EVENTS))
    admin = statements_of(t, ADMIN_API)
    (schedules,) = [s for s in admin if "scheduler:CreateSchedule" in _actions(s)]
    assert "schedule/LineCdp-journeys/journey-*" in _text(schedules["Resource"])
    role_id = variables[settings.ENV_JOURNEY_SCHEDULER_ROLE_ARN]["Fn::GetAtt"][0]
    role_statements = [
        statement
        for policy in _resources(t, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert _all_actions(role_statements) == {"lambda:InvokeFunction"}
    assert all(s["Resource"] == _arn(_function_id(t, JOURNEY_EVENTS)) for s in role_statements)


@pytest.mark.parametrize(("per_second", "batch"), [(100, 50), (1000, 50), (4, 20), (1, 5)])
def test_a_slow_pace_takes_smaller_batches(per_second: int, batch: int) -> None:
    assert starter_batch(per_second) == batch  # at most 10 s of paced starts in a 60 s invocation
