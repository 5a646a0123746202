"""Journey node semantics (cdp.journeys.steps) and the step function's ops (cdp.journeys.stepper)
over in-memory fakes: delay times, condition and split choices, the send request, action and
timeline events, retries that repeat nothing, and a run that ended answering stop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from cdp.domain_events import JOURNEY_ENTERED, JOURNEY_EXITED, JOURNEY_NODE_COMPLETED
from cdp.identity.identifiers import Identifier
from cdp.journeys.definition import DelayFor, DelayUntilTime, DelayUntilTimestamp, RandomSplit, parse_definition
from cdp.journeys.model import PublishedVersion
from cdp.journeys.runs import ACTIVE, EXITED, ExecutionInput, Run, run_id_for
from cdp.journeys.stepper import JourneyStepper, RetryLater, RunEnded
from cdp.journeys.steps import bucket, choose_split, delay_until, fill, iso_z, next_local_time, person_zone
from cdp.messaging.request import SendRequest
from cdp.profiles.model import Profile, Stamped

from tests.fakes import FakeProfileStore, FakePublisher, FakeRawEventStore, FakeSegmentStore, FixedClock
from tests.fakes_journey_flow import InMemoryWaitStore
from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore
from tests.unit.journey_samples import CART, WELCOME

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Taipei
NOW_MS = int(NOW.timestamp() * 1000)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# delays ----------------------------------------------------------------------------------------------
def test_a_duration_delay_ends_that_long_after_now() -> None:
    node = DelayFor(type="delay", duration="PT30M", next="x")
    assert delay_until(node, now=NOW, journey_zone="Asia/Taipei", traits={}, computed={}, entry={}) == at(
        "2026-12-07T02:30:00+00:00"
    )


@pytest.mark.parametrize(
    ("now", "weekdays", "at_least", "zone", "expected"),
    [
        # 10:00 Taipei has just come: at that very moment is "now"; a minute later it is tomorrow.
        ("2026-12-07T02:00:00+00:00", [], None, None, "2026-12-07T02:00:00+00:00"),
        ("2026-12-07T02:01:00+00:00", [], None, None, "2026-12-08T02:00:00+00:00"),
        # only Fridays: from Monday, the Friday of that week
        ("2026-12-07T01:00:00+00:00", ["fri"], None, None, "2026-12-11T02:00:00+00:00"),
        # at least a day first
        ("2026-12-07T01:00:00+00:00", [], "P1D", None, "2026-12-08T02:00:00+00:00"),
        # the person's own time zone (trait): 10:00 in Tokyo is 01:00 UTC
        ("2026-12-07T00:30:00+00:00", [], None, "Asia/Tokyo", "2026-12-07T01:00:00+00:00"),
        # an unknown zone in the trait falls back to the journey's
        ("2026-12-07T00:30:00+00:00", [], None, "Mars/Olympus", "2026-12-07T02:00:00+00:00"),
    ],
)
def test_until_a_local_time_on_allowed_weekdays(
    now: str, weekdays: list[str], at_least: str | None, zone: str | None, expected: str
) -> None:
    node = DelayUntilTime.model_validate(
        {"type": "delay_until_time", "time": "10:00", "weekdays": weekdays, "at_least": at_least, "next": "x"}
    )
    traits = {"time_zone": zone} if zone else {}
    found = delay_until(node, now=at(now), journey_zone="Asia/Taipei", traits=traits, computed={}, entry={})
    assert found == at(expected)


def test_local_time_across_a_daylight_saving_change() -> None:
    # New York springs forward on 2027-03-14 (02:00 -> 03:00): 02:30 does not exist that day.
    found = next_local_time(at("2027-03-14T05:00:00+00:00"), "02:30", [], person_zone({}, "America/New_York"))
    assert found == at("2027-03-14T07:30:00+00:00")  # 03:30 EDT, the shifted moment, not a crash


@pytest.mark.parametrize(
    ("field", "offset", "source", "expected"),
    [
        (
            "traits.birthday_at",
            "-P1D",
            {"traits": {"birthday_at": "2026-12-20T00:00:00Z"}},
            "2026-12-19T00:00:00+00:00",
        ),
        (
            "entry.properties.delivery_at",
            "PT2H",
            {"entry": {"properties": {"delivery_at": "2026-12-08T00:00:00Z"}}},
            "2026-12-08T02:00:00+00:00",
        ),
        (
            "traits.birthday_at",
            "PT0S",
            {"traits": {"birthday_at": "2026-01-01T00:00:00Z"}},
            "2026-12-07T02:00:00+00:00",
        ),
        ("traits.missing", "PT0S", {}, "2026-12-07T02:00:00+00:00"),
        ("traits.birthday_at", "PT0S", {"traits": {"birthday_at": "not a date"}}, "2026-12-07T02:00:00+00:00"),
    ],
    ids=["trait-minus-a-day", "entry-property-plus", "passed", "missing", "unparsable"],
)
def test_until_a_timestamp_plus_or_minus_an_offset(
    field: str, offset: str, source: dict[str, Any], expected: str
) -> None:
    node = DelayUntilTimestamp(type="delay_until_timestamp", field=field, offset=offset, next="x")
    found = delay_until(
        node,
        now=NOW,
        journey_zone="Asia/Taipei",
        traits=source.get("traits", {}),
        computed={},
        entry=source.get("entry", {}),
    )
    assert found == at(expected)


def test_wait_timestamps_are_whole_seconds_rounded_up() -> None:
    assert iso_z(at("2026-12-07T02:00:00.200+00:00")) == "2026-12-07T02:00:01Z"
    assert iso_z(at("2026-12-07T10:00:00+08:00")) == "2026-12-07T02:00:00Z"


# splits --------------------------------------------------------------------------------------------
def test_the_split_is_sticky_and_follows_the_percentages() -> None:
    node = RandomSplit.model_validate(WELCOME["nodes"]["ab"])
    assert bucket("p1", "welcome", "ab") == bucket("p1", "welcome", "ab")
    chosen = [choose_split(node, profile_id=f"p{i}", journey_id="welcome", node_id="ab").name for i in range(4000)]
    shares = {name: chosen.count(name) / len(chosen) for name in ("a", "b", "control")}
    assert abs(shares["a"] - 0.45) < 0.03 and abs(shares["b"] - 0.45) < 0.03 and abs(shares["control"] - 0.10) < 0.02
    # another split node of the same journey draws independently
    other = [bucket(f"p{i}", "welcome", "ab2") < 10 for i in range(4000)]
    same = [bucket(f"p{i}", "welcome", "ab") < 10 for i in range(4000)]
    assert other != same


def test_placeholders_in_a_tag() -> None:
    entry = {"properties": {"category": "shoes"}}
    assert fill("interested:{{entry.properties.category}}", entry=entry, traits={}) == "interested:shoes"
    assert fill("tier:{{ traits.tier }}", entry={}, traits={"tier": "gold"}) == "tier:gold"
    assert fill("x:{{traits.none}}", entry={}, traits={}) == "x:"


# the step function's ops -------------------------------------------------------------------------------
@dataclass
class Result:
    state: str
    reason: str | None = None


class Sends:
    def __init__(self, *answers: Result) -> None:
        self.answers = list(answers)
        self.requests: list[SendRequest] = []

    def __call__(self, request: SendRequest) -> Result:
        self.requests.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@dataclass
class World:
    stepper: JourneyStepper
    runs: InMemoryRunStore
    waits: InMemoryWaitStore
    events: FakeRawEventStore
    bus: FakePublisher
    sends: Sends
    profiles: FakeProfileStore
    segments: FakeSegmentStore
    clock: FixedClock
    run: Run

    def call(self, op: str, node: str | None, entered: str = "2026-12-07T02:00:00.000Z", **extra: Any) -> Any:
        run = ExecutionInput(
            self.run.run_id,
            self.run.journey_id,
            self.run.version,
            self.run.profile_id,
            self.run.entry_key,
            self.run.entered_at,
            self.run.entry,
        )
        payload = {"op": op, "node": node, "entered": entered, **run.as_dict(), **extra}
        return self.stepper.handle(payload)

    @property
    def current(self) -> Run:
        found = self.runs.get(self.run.run_id)
        assert found is not None
        return found


def world(
    document: dict[str, Any], *answers: Result, journey_id: str = "cart", traits: dict[str, Any] | None = None
) -> World:
    journeys = InMemoryJourneyStore()
    definition = parse_definition(document)
    journeys.add_version(
        PublishedVersion(
            journey_id, 1, definition.document(), {"cart-reminder": 4, "welcome": 2}, "2026-12-01T00:00:00Z"
        )
    )
    profiles = FakeProfileStore()
    profile = Profile(profile_id="p1", created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z")
    for name, value in (traits or {}).items():
        profile.traits[name] = Stamped(value, "2026-01-01T00:00:00.000Z", "partner:web", "e0")
    profiles.seed(profile, [Identifier("member_id", "M-1")])
    runs = InMemoryRunStore()
    run = Run(
        run_id=run_id_for(journey_id, 1, "p1", "C1", 1),
        journey_id=journey_id,
        version=1,
        profile_id="p1",
        entry_key="C1",
        entered_at="2026-12-07T02:00:00.000Z",
        entry={"event": "Product Added", "properties": {"cart_id": "C1", "products": [{"sku": "S1", "name": "Tea"}]}},
    )
    runs.put_new(run)
    waits = InMemoryWaitStore()
    events = FakeRawEventStore()
    bus = FakePublisher()
    sends = Sends(*(answers or (Result("sent"),)))
    segments = FakeSegmentStore()
    clock = FixedClock(NOW_MS)
    stepper = JourneyStepper(
        runs=runs,
        waits=waits,
        versions=journeys.version,
        profiles=profiles,
        members=segments,
        events=events,
        send=sends,
        clock=clock,
        publisher=bus,
    )
    return World(stepper, runs, waits, events, bus, sends, profiles, segments, clock, run)


def timeline_names(w: World) -> list[str]:
    """The journey's own entries, written to the timeline directly (not through the raw events)."""
    assert not any(str(e.payload.get("event", "")).startswith("Journey ") for e in w.events.events.values())
    return sorted(entry.document.get("event", "") for entry in w.profiles.timeline(w.run.profile_id))


def test_enter_tells_the_timeline_and_the_bus_once_even_when_retried() -> None:
    w = world(CART)
    assert w.call("enter", None) == {"stop": False}
    w.call("enter", None)
    assert timeline_names(w) == ["Journey Entered"]
    names = [e.name for e in w.bus.published]
    assert names == [JOURNEY_ENTERED, JOURNEY_ENTERED] and len({e.id for e in w.bus.published}) == 1


def test_a_wait_registers_the_token_correlated_with_the_entry_key() -> None:
    w = world(CART)
    w.call("wait", "wait_order", token="T-1")
    (wait,) = w.waits.waiting_for("p1", "Order Completed")
    assert (wait.task_token, wait.correlation, wait.node) == ("T-1", "cart_id=C1", "wait_order")
    assert wait.expires_at == "2026-12-07T02:30:00Z"
    assert w.current.waiting == {"kind": "event", "event": "Order Completed", "until": "2026-12-07T02:30:00Z"}
    # a retried task replaces its token, the run keeps one step
    w.call("wait", "wait_order", token="T-2")
    assert [x.task_token for x in w.waits.waiting_for("p1", "Order Completed")] == ["T-2"]
    assert [step.node for step in w.current.path] == ["wait_order"]
    assert w.call("timed_out", "wait_order", entered="2026-12-07T02:30:00.000Z") == {
        "branch": "timed_out",
        "next": "remind",
        "stop": False,
    }
    assert w.waits.waiting_for("p1", "Order Completed") == []


def test_send_uses_the_pinned_template_the_send_limit_and_the_entry_properties() -> None:
    w = world(CART)
    assert w.call("send", "remind") == {"sent": "sent", "stop": False}
    (request,) = w.sends.requests
    assert request.kind == "journey" and request.send_key == f"journey:{w.run.run_id}:remind"
    assert (request.template_id, request.template_version, request.journey_cap) == ("cart-reminder", 4, 3)
    assert request.data["products"] == [{"sku": "S1", "name": "Tea"}]
    assert (request.journey_id, request.node_id) == ("cart", "remind")
    assert w.current.sent == {"remind": "sent"}


@pytest.mark.parametrize(
    ("answer", "recorded"),
    [(Result("suppressed", "no_consent"), "suppressed:no_consent"), (Result("failed", "render_error"), "failed")],
)
def test_send_outcomes_are_recorded(answer: Result, recorded: str) -> None:
    w = world(CART, answer)
    w.call("send", "remind")
    assert w.current.sent == {"remind": recorded}


@pytest.mark.parametrize("state", ["retry", "in_progress"])
def test_an_unknown_provider_answer_asks_step_functions_to_retry_with_the_same_key(state: str) -> None:
    w = world(CART, Result(state), Result("sent"))
    with pytest.raises(RetryLater):
        w.call("send", "remind")
    assert w.current.sent == {}
    w.call("send", "remind")  # the retry: same state entry, same key
    assert [r.send_key for r in w.sends.requests] == [f"journey:{w.run.run_id}:remind"] * 2
    assert w.current.sent == {"remind": "sent"} and len(w.current.path) == 1


def test_delay_answers_the_time_and_a_retry_keeps_it() -> None:
    w = world(WELCOME, journey_id="welcome")
    first = w.call("delay", "pause")
    assert first == {"until": "2026-12-07T02:30:00Z", "stop": False}
    w.clock.advance(60_000)
    assert w.call("delay", "pause") == first  # a retry of the same state entry
    assert w.current.waiting == {"kind": "delay", "until": "2026-12-07T02:30:00Z"}


def test_condition_takes_the_first_branch_that_holds() -> None:
    w = world(WELCOME, journey_id="welcome")
    assert w.call("condition", "clicked") == {"branch": "else", "next": "birthday", "stop": False}
    w.runs.record_click(w.run.run_id, "welcome", "2026-12-07T03:00:00.000Z")
    assert w.call("condition", "clicked", entered="2026-12-07T04:00:00.000Z")["branch"] == "clicked"
    assert w.current.branches == {"clicked": "clicked"}


def test_condition_in_segment_and_rule_language() -> None:
    document = {
        **WELCOME,
        "nodes": {
            **WELCOME["nodes"],
            "clicked": {
                "type": "condition",
                "branches": [
                    {
                        "name": "gold",
                        "when": {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}},
                        "next": "tag",
                    },
                    {"name": "vip", "when": {"in_segment": "vip"}, "next": "tag"},
                ],
                "else": "birthday",
            },
        },
    }
    gold = world(document, journey_id="welcome", traits={"tier": "gold"})
    assert gold.call("condition", "clicked")["branch"] == "gold"
    vip = world(document, journey_id="welcome")
    vip.segments.member_of = lambda profile_id, ids: {"vip"} & set(ids)  # type: ignore[method-assign]
    assert vip.call("condition", "clicked")["branch"] == "vip"


def test_the_holdout_ends_the_run_and_stops() -> None:
    w = world(WELCOME, journey_id="welcome")
    # find a person whose bucket is the control group
    node = RandomSplit.model_validate(WELCOME["nodes"]["ab"])
    assert choose_split(node, profile_id="p1", journey_id="welcome", node_id="ab").name in ("a", "b", "control")
    expected = choose_split(node, profile_id=w.run.profile_id, journey_id="welcome", node_id="ab")
    if expected.holdout:
        with pytest.raises(RunEnded):
            w.call("split", "ab")
        assert (w.current.status, w.current.exit_reason) == (EXITED, "holdout")
        assert JOURNEY_EXITED in [e.name for e in w.bus.published]
    else:
        assert w.call("split", "ab") == {"branch": expected.name, "next": "welcome", "stop": False}
        assert w.current.status == ACTIVE
    assert w.current.branches == {"ab": expected.name}


def test_holdout_for_everyone() -> None:
    document = {
        **WELCOME,
        "nodes": {
            **WELCOME["nodes"],
            "ab": {
                "type": "random_split",
                "branches": [
                    {"name": "a", "percent": 0.001, "next": "welcome"},
                    {"name": "control", "percent": 99.999, "holdout": True},
                ],
            },
        },
    }
    w = world(document, journey_id="welcome")
    with pytest.raises(RunEnded):  # the state machine catches it into `Stopped`
        w.call("split", "ab")
    assert (w.current.status, w.current.exit_reason) == (EXITED, "holdout")
    assert "Journey Exited" in timeline_names(w)


def test_action_tags_through_tag_events_once() -> None:
    document = {
        **WELCOME,
        "nodes": {
            **WELCOME["nodes"],
            "tag": {
                "type": "action",
                "action": "add_tag",
                "tag": "interested:{{entry.properties.cart_id}}",
                "next": "done",
            },
        },
    }
    w = world(document, journey_id="welcome")
    w.call("action", "tag")
    w.call("action", "tag")
    tags = [e.payload for e in w.events.events.values() if e.payload.get("event") == "Tag Added"]
    assert [t["properties"]["tag"] for t in tags] == ["interested:C1"]


def test_set_trait_is_an_identify_on_the_timeline() -> None:
    document = {
        **WELCOME,
        "nodes": {
            **WELCOME["nodes"],
            "tag": {"type": "action", "action": "set_trait", "trait": "welcomed", "value": True, "next": "done"},
        },
    }
    w = world(document, journey_id="welcome")
    w.call("action", "tag")
    (identify,) = [e.payload for e in w.events.events.values() if e.payload.get("type") == "identify"]
    assert identify["traits"] == {"welcomed": True}


def test_exit_completes_once_and_a_finished_run_answers_stop() -> None:
    w = world(CART)
    assert w.call("exit", "done", reason="completed") == {"stop": True}
    assert (w.current.status, w.current.exit_reason) == (EXITED, "completed")
    with pytest.raises(RunEnded):
        w.call("send", "remind")
    assert w.sends.requests == []
    assert [e.name for e in w.bus.published].count(JOURNEY_EXITED) == 1
    assert JOURNEY_NODE_COMPLETED in [e.name for e in w.bus.published]
    assert timeline_names(w) == ["Journey Exited", "Journey Node Reached"]


def test_a_failed_step_is_recorded_as_failed() -> None:
    w = world(CART)
    w.call("exit", None, reason="failed")
    assert (w.current.status, w.current.exit_reason) == (EXITED, "failed")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"op": "dance", "node": "x", "entered": "2026-12-07T02:00:00Z", "run": {"run_id": "r", "journey_id": "j"}},
        {"op": "send", "entered": "2026-12-07T02:00:00Z", "run": {"run_id": "r", "journey_id": "j"}},
        {"op": "wait", "node": "x", "entered": "2026-12-07T02:00:00Z", "run": {"run_id": "r", "journey_id": "j"}},
        {
            "op": "exit",
            "node": "x",
            "entered": "2026-12-07T02:00:00Z",
            "run": {"run_id": "r", "journey_id": "j"},
            "reason": "bored",
        },
    ],
)
def test_bad_payloads_are_refused(payload: dict[str, Any]) -> None:
    from cdp.errors import BadRequest

    w = world(CART)
    with pytest.raises(BadRequest):
        w.stepper.handle(payload)


def test_an_op_that_does_not_fit_the_node_is_refused() -> None:
    from cdp.errors import BadRequest

    w = world(CART)
    with pytest.raises(BadRequest):
        w.call("delay", "remind")
