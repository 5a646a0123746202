"""Retiring superseded versions' state machines (cdp.journeys.retirement): a version superseded
for a day that nothing runs on loses its machine, once; the live version, a version still
running and a recent one keep theirs; an archived journey's versions all go; the starter then
refuses entries queued for a retired version."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from cdp.journeys.model import ARCHIVED
from cdp.journeys.ports import EntryRequest
from cdp.journeys.retirement import RETIRED_VERSIONS, retire_superseded
from cdp.journeys.starter import NOT_LIVE, Pacer, Starter

from tests.fakes import FixedClock
from tests.fakes_journey_flow import FakeExecutions, InMemoryAdmissions
from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore
from tests.unit.journey_flow_helpers import CART, MACHINE, version

DAY_ONE = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Machines:
    running_on: set[str] = field(default_factory=set)
    retired: list[str] = field(default_factory=list)

    def running(self, state_machine_arn: str) -> bool:
        return state_machine_arn in self.running_on

    def retire(self, state_machine_arn: str) -> None:
        self.retired.append(state_machine_arn)


def published(store: InMemoryJourneyStore, journey_id: str, *dates: str) -> None:
    for number, at in enumerate(dates, start=1):
        store.add_version(replace(version(journey_id, CART, number), published_at=at))


def test_a_version_superseded_for_a_day_with_nothing_running_is_retired_once() -> None:
    store, machines = InMemoryJourneyStore(), Machines()
    published(store, "cart", "2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z", "2026-03-05T00:00:00.000Z")
    machines.running_on.add(MACHINE.format(journey="cart", version=2))

    now = DAY_ONE + timedelta(days=5, hours=12)  # v3 published half a day ago
    assert retire_superseded(store, machines, now) == [("cart", 1)]
    assert machines.retired == [MACHINE.format(journey="cart", version=1)]
    journey = store.get("cart")
    assert journey is not None and journey.extra[RETIRED_VERSIONS] == [1]
    assert retire_superseded(store, machines, now) == []  # v2 still runs, v3 is live

    machines.running_on.clear()
    assert retire_superseded(store, machines, now + timedelta(days=1)) == [("cart", 2)]
    journey = store.get("cart")
    assert journey is not None and journey.extra[RETIRED_VERSIONS] == [1, 2]
    assert store.version("cart", 1) is not None  # the definition stays for reports
    assert len(machines.retired) == 2


def test_every_version_of_an_archived_journey_goes_a_day_after_the_archive() -> None:
    store, machines = InMemoryJourneyStore(), Machines()
    published(store, "cart", "2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z")
    journey = store.get("cart")
    assert journey is not None
    archived = replace(journey, status=ARCHIVED, extra={"archived_at": "2026-03-03T00:00:00.000Z"})
    store.journeys["cart"] = archived
    assert retire_superseded(store, machines, DAY_ONE + timedelta(days=2, hours=23)) == [("cart", 1)]
    assert retire_superseded(store, machines, DAY_ONE + timedelta(days=3, hours=1)) == [("cart", 2)]


def test_an_entry_queued_for_a_retired_version_starts_nothing() -> None:
    store, machines = InMemoryJourneyStore(), Machines()
    published(store, "cart", "2026-03-01T00:00:00.000Z", "2026-03-02T00:00:00.000Z")
    retire_superseded(store, machines, DAY_ONE + timedelta(days=3))
    executions, runs = FakeExecutions(), InMemoryRunStore()
    admissions = InMemoryAdmissions(runs, FixedClock(1_772_582_400_000))
    starter = Starter(store, admissions, runs, executions, Pacer(1e9))
    late = EntryRequest("cart", 1, "p1", "C1", "add-1", "2026-03-04T00:00:00.000Z", {"event": "Product Added"})
    assert starter.start(late) == NOT_LIVE
    assert executions.started == {}
