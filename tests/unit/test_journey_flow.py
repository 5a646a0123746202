"""The journey event consumer on fakes: waits, exit rules, clicks, conversions, entries, merges,
cohorts and archive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from cdp.domain_events import (
    EVENT_RECEIVED,
    JOURNEY_EXITED,
    PROFILE_MERGED,
    PROFILE_UNMERGED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
)
from cdp.identity.identifiers import Identifier
from cdp.journeys.admission import KEY_SEEN
from cdp.journeys.definition import PropertyFilter
from cdp.journeys.flow import ExitRecorder, JourneyFlow, matches
from cdp.journeys.model import PAUSED
from cdp.journeys.ports import EntryRequest, Wait
from cdp.journeys.runs import ACTIVE, ARCHIVED, ERASED, EXITED, Run
from cdp.journeys.starter import STARTED, Pacer, Starter
from cdp.journeys.steps import JOURNEY_EXITED_EVENT
from cdp.profiles.model import Profile

from tests.fakes import FakePublisher, FakeSegmentStore, FixedClock
from tests.fakes_journey_flow import FakeEntryQueue, FakeExecutions, FakeMarks, InMemoryAdmissions, InMemoryWaitStore
from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore
from tests.unit.journey_flow_helpers import CART, COHORT, MACHINE, WELCOME, version

AT = "2026-03-01T10:00:00.000Z"
LATER = "2026-03-01T10:20:00.000Z"


class Profiles:
    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.timeline: dict[str, Any] = {}

    def add(self, profile_id: str) -> None:
        profile = Profile.new(profile_id, AT)
        member = Identifier("member_id", f"m-{profile_id}")
        profile.identifiers[member.key] = {"type": member.type, "value": member.value, "added_at": AT}
        self.profiles[profile_id] = profile

    def get(self, profile_id: str) -> Profile | None:
        return self.profiles.get(profile_id)

    def record_timeline(self, *, event: Any, profile: Profile, attached: Any, applied_at: str) -> None:
        self.timeline.setdefault(event.event_id, event)  # written once by id


class World:
    def __init__(self, listened: Callable[[], frozenset[str]] | None = None) -> None:
        self.journeys = InMemoryJourneyStore()
        self.journeys.add_version(version("cart", CART))
        self.journeys.add_version(version("welcome", WELCOME))
        self.runs = InMemoryRunStore()
        self.waits = InMemoryWaitStore()
        self.executions = FakeExecutions()
        self.queue = FakeEntryQueue()
        self.marks = FakeMarks()
        self.segments = FakeSegmentStore()
        self.publisher = FakePublisher()
        self.profiles = Profiles()
        self.continued: list[dict[str, Any]] = []
        self.admissions = InMemoryAdmissions(self.runs, FixedClock())
        world = self

        class Continuation:
            def continue_cohort(self, cohort: dict[str, Any]) -> None:
                world.continued.append(cohort)

            def continue_ending(self, journey_id: str, reason: str) -> None:
                world.continued.append({"end_runs": journey_id, "reason": reason})

        self.flow = JourneyFlow(
            journeys=self.journeys,
            live=self.journeys.live,
            runs=self.runs,
            waits=self.waits,
            executions=self.executions,
            queue=self.queue,
            marks=self.marks,
            members=self.segments,
            exits=ExitRecorder(self.publisher, self.profiles),
            clock=FixedClock(),
            continuation=Continuation(),
            listened=listened,
            admissions=self.admissions,
        )

    def run(self, run_id: str = "jr-1", profile_id: str = "p1", journey_id: str = "cart", **fields: Any) -> Run:
        run = Run(
            run_id=run_id,
            journey_id=journey_id,
            version=1,
            profile_id=profile_id,
            entry_key=fields.pop("entry_key", "C1"),
            entered_at=fields.pop("entered_at", AT),
            entered_as=fields.pop("entered_as", profile_id),
            **fields,
        )
        self.runs.put_new(run)
        self.profiles.add(profile_id)
        return run

    def received(
        self, name: str, properties: dict[str, Any], *, profile_id: str = "p1", at: str = LATER, event_id: str = "e1"
    ) -> Any:
        envelope = {
            "id": f"{event_id}:received",
            "data": {
                "eventId": event_id,
                "profileId": profile_id,
                "event": name,
                "type": "track",
                "timestamp": at,
                "properties": properties,
            },
        }
        return self.flow.on_bus_event(EVENT_RECEIVED, envelope)


@pytest.fixture
def world() -> World:
    return World()


def cart_wait(run_id: str = "jr-1", token: str = "t1", correlation: str | None = "cart_id=C1") -> Wait:
    return Wait(
        run_id, "cart", "wait_order", "p1", "Order Completed", correlation, [], token, "2026-03-01T10:30:00.000Z"
    )


def test_an_event_resumes_the_matching_wait_with_the_event(world: World) -> None:
    world.journeys.add_version(version("cart", CART, exit_rules=[]))  # no exit rule: only the wait
    world.run()
    world.waits.register(cart_wait())
    world.executions.live_tokens.add("t1")
    outcome = world.received("Order Completed", {"cart_id": "C2"}, event_id="e0")
    assert outcome.resumed == 0  # another cart
    outcome = world.received("Order Completed", {"cart_id": "C1", "total": 30})
    assert outcome.resumed == 1
    ((token, output),) = world.executions.resumed
    assert token == "t1" and output["event"]["name"] == "Order Completed"
    assert output["event"]["properties"] == {"cart_id": "C1", "total": 30}
    assert world.waits.waits == {}


def test_a_wait_whose_task_is_gone_is_removed(world: World) -> None:
    world.journeys.add_version(version("cart", CART, exit_rules=[]))
    world.run()
    world.waits.register(cart_wait(token="expired"))
    assert world.received("Order Completed", {"cart_id": "C1"}).resumed == 0
    assert world.waits.waits == {}


def test_an_exit_rule_ends_the_run_mid_wait_once(world: World) -> None:
    world.run(execution_arn="arn:exec:jr-1", waiting={"kind": "event", "event": "Order Completed"})
    world.waits.register(cart_wait())
    world.executions.live_tokens.add("t1")
    outcome = world.received("Order Completed", {"cart_id": "C1"})
    assert outcome.exited == 1 and outcome.resumed == 0
    run = world.runs.get("jr-1")
    assert run is not None and run.status == EXITED and run.exit_reason == "exit_event" and run.exited_at == LATER
    assert world.executions.stopped == [("arn:exec:jr-1", "JourneyExited", "exit_event")]
    assert world.waits.waits == {}
    (exited,) = world.publisher.named(JOURNEY_EXITED)
    assert exited.detail["reason"] == "exit_event" and exited.detail["run_id"] == "jr-1"
    (timeline,) = world.profiles.timeline.values()
    assert timeline.event == JOURNEY_EXITED_EVENT and timeline.properties["run_id"] == "jr-1"
    # The same envelope again is skipped; another order does not end it twice.
    assert world.received("Order Completed", {"cart_id": "C1"}).skipped == "duplicate"
    later = "2026-03-01T10:25:00.000Z"
    assert world.received("Order Completed", {"cart_id": "C1"}, event_id="e2", at=later).exited == 0
    assert len(world.publisher.named(JOURNEY_EXITED)) == 1 and len(world.executions.stopped) == 1


def test_a_retry_after_a_crash_past_the_finish_stops_and_tells_the_exit(world: World) -> None:
    world.run(execution_arn="arn:exec:jr-1")
    world.runs.finish("jr-1", "exit_event", LATER)  # the first attempt died right after this
    world.received("Order Completed", {"cart_id": "C1"})
    assert world.executions.stopped == [("arn:exec:jr-1", "JourneyExited", "exit_event")]
    (exited,) = {e.id for e in world.publisher.named(JOURNEY_EXITED)}  # the same event, told again
    assert exited


def test_an_uncorrelated_order_does_not_end_the_cart_run(world: World) -> None:
    world.run()
    assert world.received("Order Completed", {"cart_id": "C9"}).exited == 0
    run = world.runs.get("jr-1")
    assert run is not None and run.status == ACTIVE
    assert world.executions.stopped == []


def test_leaving_the_entry_segment_ends_the_run(world: World) -> None:
    world.run("jr-w", journey_id="welcome", entry_key="-", execution_arn="arn:exec:jr-w")
    envelope = {"id": "x1", "data": {"segmentId": "other", "profileId": "p1", "at": LATER}}
    assert world.flow.on_bus_event(SEGMENT_EXITED, envelope).exited == 0
    envelope = {"id": "x2", "data": {"segmentId": "new-followers", "profileId": "p1", "at": LATER}}
    assert world.flow.on_bus_event(SEGMENT_EXITED, envelope).exited == 1
    run = world.runs.get("jr-w")
    assert run is not None and run.exit_reason == "left_segment"


def test_a_goal_within_the_window_converts_once_with_its_value(world: World) -> None:
    world.journeys.add_version(version("cart", CART, exit_rules=[]))
    world.run()
    outcome = world.received("Order Completed", {"cart_id": "C1", "revenue": 990})
    assert outcome.conversions == 1
    run = world.runs.get("jr-1")
    assert run is not None and run.converted_at == LATER and run.conversion_value == 990.0
    assert world.received("Order Completed", {"cart_id": "C1", "revenue": 5}, event_id="e2").conversions == 0


def test_a_goal_after_the_window_or_for_another_key_does_not_convert(world: World) -> None:
    world.journeys.add_version(version("cart", CART, exit_rules=[]))
    world.run()
    assert world.received("Order Completed", {"cart_id": "C1"}, at="2026-03-09T10:00:00.000Z").conversions == 0
    assert world.received("Order Completed", {"cart_id": "C2"}, event_id="e2").conversions == 0


def test_a_conversion_after_exit_still_counts_within_the_window(world: World) -> None:
    world.run()
    world.runs.finish("jr-1", "completed", "2026-03-01T10:30:00.000Z")
    assert world.received("Order Completed", {"cart_id": "C1"}, at="2026-03-02T10:00:00.000Z").conversions == 1


def test_a_click_on_a_journey_message_is_recorded_on_the_run_that_sent_it(world: World) -> None:
    world.run("jr-w", journey_id="welcome", entry_key="-")
    world.runs.record_send("jr-w", "welcome", "sent")
    clicked = {"journey_id": "welcome", "node_id": "welcome", "link_code": "abc"}
    assert world.received("Link Clicked", clicked).clicks == 1
    run = world.runs.get("jr-w")
    assert run is not None and run.clicked == {"welcome": LATER}
    assert world.received("Link Clicked", clicked, event_id="e2").clicks == 0  # the first click only
    other = {"journey_id": "welcome", "node_id": "nudge"}
    assert world.received("Link Clicked", other, event_id="e3").clicks == 0  # no message sent there


def test_an_entry_event_queues_a_keyed_entry(world: World) -> None:
    outcome = world.received("Product Added", {"cart_id": "C1", "sku": "S1"}, event_id="evt-9")
    assert outcome.entries == 1
    (request,) = world.queue.queued
    assert (request.journey_id, request.version, request.profile_id, request.entry_key) == ("cart", 1, "p1", "C1")
    assert request.cause_id == "evt-9" and request.entered_at == LATER
    assert request.entry == {"event": "Product Added", "properties": {"cart_id": "C1", "sku": "S1"}}
    assert world.received("Product Added", {"sku": "S1"}, event_id="evt-10").entries == 0  # no key: no run


def test_entry_where_filters_apply(world: World) -> None:
    where = [{"property": "price", "op": "gte", "value": 100}]
    world.journeys.add_version(version("cart", CART, entry={**CART["entry"], "where": where}))
    assert world.received("Product Added", {"cart_id": "C1", "price": 50}).entries == 0
    assert world.received("Product Added", {"cart_id": "C1", "price": 150}, event_id="e2").entries == 1


def test_a_paused_journey_takes_no_entries(world: World) -> None:
    world.journeys.add_version(version("cart", CART), status=PAUSED)
    assert world.received("Product Added", {"cart_id": "C1"}).entries == 0


def test_entering_the_entry_segment_queues_an_entry_named_by_the_envelope(world: World) -> None:
    envelope = {"id": "seg:p1:entered:1:4", "data": {"segmentId": "new-followers", "profileId": "p1", "at": AT}}
    assert world.flow.on_bus_event(SEGMENT_ENTERED, envelope).entries == 1
    (request,) = world.queue.queued
    assert request.journey_id == "welcome" and request.cause_id == "segment:seg:p1:entered:1:4"
    assert request.entry == {"segment_id": "new-followers"}


def test_a_merge_moves_runs_and_waits_and_ends_the_merged_away_duplicate(world: World) -> None:
    world.run("jr-s", profile_id="survivor", entered_at="2026-03-01T11:00:00.000Z", execution_arn="arn:exec:jr-s")
    world.run("jr-l", profile_id="loser", execution_arn="arn:exec:jr-l")  # the same cart C1
    world.run("jr-k", profile_id="loser", entry_key="C7")
    world.waits.register(replace(cart_wait("jr-k", "tk", "cart_id=C7"), profile_id="loser"))
    outcome = world.flow.on_bus_event(
        PROFILE_MERGED, {"id": "m1:merged", "data": {"profileId": "survivor", "mergedProfileId": "loser"}}
    )
    assert outcome.moved_runs == 2 and outcome.exited == 1
    ended = world.runs.get("jr-l")
    assert ended is not None and ended.status == EXITED and ended.exit_reason == "merged"
    assert {run.run_id for run in world.runs.active_for("survivor")} == {"jr-s", "jr-k"}
    assert [w.run_id for w in world.waits.waiting_for("survivor", "Order Completed")] == ["jr-k"]
    assert world.executions.stopped == [("arn:exec:jr-l", "JourneyExited", "merged")]


def test_an_event_on_the_survivor_resumes_a_wait_moved_by_the_merge(world: World) -> None:
    world.journeys.add_version(version("cart", CART, exit_rules=[]))
    world.run("jr-l", profile_id="loser")
    world.waits.register(replace(cart_wait("jr-l"), profile_id="loser"))
    world.executions.live_tokens.add("t1")
    world.flow.on_bus_event(PROFILE_MERGED, {"id": "m1", "data": {"profileId": "survivor", "mergedProfileId": "loser"}})
    assert world.received("Order Completed", {"cart_id": "C1"}, profile_id="survivor").resumed == 1


def test_a_cohort_firing_pages_the_segment_into_the_queue_and_continues_when_big(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.journeys.add_version(version("vip", COHORT))
    for n in range(7):
        world.segments.enter("vip", f"p{n}", at=AT, rule_version=1)
    monkeypatch.setattr("cdp.journeys.flow.COHORT_PAGE", 2)
    monkeypatch.setattr("cdp.journeys.flow.COHORT_PAGES_PER_INVOCATION", 2)
    first = world.flow.on_cohort("vip", 1, "2026-04-01T02:00:00Z", None)
    assert first.entries == 4 and first.continued
    (step,) = world.continued
    second = world.flow.on_cohort("vip", 1, step["scheduled_time"], step["after"])
    assert second.entries == 3 and not second.continued
    assert sorted(r.profile_id for r in world.queue.queued) == [f"p{n}" for n in range(7)]
    assert {r.cause_id for r in world.queue.queued} == {"cohort:vip:2026-04-01T02:00:00Z"}


def test_a_cohort_of_a_paused_journey_starts_nobody(world: World) -> None:
    world.journeys.add_version(version("vip", COHORT), status=PAUSED)
    world.segments.enter("vip", "p1", at=AT, rule_version=1)
    assert world.flow.on_cohort("vip", 1, None, None).skipped == "not_live"


def test_archive_ends_every_active_run(world: World) -> None:
    world.run("jr-1")
    world.run("jr-2", profile_id="p2")
    world.run("jr-3", profile_id="p3")
    world.runs.finish("jr-3", "completed", AT)
    assert world.flow.end_all("cart", ARCHIVED) == 2
    assert {e.detail["run_id"] for e in world.publisher.named(JOURNEY_EXITED)} == {"jr-1", "jr-2"}
    expected = MACHINE.format(journey="cart", version=1).replace(":stateMachine:", ":execution:") + ":jr-1"
    assert (expected, "JourneyExited", ARCHIVED) in world.executions.stopped


def test_an_erased_person_s_active_runs_end_and_no_one_else_s(world: World) -> None:
    world.run("jr-1")
    world.run("jr-2", profile_id="p2")
    assert world.flow.end_person("p1", ERASED) == 1
    assert world.flow.end_person("p1", ERASED) == 0  # a retry ends nothing twice
    (exited,) = world.publisher.named(JOURNEY_EXITED)
    assert exited.detail["run_id"] == "jr-1" and exited.detail["reason"] == ERASED
    expected = MACHINE.format(journey="cart", version=1).replace(":stateMachine:", ":execution:") + ":jr-1"
    assert (expected, "JourneyExited", ERASED) in world.executions.stopped


def test_property_filters() -> None:
    properties = {"price": 120, "tier": "gold", "flag": True, "item": {"sku": "S1"}}
    assert matches([PropertyFilter(property="price", op="gt", value=100)], properties)
    assert not matches([PropertyFilter(property="price", op="lt", value=100)], properties)
    assert matches([PropertyFilter(property="tier", op="in", value=["gold", "vip"])], properties)
    assert matches([PropertyFilter(property="item.sku", op="eq", value="S1")], properties)
    assert matches([{"property": "missing", "op": "neq", "value": 1}], properties)
    assert not matches([PropertyFilter(property="missing", op="exists")], properties)
    assert not matches([PropertyFilter(property="flag", op="eq", value=1)], properties)  # True is not 1
    assert not matches([PropertyFilter(property="tier", op="gt", value=5)], properties)  # text vs number


def test_events_no_live_journey_listens_to_are_dropped_before_any_read() -> None:
    reads: list[str] = []
    world = World(listened=lambda: frozenset({"Order Completed"}))  # the live listing's events
    world.runs.recent_for = lambda *args, **kwargs: reads.append("runs") or []  # type: ignore[method-assign]
    assert world.received("Page Viewed", {}).skipped == "not_listened"
    assert reads == [] and world.marks.marked == set()
    world.received("Order Completed", {"cart_id": "C1"}, event_id="e2")
    assert reads == ["runs"]


def test_after_a_merge_the_survivor_cannot_run_the_merged_away_persons_keyed_entry_again(world: World) -> None:
    starter = Starter(world.journeys, world.admissions, world.runs, world.executions, Pacer(1e9))
    cart = EntryRequest("cart", 1, "loser", "C1", "add-1", AT, {"event": "Product Added"})
    assert starter.start(cart) == STARTED
    world.flow.on_bus_event(PROFILE_MERGED, {"id": "m1", "data": {"profileId": "survivor", "mergedProfileId": "loser"}})
    again = EntryRequest("cart", 1, "survivor", "C1", "add-2", LATER, {"event": "Product Added"})
    assert starter.start(again) == KEY_SEEN
    other = EntryRequest("cart", 1, "survivor", "C2", "add-3", LATER, {"event": "Product Added"})
    assert starter.start(other) == STARTED
    assert len(world.executions.started) == 2


def test_an_unmerge_gives_the_restored_person_back_their_runs_waits_and_admissions(world: World) -> None:
    starter = Starter(world.journeys, world.admissions, world.runs, world.executions, Pacer(1e9))
    theirs = EntryRequest("cart", 1, "loser", "C1", "add-1", AT, {"event": "Product Added"})
    own = EntryRequest("cart", 1, "survivor", "C2", "add-2", AT, {"event": "Product Added"})
    assert starter.start(theirs) == STARTED and starter.start(own) == STARTED
    (their_run,) = world.runs.active_for("loser")
    world.waits.register(replace(cart_wait(their_run.run_id, "tk"), profile_id="loser"))
    merged = {"id": "m1:merged", "data": {"profileId": "survivor", "mergedProfileId": "loser"}}
    assert world.flow.on_bus_event(PROFILE_MERGED, merged).moved_runs == 1
    assert starter.start(replace(theirs, profile_id="survivor", cause_id="add-3")) == KEY_SEEN

    unmerged = {"id": "m1:unmerged", "data": {"profileId": "survivor", "restoredProfileId": "loser"}}
    assert world.flow.on_bus_event(PROFILE_UNMERGED, unmerged).moved_runs == 1
    assert [run.run_id for run in world.runs.active_for("loser")] == [their_run.run_id]
    assert [run.entry_key for run in world.runs.active_for("survivor")] == ["C2"]
    assert [w.run_id for w in world.waits.waiting_for("loser", "Order Completed")] == [their_run.run_id]
    assert world.waits.waiting_for("survivor", "Order Completed") == []
    # Cart C1 was the restored person's: the survivor may now start one of their own.
    assert starter.start(replace(theirs, profile_id="survivor", cause_id="add-4")) == STARTED
    assert world.flow.on_bus_event(PROFILE_UNMERGED, unmerged).skipped == "duplicate"
    assert world.flow.on_unmerged("survivor", "loser").moved_runs == 0  # a second unmerge finds nothing


def test_ending_many_runs_goes_on_in_a_fresh_invocation_when_time_runs_out(world: World) -> None:
    for n in range(5):
        world.run(f"jr-{n}", profile_id=f"p{n}")
    budget = iter([True, True, False])
    assert world.flow.end_runs("cart", ARCHIVED, lambda: next(budget)) == (2, False)
    assert world.continued == [{"end_runs": "cart", "reason": ARCHIVED}]
    assert world.flow.end_runs("cart", ARCHIVED) == (3, True)  # the continuation: the rest, once
    assert all(run.status == EXITED for run in world.runs.runs.values())
