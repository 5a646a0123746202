"""Campaigns on in-memory fakes: schedules and lifecycle, preflight with the send point's rules,
pricing, the paged fan-out through the send point (exactly one delivery per person, across a
crash and a repeated page), pause and cancel through the sender's check."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from cdp.campaigns.audience import Audience
from cdp.campaigns.fanout import CampaignRunner
from cdp.campaigns.gate import CampaignGate
from cdp.campaigns.model import (
    CANCELLED,
    DRAFT,
    PAUSED,
    RUN_PAUSED,
    SENDING,
    SENT,
    Campaign,
    Schedule,
    parse_send_key,
    run_id_for,
    send_key,
)
from cdp.campaigns.preflight import AudienceTooLarge, Preflight, PreflightInputs, Tally, refuse_over_budget
from cdp.campaigns.preflight_jobs import PreflightJobs, fresh_figures, running_conflict
from cdp.campaigns.pricing import Pricing
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, Conflict
from cdp.messaging.request import SendRequest
from cdp.profiles.model import Profile

from tests.fakes import FakeSegmentStore
from tests.fakes_campaigns import (
    FakeCampaignStore,
    FakeCapCounts,
    FakeContinuation,
    FakePreflightSteps,
    FakeQueryJobs,
    FakeQuota,
    FakeSendQueue,
)
from tests.unit.test_send_point import MONDAY_11, MONDAY_23, PROVIDER, World

SEGMENT = "first-purchase"


def line_user(index: int) -> str:
    return "U" + f"{index:032x}"


def make_campaign(**fields: Any) -> Campaign:
    values: dict[str, Any] = {
        "campaign_id": "spring",
        "name": "Spring coupon",
        "segment_id": SEGMENT,
        "template_id": "coupon",
        "channels": ("line", "email"),
        "purpose": "marketing",
        "schedule": Schedule("now"),
        "created_at": "2026-05-04T00:00:00.000Z",
        "updated_at": "2026-05-04T00:00:00.000Z",
        "status": SENDING,
        "template_version": 1,
        **fields,
    }
    return Campaign(**values)


class Campaigns:
    """A send point world (tests.unit.test_send_point.World) with a segment, campaigns, a queue."""

    def __init__(self, now_ms: int = MONDAY_11, *, page_size: int = 3, pages: int = 2) -> None:
        self.world = World(now_ms)
        self.segments = FakeSegmentStore()
        self.store = FakeCampaignStore()
        self.queue = FakeSendQueue()
        self.continuation = FakeContinuation()
        self.audience = Audience(self.segments, self.world.profiles)
        self.runner = CampaignRunner(
            store=self.store,
            audience=self.audience,
            queue=self.queue,
            continuation=self.continuation,
            clock=self.world.clock,
            pages_per_invocation=pages,
            batch_size=2,
            page_size=page_size,
        )
        self.gate = CampaignGate(self.store, self.world.clock, ttl_ms=0)

    def friends(self, count: int, **person: Any) -> list[str]:
        ids = []
        for index in range(count):
            profile_id = f"p_{index:04d}"
            self.world.person(profile_id, line=line_user(index), **person)
            self.segments.enter(SEGMENT, profile_id, at="2026-05-01T00:00:00.000Z", rule_version=1)
            ids.append(profile_id)
        return ids

    def run_to_the_end(self, campaign_id: str, scheduled_time: str | None = None) -> None:
        self.runner.fire(campaign_id, scheduled_time)
        while self.continuation.pending:
            self.runner.fan_out(*self.continuation.pending.pop(0))

    def deliver(self) -> list[Any]:
        """The sender draining its queue: the gate first, then the send point."""
        results = []
        for message in self.queue.take():
            requests = [SendRequest.model_validate(body) for body in message]
            going = [r for r in requests if self.gate.stopped(r.send_key) is None]
            results.extend(self.world.point.send_many(going))
        return results

    def inputs(self, **changes: Any) -> PreflightInputs:
        values: dict[str, Any] = {
            "policy": self.world.policies.policy(),
            "pricing": Pricing(),
            "line_provider": PROVIDER,
            "suppressed": self.world.suppressions.suppressed,
            **changes,
        }
        return PreflightInputs(**values)

    def preflight(self, campaign: Campaign, quota: FakeQuota | None = None, **changes: Any) -> dict[str, Any]:
        checker = Preflight(self.audience, FakeCapCounts(self.world.caps.counters), quota or FakeQuota())
        return checker.run(campaign, self.inputs(**changes), now_ms=self.world.clock.now_ms())


# --- schedules and keys -------------------------------------------------------------------------


def test_a_schedule_in_the_past_or_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(BadRequest) as past:
        Schedule.parse({"kind": "at", "at": "2026-05-04T10:00", "time_zone": "Asia/Taipei"}, now_ms=MONDAY_11)
    assert past.value.code == "schedule_in_past"
    with pytest.raises(BadRequest) as zone:
        Schedule.parse({"kind": "at", "at": "2026-05-05T10:00", "time_zone": "Asia/Nowhere"}, now_ms=MONDAY_11)
    assert zone.value.code == "invalid_time_zone"
    with pytest.raises(BadRequest) as expression:
        Schedule.parse({"kind": "recurring", "expression": "weekly"}, now_ms=MONDAY_11)
    assert expression.value.code == "invalid_schedule"
    later = Schedule.parse({"kind": "at", "at": "2026-05-04T12:00", "time_zone": "Asia/Taipei"}, now_ms=MONDAY_11)
    assert later.at_ms() == MONDAY_11 + 3600_000 and later.at == "2026-05-04T12:00:00"


def test_send_keys_name_the_campaign_run_and_person_and_recurring_runs_their_firing() -> None:
    assert send_key("spring", "r1", "p_1") == "campaign:spring:r1:p_1"
    assert parse_send_key("campaign:spring:r1:p_1") == ("spring", "r1")
    assert parse_send_key("journey:j1:n2") is None
    assert run_id_for("2026-05-04T03:00:00Z") == "r20260504T0300Z"
    assert run_id_for(None) == "r1"


# --- pricing ------------------------------------------------------------------------------------


def test_five_thousand_line_messages_against_four_thousand_included_cost_nt200_and_a_nt100_budget_refuses() -> None:
    pricing = Pricing()  # seed 004: NT$800 a month includes 4,000, NT$0.2 each beyond
    estimate = pricing.estimate(line_messages=5000, consumption=0, emails=0, sms_segments=0)
    assert estimate["line_extra_messages"] == 1000 and estimate["total"] == 200.0
    assert pricing.estimate(line_messages=1, consumption=10, emails=0, sms_segments=0)["total"] == 0
    assert pricing.line_extra(consumption=4500, messages=100) == 100  # all beyond the plan already
    figures = {"over_budget": True, "cost": estimate, "budget": 100.0, "line": {"messages": 5000}, "recipients": 5000}
    with pytest.raises(Conflict) as refused:
        refuse_over_budget(figures)
    assert refused.value.code == "over_budget"
    assert refused.value.details["estimate"]["total"] == 200.0 and refused.value.details["budget"] == 100.0


def test_pricing_fields_are_checked() -> None:
    with pytest.raises(BadRequest):
        Pricing.parse({"line_extra_message": -1})
    with pytest.raises(BadRequest):
        Pricing.parse({"surprise": 1})
    assert Pricing.parse({"sms_segment": 2}).sms_segment == 2.0


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_of_5000_recipients_against_4000_remaining_shows_nt200_extra_and_over_a_nt100_budget() -> None:
    world = Campaigns(page_size=500)
    world.friends(5000)
    figures = world.preflight(make_campaign(status=DRAFT, budget=100.0), FakeQuota(limit=None, consumption=0))
    assert figures["targeted"] == 5000 and figures["reachable"] == {"line": 5000, "email": 0}
    assert figures["line"]["messages"] == 5000 and figures["line"]["included_remaining"] == 4000
    assert figures["cost"]["line_extra_messages"] == 1000 and figures["cost"]["total"] == 200.0
    assert figures["over_budget"] is True


def test_preflight_counts_suppressions_by_reason_with_the_send_points_rules() -> None:
    world = Campaigns(MONDAY_23)
    world.friends(2)
    world.world.person("p_blocked", line=line_user(90), line_status="blocked")
    world.world.person("p_mail", line=line_user(91), line_status="blocked", email="m@example.com")
    world.world.person("p_consented", line=line_user(92), line_status="blocked", email="c@example.com",
                       consent={"email:marketing": True})  # fmt: skip
    world.world.person("p_both", line=line_user(93), email="b@example.com", consent={"email:marketing": True})
    for profile_id in ("p_blocked", "p_mail", "p_consented", "p_both"):
        world.segments.enter(SEGMENT, profile_id, at="2026-05-01T00:00:00.000Z", rule_version=1)
    # p_0001 already had two LINE messages today: capped.
    world.world.caps.counters[("p_0001", "line#day#2026-05-04")] = {"a", "b"}
    figures = world.preflight(make_campaign(status=DRAFT))
    assert figures["targeted"] == 6
    assert figures["suppressed"] == {"capped_day": 1, "no_consent": 1, "unreachable": 1}
    # reachable: on each channel of the chain, whichever is used; sending: the channel chosen
    assert figures["reachable"] == {"line": 3, "email": 2}
    assert figures["sending"] == {"line": 2, "email": 1} and figures["line"]["messages"] == 2
    assert figures["held_quiet_hours"] == 3  # 23:00 Taipei: all three wait for 09:00
    dropped = world.preflight(make_campaign(status=DRAFT, in_quiet_hours="drop"))
    assert dropped["suppressed"]["quiet_hours"] == 3 and dropped["recipients"] == 0


def test_preflight_narrows_the_segment_by_a_rule_and_caps_recipients() -> None:
    world = Campaigns()
    ids = world.friends(6)
    vip = world.world.profiles.profiles[ids[0]]
    vip.tags = {"vip": {"source": "admin", "at": "2026-05-01T00:00:00.000Z"}}
    rule = {"not": {"tag": {"name": "vip"}}}
    figures = world.preflight(make_campaign(status=DRAFT, rule=rule))
    assert figures["audience"] == 6 and figures["targeted"] == 5
    limited = world.preflight(make_campaign(status=DRAFT, max_recipients=4))
    assert limited["targeted"] == 4 and limited["line"]["messages"] == 4


def test_preflight_shows_lines_quota_when_it_is_limited() -> None:
    world = Campaigns()
    world.friends(3)
    figures = world.preflight(make_campaign(status=DRAFT), FakeQuota(limit=100, consumption=99))
    assert figures["line"] == {
        "messages": 3,
        "consumption": 99,
        "quota": 100,
        "remaining": 1,
        "over_quota": True,
        "included_remaining": 3901,
    }


# --- fan-out ------------------------------------------------------------------------------------


def test_the_fan_out_pages_the_segment_and_everyone_gets_exactly_one_push() -> None:
    world = Campaigns(page_size=3, pages=2)
    world.friends(10)
    world.store.create(make_campaign())
    world.run_to_the_end("spring")
    assert len(world.continuation.pending) == 0
    run = world.store.runs[("spring", "r1")]
    assert (run.status, run.enqueued, run.audience) == ("sent", 10, 10)
    assert world.store.campaigns["spring"].status == SENT and world.store.campaigns["spring"].runs == ("r1",)
    assert all(len(message) <= 2 for message in world.queue.messages)
    results = world.deliver()
    assert [r.state for r in results] == ["sent"] * 10
    pushed = [to for call in world.world.line.calls for to in call.to]
    assert sorted(pushed) == sorted(line_user(i) for i in range(10))


def test_a_crash_mid_campaign_resumes_and_a_repeated_page_sends_nothing_twice() -> None:
    world = Campaigns(page_size=3, pages=10)
    world.friends(9)
    world.store.create(make_campaign())
    world.queue.fail_after = 2  # the third page's enqueue crashes
    with pytest.raises(RuntimeError):
        world.runner.fire("spring")
    assert world.store.runs[("spring", "r1")].enqueued == 6
    world.deliver()
    # The invocation is retried; a firing redelivered finds its run and goes on from the cursor.
    world.runner.fire("spring")
    world.deliver()
    # Even a page handed over twice (a crash after the enqueue, before the cursor) delivers once.
    for index in range(3):
        world.queue.messages.append([_request(index)])
    results = world.deliver()
    assert all(r.duplicate for r in results)
    pushed = [to for call in world.world.line.calls for to in call.to]
    assert sorted(pushed) == sorted(line_user(i) for i in range(9))


def _request(index: int) -> dict[str, Any]:
    return {
        "send_key": send_key("spring", "r1", f"p_{index:04d}"),
        "profile_id": f"p_{index:04d}",
        "template_id": "coupon",
        "template_version": 1,
        "kind": "campaign",
        "campaign_id": "spring",
        "purpose": "marketing",
        "channels": ["line", "email"],
    }


def test_pause_stops_the_fan_out_and_the_sender_and_resume_sends_the_rest_once() -> None:
    world = Campaigns(page_size=2, pages=1)
    world.friends(6)
    world.store.create(make_campaign())
    world.runner.fire("spring")  # one page queued, the rest handed on
    world.deliver()
    world.runner.fan_out(*world.continuation.pending.pop(0))  # a second page queued, not yet sent
    campaign = world.store.campaigns["spring"]
    world.store.replace(
        campaign.moved(PAUSED, iso_from_ms(MONDAY_11), resume_to=SENDING), expected_version=campaign.version
    )
    run = world.store.runs[("spring", "r1")]
    world.store.replace_run(
        type(run)(**{**run.as_dict(), "status": RUN_PAUSED, "version": run.version + 1}), expected_version=run.version
    )
    assert world.deliver() == []  # the queued page is skipped by the sender's check
    assert world.runner.fan_out(*world.continuation.pending.pop(0))["stopped"] == RUN_PAUSED
    assert sum(len(call.to) for call in world.world.line.calls) == 2

    # Resume: the run starts again from the first page; the ledger answers those already sent.
    paused = world.store.campaigns["spring"]
    world.store.replace(paused.moved(SENDING, iso_from_ms(MONDAY_11), resume_to=None), expected_version=paused.version)
    run = world.store.runs[("spring", "r1")]
    restarted = type(run)(
        **{**run.as_dict(), "status": "sending", "cursor": None, "enqueued": 0, "version": run.version + 1}
    )
    world.store.replace_run(restarted, expected_version=run.version)
    world.continuation.pending.append(("spring", "r1"))
    while world.continuation.pending:
        world.runner.fan_out(*world.continuation.pending.pop(0))
        world.deliver()
    pushed = [to for call in world.world.line.calls for to in call.to]
    assert sorted(pushed) == sorted(line_user(i) for i in range(6))


def test_a_cancelled_campaign_fires_nothing_and_its_queued_sends_are_skipped() -> None:
    world = Campaigns()
    world.friends(2)
    world.store.create(make_campaign(status=CANCELLED))
    assert world.runner.fire("spring")["skipped"] == CANCELLED
    world.queue.messages.append([_request(0)])
    assert world.deliver() == []
    assert world.gate.stopped(send_key("spring", "r1", "p_0000")) == "campaign_cancelled"
    assert world.gate.stopped("journey:j1:n1:p_1") is None


def test_a_recurring_campaign_is_one_campaign_with_a_run_per_firing() -> None:
    world = Campaigns()
    world.friends(2)
    weekly = Schedule("recurring", expression="cron(0 11 ? * MON *)")
    world.store.create(make_campaign(status="scheduled", schedule=weekly))
    world.run_to_the_end("spring", "2026-05-04T03:00:00Z")
    world.run_to_the_end("spring", "2026-05-04T03:00:00Z")  # the same firing redelivered
    world.world.clock.advance(7 * 86400_000)
    world.run_to_the_end("spring", "2026-05-11T03:00:00Z")
    campaign = world.store.campaigns["spring"]
    assert campaign.status == "scheduled" and campaign.runs == ("r20260504T0300Z", "r20260511T0300Z")
    results = world.deliver()
    assert [r.state for r in results] == ["sent"] * 4


def test_a_preflight_that_cannot_finish_within_its_time_budget_says_so() -> None:
    world = Campaigns()
    world.friends(501)  # two pages of members
    checker = Preflight(world.audience, FakeCapCounts({}), FakeQuota(), time_budget_s=0.0)
    with pytest.raises(Conflict) as refused:
        checker.run(make_campaign(status=DRAFT), world.inputs(), now_ms=MONDAY_11)
    assert refused.value.code == "audience_too_large" and refused.value.details["members_read"] == 500


# --- preflight jobs: an audience too big for one request --------------------------------------


# --- preflight jobs: an audience too big for one request ----------------------------------------


def _ticking() -> Callable[[], float]:
    """A monotonic clock one second later at each look: a 1.5 s budget lasts two pages."""
    ticks = itertools.count()
    return lambda: float(next(ticks))


class PreflightJobWorld(Campaigns):
    def __init__(self, people: int) -> None:
        super().__init__()
        self.friends(people)
        self.jobs = FakeQueryJobs()
        self.steps = FakePreflightSteps()
        self.preflights = PreflightJobs(self.store, self.jobs, self.steps, self.world.clock)
        self.store.create(make_campaign(status=DRAFT))

    def walker(self, campaign: Campaign) -> tuple[Preflight, PreflightInputs]:
        checker = Preflight(
            self.audience,
            FakeCapCounts(self.world.caps.counters),
            FakeQuota(),
            time_budget_s=1.5,
            monotonic=_ticking(),
            page_size=3,
        )
        return checker, self.inputs()

    def drain(self) -> list[str]:
        outcomes = []
        while self.steps.pending:
            step = self.steps.pending.pop(0)
            outcomes.append(self.preflights.step(step["job_id"], step["campaign_id"], step["tally"], self.walker))
        return outcomes


def test_a_big_audience_is_preflighted_by_a_job_page_by_page_with_the_same_figures() -> None:
    world = PreflightJobWorld(people=11)  # four pages of three
    campaign = world.store.campaigns["spring"]
    expected = world.preflight(campaign)
    checker, inputs = world.walker(campaign)
    with pytest.raises(AudienceTooLarge) as too_large:
        checker.run(campaign, inputs, now_ms=MONDAY_11)
    assert too_large.value.tally.members == 6 and not too_large.value.tally.done

    job = world.preflights.start(campaign, too_large.value.tally)
    marked = world.store.campaigns["spring"]
    assert marked.preflight_job == {"job_id": job.job_id, "started_at": job.created_at}
    assert world.preflights.running(marked) == job
    with pytest.raises(Conflict) as refused:  # what `send` answers meanwhile
        raise running_conflict(job)
    assert refused.value.code == "preflight_running" and refused.value.details["job_id"] == job.job_id

    assert world.drain() == ["done"]  # the two pages left fit one step
    done = world.store.campaigns["spring"]
    assert done.preflight_job is None and world.preflights.running(done) is None
    figures = done.last_preflight
    assert figures is not None and figures["job_id"] == job.job_id
    assert {k: v for k, v in figures.items() if k != "job_id"} == expected
    assert figures["audience"] == 11 and figures["recipients"] == 11
    assert world.jobs.jobs[job.job_id].status == "done" and world.jobs.jobs[job.job_id].result == figures
    assert fresh_figures(done, MONDAY_11) == figures  # send goes on with them
    assert fresh_figures(done, MONDAY_11 + 2 * 3600_000) is None  # stale: send walks again
    assert world.drain() == []


def test_a_preflight_job_resumes_across_many_steps_and_counts_a_merged_member_once() -> None:
    world = PreflightJobWorld(people=20)
    # p_0019 merged into p_0000 (a member in its own name): one person, counted on p_0000's page;
    # p_0017 and p_0018 merged into p_out, who is no member: one person
    world.world.person("p_out", line=line_user(99))
    for loser, survivor in (("p_0019", "p_0000"), ("p_0017", "p_out"), ("p_0018", "p_out")):
        profile = Profile.new(loser, "2026-01-01T00:00:00.000Z")
        profile.merged_into = survivor
        world.world.profiles.seed(profile)
    campaign = world.store.campaigns["spring"]
    job = world.preflights.start(campaign, Tally(now_ms=MONDAY_11))
    outcomes = world.drain()
    assert outcomes[-1] == "done" and outcomes.count("continued") == len(outcomes) - 1 >= 3
    figures = world.jobs.jobs[job.job_id].result
    assert figures is not None
    assert figures["audience"] == 20 and figures["targeted"] == 18  # 17 in their own name + p_out
    assert figures == {**world.preflight(world.store.campaigns["spring"]), "job_id": job.job_id}


def test_a_preflight_job_of_an_edited_campaign_fails_and_a_redelivered_step_does_nothing() -> None:
    world = PreflightJobWorld(people=11)
    campaign = world.store.campaigns["spring"]
    job = world.preflights.start(campaign, Tally(now_ms=MONDAY_11))
    step = world.steps.pending[0]
    edited = world.store.campaigns["spring"]
    world.store.replace(
        dataclasses.replace(edited, preflight_job=None, version=edited.version + 1), expected_version=edited.version
    )
    assert world.drain() == ["failed"]
    assert world.jobs.jobs[job.job_id].error == {
        "error": "campaign_changed",
        "message": "the campaign was edited, deleted or preflighted again",
        "status": 409,
    }
    assert world.preflights.step(step["job_id"], step["campaign_id"], step["tally"], world.walker) == "skipped"
    assert world.store.campaigns["spring"].last_preflight is None


def test_a_lost_preflight_job_is_not_waited_for_after_half_an_hour() -> None:
    world = PreflightJobWorld(people=2)
    job = world.preflights.start(world.store.campaigns["spring"], Tally(now_ms=MONDAY_11))
    assert world.preflights.running(world.store.campaigns["spring"]) == job
    world.steps.pending.clear()  # the step's invocation was lost
    world.world.clock.advance(31 * 60_000)
    assert world.preflights.running(world.store.campaigns["spring"]) is None


def test_a_preflight_tally_survives_json() -> None:
    tally = Tally(now_ms=MONDAY_11, cursor="p_9", started=True, members=9, targeted=8, held=1)
    tally.reachable.update({"line": 7})
    tally.suppressed.update({"no_consent": 1})
    tally.followed.add("p_x")
    assert Tally.from_dict(json.loads(json.dumps(tally.as_dict()))) == tally


def test_a_preflight_job_finishing_after_the_campaign_was_cancelled_keeps_its_figures_on_the_job() -> None:
    world = PreflightJobWorld(people=4)
    job = world.preflights.start(world.store.campaigns["spring"], Tally(now_ms=MONDAY_11))
    marked = world.store.campaigns["spring"]
    world.store.replace(marked.moved(CANCELLED, iso_from_ms(MONDAY_11)), expected_version=marked.version)
    assert world.drain() == ["done"]
    cancelled = world.store.campaigns["spring"]
    assert cancelled.status == CANCELLED and cancelled.last_preflight is None and cancelled.preflight_job is None
    assert world.jobs.jobs[job.job_id].result is not None
