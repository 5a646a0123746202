"""Scheduled-cohort schedules on moto's EventBridge Scheduler, and the run ender's hand-over."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from cdp.adapters.dynamodb.journey_runs import DynamoRunStore
from cdp.adapters.journey_flow import LambdaRunEnder, SchedulerEntrySchedules, schedule_name
from cdp.journeys.runs import Run

from tests.integration.conftest import Stack
from tests.unit.journey_flow_helpers import CART, COHORT, version

TARGET = "arn:aws:lambda:ap-northeast-1:123456789012:function:journey_events"
ROLE = "arn:aws:iam::123456789012:role/journey-scheduler"


@pytest.fixture
def schedules(stack: Stack) -> SchedulerEntrySchedules:
    stack.client("scheduler").create_schedule_group(Name="journeys")
    return SchedulerEntrySchedules(stack.client("scheduler"), group="journeys", target_arn=TARGET, role_arn=ROLE)


def test_a_cohort_journey_gets_one_schedule_replaced_on_republish_and_removed(
    stack: Stack, schedules: SchedulerEntrySchedules
) -> None:
    scheduler = stack.client("scheduler")
    schedules.put(version("vip", COHORT))
    schedules.put(version("vip", COHORT, 2))  # republished: the same schedule, the new version
    found = scheduler.get_schedule(Name=schedule_name("vip"), GroupName="journeys")
    assert found["ScheduleExpression"] == "cron(0 10 1 * ? *)"
    assert found["ScheduleExpressionTimezone"] == "Asia/Taipei"
    assert found["Target"]["Arn"] == TARGET and found["Target"]["RoleArn"] == ROLE
    assert json.loads(found["Target"]["Input"]) == {
        "cohort": {"journey_id": "vip", "version": 2, "scheduled_time": "<aws.scheduler.scheduled-time>"}
    }
    schedules.remove("vip")
    schedules.remove("vip")  # gone already: fine
    assert scheduler.list_schedules(GroupName="journeys")["Schedules"] == []


def test_a_one_time_cohort_fires_at_its_local_time_and_other_entries_get_no_schedule(
    stack: Stack, schedules: SchedulerEntrySchedules
) -> None:
    once = {**COHORT, "entry": {"type": "schedule", "segment_id": "vip", "at": "2026-04-01T10:00"}}
    schedules.put(version("launch", once))
    schedules.put(version("cart", CART))
    found = stack.client("scheduler").get_schedule(Name="journey-launch", GroupName="journeys")
    assert found["ScheduleExpression"] == "at(2026-04-01T10:00:00)"
    assert found["ActionAfterCompletion"] == "DELETE"
    names = [s["Name"] for s in stack.client("scheduler").list_schedules(GroupName="journeys")["Schedules"]]
    assert names == ["journey-launch"]


class Invocations:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **call: Any) -> dict[str, Any]:
        self.calls.append(call)
        return {"StatusCode": 202}


def test_the_run_ender_counts_active_runs_and_hands_the_ending_to_the_consumer(stack: Stack) -> None:
    runs = DynamoRunStore(stack.client("dynamodb"), stack.core_table)
    base = Run("jr-1", "cart", 1, "p1", "C1", "2026-03-01T10:00:00.000Z")
    for run_id in ("jr-1", "jr-2", "jr-3"):
        runs.put_new(replace(base, run_id=run_id))
    runs.finish("jr-3", "completed", "2026-03-01T11:00:00.000Z")
    lambda_client = Invocations()
    assert LambdaRunEnder(lambda_client, TARGET, runs).end_all("cart", "archived") == 2
    (call,) = lambda_client.calls
    assert call["InvocationType"] == "Event" and call["FunctionName"] == TARGET
    assert json.loads(call["Payload"]) == {"end_runs": {"journey_id": "cart", "reason": "archived"}}
