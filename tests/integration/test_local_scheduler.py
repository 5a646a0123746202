"""The local scheduler on moto's EventBridge Scheduler: due occurrences fire once each, in order,
as the stack's clock passes them (moved by hand here), in the schedule's time zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.local.clock import LocalClock
from infra.local.scheduler import Expression, LocalScheduler, ScheduleExpressionError

TARGET = "arn:aws:lambda:ap-northeast-1:123456789012:function:cdp-local-target"
ROLE = "arn:aws:iam::123456789012:role/scheduler"
START = datetime(2026, 12, 24, 14, 0, tzinfo=UTC)  # 22:00 in Taipei


class Machine:
    def __init__(self) -> None:
        self.now = START.timestamp()

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self) -> None:
        self.machine = Machine()
        self.clock = LocalClock(self.machine)
        self.client = boto3.client("scheduler", region_name="ap-northeast-1")
        self.client.create_schedule_group(Name="jobs")
        self.calls: list[tuple[str, Any]] = []
        self.scheduler = LocalScheduler(lambda: self.client, self.clock, self.deliver)

    def deliver(self, target: dict[str, Any], payload: Any) -> tuple[str | None, Any]:
        self.calls.append((target["Arn"], payload))
        return None, {"ok": True}

    def create(self, name: str, expression: str, payload: dict[str, Any] | None = None, **extra: Any) -> None:
        self.client.create_schedule(
            Name=name,
            GroupName="jobs",
            ScheduleExpression=expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps(payload or {"job": name})},
            **extra,
        )

    def advance(self, **delta: float) -> list[dict[str, Any]]:
        return self.scheduler.move(lambda: self.clock.advance(timedelta(**delta)))

    def jobs(self) -> list[Any]:
        return [payload["job"] for _, payload in self.calls]


@pytest.fixture
def harness(aws: None) -> Harness:
    return Harness()


def test_advancing_fires_each_due_occurrence_once_in_time_order_across_schedules(harness: Harness) -> None:
    harness.create("weekly", "cron(0 9 ? * MON *)", ScheduleExpressionTimezone="Asia/Taipei")  # AWS: 2 = MON
    harness.create("once", "at(2026-12-25T09:00:00)", ScheduleExpressionTimezone="Asia/Taipei")
    harness.create("hourly", "rate(6 hours)")
    harness.scheduler.sync()
    assert harness.advance(hours=1) == [] and harness.calls == []
    fired = harness.advance(hours=10)  # to 09:00 Taipei on the 25th (Friday)
    assert [(f["schedule"], f["due"]) for f in fired] == [
        ("hourly", "2026-12-24T20:00:00.000Z"),
        ("once", "2026-12-25T01:00:00.000Z"),
    ]
    assert harness.advance(minutes=30) == []  # nothing fires twice
    fired = harness.advance(days=4)  # past Monday the 28th, 09:00 Taipei
    weekly = [f["due"] for f in fired if f["schedule"] == "weekly"]
    assert weekly == ["2026-12-28T01:00:00.000Z"]
    assert [f["due"] for f in fired] == sorted(f["due"] for f in fired)
    assert harness.jobs().count("once") == 1 and harness.jobs().count("hourly") == 1 + 16


def test_a_rate_schedule_first_fires_one_period_after_it_was_created_or_at_its_start_date(harness: Harness) -> None:
    harness.create("plain", "rate(30 minutes)")
    harness.create("started", "rate(1 day)", StartDate=START + timedelta(minutes=10))
    harness.scheduler.sync()
    fired = harness.advance(minutes=30)
    assert [(f["schedule"], f["due"]) for f in fired] == [
        ("started", "2026-12-24T14:10:00.000Z"),
        ("plain", "2026-12-24T14:30:00.000Z"),
    ]


def test_the_real_passing_of_time_fires_on_the_tick_and_end_date_and_disabled_are_respected(harness: Harness) -> None:
    harness.create("ending", "rate(1 minute)", EndDate=START + timedelta(minutes=2, seconds=30))
    harness.create("off", "rate(1 minute)", State="DISABLED")
    harness.scheduler.tick()
    harness.machine.now += 600  # ten real minutes, the clock never moved by hand
    fired = harness.scheduler.tick()
    assert [f["schedule"] for f in fired] == ["ending", "ending"]
    assert harness.scheduler.tick() == []


def test_one_time_schedules_fire_even_when_created_late_and_delete_themselves_when_asked(harness: Harness) -> None:
    harness.create("late", "at(2026-12-24T13:00:00)")  # an hour ago, UTC
    harness.create("gone", "at(2026-12-24T14:05:00)", ActionAfterCompletion="DELETE")
    harness.scheduler.sync()
    fired = harness.advance(minutes=10)
    assert [f["schedule"] for f in fired] == ["late", "gone"]
    names = [s["Name"] for s in harness.client.list_schedules()["Schedules"]]
    assert names == ["late"]
    assert harness.advance(days=1) == []


def test_the_input_gets_the_context_attributes_filled_in(harness: Harness) -> None:
    harness.create("campaign", "at(2026-12-24T14:30:00)", {"job": "c", "run": "<aws.scheduler.scheduled-time>"})
    harness.scheduler.sync()
    harness.advance(hours=1)
    assert harness.calls == [(TARGET, {"job": "c", "run": "2026-12-24T14:30:00Z"})]


def test_a_changed_schedule_counts_from_its_change_and_a_moved_back_clock_fires_nothing_again(
    harness: Harness,
) -> None:
    harness.create("daily", "cron(0 3 * * ? *)")
    harness.scheduler.sync()
    assert len(harness.advance(days=1)) == 1
    harness.scheduler.move(lambda: harness.clock.set(START))  # back a day
    assert harness.advance(hours=20) == []  # 03:00 on the 25th already fired
    harness.client.update_schedule(
        Name="daily",
        GroupName="jobs",
        ScheduleExpression="cron(0 4 * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps({"job": "daily"})},
    )
    fired = harness.advance(days=1)
    assert [f["due"] for f in fired] == ["2026-12-26T04:00:00.000Z"]


def test_many_occurrences_fire_in_passes_without_losing_any(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("infra.local.scheduler.MAX_FIRINGS_PER_PASS", 50)
    harness.create("minutely", "rate(1 minute)")
    harness.scheduler.sync()
    passes = [harness.advance(hours=2), harness.scheduler.tick(), harness.scheduler.tick(), harness.scheduler.tick()]
    assert [len(p) for p in passes] == [50, 50, 20, 0]
    dues = [datetime.fromisoformat(f["due"]) for fired in passes for f in fired]
    assert dues == [START + timedelta(minutes=n) for n in range(1, 121)]
    assert harness.scheduler.snapshot()[0]["fired"] == 120


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        ("cron(0 9 ? * 2-6 *)", "Asia/Taipei", "2026-12-26T00:00:00+08:00", "2026-12-28T09:00:00+08:00"),
        ("cron(0 9 ? * 6L *)", "Asia/Taipei", "2026-12-01T00:00:00+08:00", "2026-12-25T09:00:00+08:00"),
        ("cron(0 9 ? * 2#1 *)", "UTC", "2026-12-08T00:00:00+00:00", "2027-01-04T09:00:00+00:00"),
        ("cron(15 10 L * ? *)", "UTC", "2026-02-01T00:00:00+00:00", "2026-02-28T10:15:00+00:00"),
        ("cron(0 0 1 1 ? 2028)", "UTC", "2026-06-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"),
        ("cron(0 12 * * ? *)", "America/New_York", "2026-07-01T00:00:00+00:00", "2026-07-01T12:00:00-04:00"),
    ],
)
def test_eventbridge_cron_reads_days_from_sunday_as_1_and_the_year_field(
    expression: str, zone: str, after: str, expected: str
) -> None:
    parsed = Expression.parse(expression, zone)
    due = parsed.after(datetime.fromisoformat(after).timestamp(), 0.0)
    assert due == datetime.fromisoformat(expected).timestamp()


@pytest.mark.parametrize(
    ("expression", "zone"),
    [("cron(0 9 * * *)", "UTC"), ("rate(0 minutes)", "UTC"), ("every day", "UTC"), ("rate(5 minutes)", "Mars/Base")],
)
def test_expressions_the_service_would_refuse_are_reported_not_fired(expression: str, zone: str) -> None:
    with pytest.raises(ScheduleExpressionError):
        Expression.parse(expression, zone)


def test_the_stack_delivers_to_queues_buses_and_says_what_it_cannot_invoke(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra.local.stack import LocalStack

    monkeypatch.delenv("CDP_LINE_API_BASE_URL", raising=False)
    stack = LocalStack()  # not started: only its delivery of schedule targets is used
    monkeypatch.setattr(stack, "client", lambda service: boto3.client(service, region_name="ap-northeast-1"))
    sqs = boto3.client("sqs", region_name="ap-northeast-1")
    url = sqs.create_queue(QueueName="campaign-runs")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events", region_name="ap-northeast-1")
    bus_arn = events.create_event_bus(Name="cdp")["EventBusArn"]
    events.put_rule(Name="all", EventBusName="cdp", EventPattern=json.dumps({"source": ["cdp.campaigns"]}))
    events.put_targets(Rule="all", EventBusName="cdp", Targets=[{"Id": "q", "Arn": queue_arn}])

    error, _ = stack._deliver_schedule({"Arn": queue_arn}, {"campaign": "c1"})
    assert error is None
    bridge = {"Arn": bus_arn, "EventBridgeParameters": {"Source": "cdp.campaigns", "DetailType": "Campaign Due"}}
    error, _ = stack._deliver_schedule(bridge, {"campaign": "c2"})
    assert error is None
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert {"campaign": "c1"} in bodies
    assert [b["detail"] for b in bodies if isinstance(b, dict) and "detail" in b] == [{"campaign": "c2"}]
    error, result = stack._deliver_schedule({"Arn": "arn:aws:sns:ap-northeast-1:123456789012:topic"}, {})
    assert error is not None and "cannot invoke" in error and result is None
