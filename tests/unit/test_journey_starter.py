"""The journey starter: admission, the run, one execution per run id, pacing, crash safety."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.journeys.admission import KEY_SEEN, TOO_MANY_RUNS
from cdp.journeys.model import PAUSED
from cdp.journeys.ports import EntryRequest
from cdp.journeys.runs import run_id_for
from cdp.journeys.starter import (
    ALREADY_STARTED,
    NOT_LIVE,
    STARTED,
    Pacer,
    Started,
    Starter,
    entry_from_json,
    entry_to_json,
    pacer_for,
)
from pydantic import ValidationError

from tests.fakes import FixedClock
from tests.fakes_journey_flow import FakeExecutions, InMemoryAdmissions
from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore
from tests.unit.journey_flow_helpers import CART, version

AT = "2026-03-01T10:00:00.000Z"


class World:
    def __init__(self) -> None:
        self.journeys = InMemoryJourneyStore()
        self.journeys.add_version(version("cart", CART))
        self.runs = InMemoryRunStore()
        self.clock = FixedClock()
        self.admissions = InMemoryAdmissions(self.runs, self.clock)
        self.executions = FakeExecutions()
        self.starter = Starter(self.journeys, self.admissions, self.runs, self.executions, Pacer(1e9))


@pytest.fixture
def world() -> World:
    return World()


def added(cause: str = "evt-1", cart: str | None = "C1", profile: str = "p1") -> EntryRequest:
    return EntryRequest(
        journey_id="cart",
        version=1,
        profile_id=profile,
        entry_key=cart,
        cause_id=cause,
        entered_at=AT,
        entry={"event": "Product Added", "properties": {"cart_id": cart}},
    )


def test_an_entry_starts_one_run_on_its_versions_machine(world: World) -> None:
    assert world.starter.start(added()) == STARTED
    run_id = run_id_for("cart", 1, "p1", "C1", 1)
    machine, payload = world.executions.started[run_id]
    assert machine.endswith(":stateMachine:cdp-journey-cart-v1")
    assert payload["run"]["run_id"] == run_id and payload["run"]["entry"]["properties"] == {"cart_id": "C1"}
    run = world.runs.get(run_id)
    assert (
        run is not None
        and run.entry_key == "C1"
        and run.execution_arn == f"{machine}:{run_id}".replace(":stateMachine:", ":execution:")
    )


def test_the_same_entry_delivered_again_is_already_started(world: World) -> None:
    assert world.starter.start(added()) == STARTED
    assert world.starter.start(added()) == ALREADY_STARTED
    assert len(world.executions.started) == 1


def test_another_entry_for_the_same_key_is_refused_and_other_keys_start(world: World) -> None:
    world.starter.start(added("evt-1"))
    assert world.starter.start(added("evt-2")) == KEY_SEEN
    assert world.starter.start(added("evt-3", cart="C2")) == STARTED
    assert world.starter.start(added("evt-4", cart="C3")) == STARTED
    assert world.starter.start(added("evt-5", cart="C4")) == TOO_MANY_RUNS  # max_concurrent_runs 3
    assert len(world.executions.started) == 3


def test_a_crash_between_admission_and_start_neither_loses_nor_doubles_the_entry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_start = world.executions.start

    def dies_first(machine: str, name: str, payload: dict[str, Any]) -> Started:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the starter died before StartExecution")
        return real_start(machine, name, payload)

    monkeypatch.setattr(world.executions, "start", dies_first)
    with pytest.raises(RuntimeError):
        world.starter.start(added())
    assert world.executions.started == {}  # admitted and written, not started: the message stays queued
    assert world.starter.start(added()) == STARTED  # the redelivery
    assert world.starter.start(added()) == ALREADY_STARTED
    assert list(world.executions.started) == [run_id_for("cart", 1, "p1", "C1", 1)]
    assert len(world.runs.runs) == 1


def test_a_crash_after_the_start_is_recognised_on_redelivery(world: World) -> None:
    world.executions.crash_after_start = 1
    with pytest.raises(RuntimeError):
        world.starter.start(added())
    assert world.starter.start(added()) == ALREADY_STARTED
    (run,) = world.runs.runs.values()
    assert run.execution_arn is not None and len(world.executions.started) == 1


def test_paused_or_unknown_journeys_start_nothing(world: World) -> None:
    world.journeys.add_version(version("cart", CART), status=PAUSED)
    assert world.starter.start(added()) == NOT_LIVE
    unknown = EntryRequest("nope", 1, "p1", None, "c", AT)
    assert world.starter.start(unknown) == NOT_LIVE
    assert world.executions.started == {}


def test_entries_round_trip_through_the_queue_and_bad_bodies_are_refused() -> None:
    request = added()
    assert entry_from_json(entry_to_json(request)) == request
    for body in ("{}", "not json", '{"journey_id": "j", "version": 0}'):
        with pytest.raises(ValidationError):
            entry_from_json(body)


def test_the_pacer_spreads_starts_at_the_rate() -> None:
    now = {"t": 100.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now["t"] += seconds

    pacer = pacer_for(100, 2, monotonic=lambda: now["t"], sleep=sleep)  # 50 per second per starter
    for _ in range(51):
        pacer.wait()
    assert now["t"] - 100.0 == pytest.approx(1.0)  # 51 starts: the first at once, then one each 20 ms
    assert all(s == pytest.approx(0.02) for s in slept)


def test_a_pause_applies_to_queued_entries_once_the_cached_journey_expires() -> None:
    world = World()
    now = {"t": 0.0}
    starter = Starter(
        world.journeys,
        world.admissions,
        world.runs,
        world.executions,
        Pacer(1e9),
        cache_seconds=5,
        monotonic=lambda: now["t"],
    )
    assert starter.start(added("e1", cart="C1")) == STARTED
    world.journeys.add_version(version("cart", CART), status=PAUSED)
    now["t"] = 4.0
    assert starter.start(added("e2", cart="C2")) == STARTED  # read 4 s ago: still live here
    now["t"] = 6.0
    assert starter.start(added("e3", cart="C3")) == NOT_LIVE
