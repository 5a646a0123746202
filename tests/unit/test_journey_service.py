"""The journey lifecycle on in-memory fakes: drafts (compare-and-set), publish (validation,
pinned templates, the state machine, the live listing, cohort schedules), pause, resume, archive."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.journeys.model import ARCHIVED, DRAFT, PAUSED, PUBLISHED
from cdp.journeys.runs import ACTIVE, EXITED, Run
from cdp.journeys.service import JourneyService, valid_journey_id

from tests.fakes import FixedClock
from tests.fakes_journeys import (
    InMemoryEntrySchedules,
    InMemoryJourneyMachines,
    InMemoryJourneyStore,
    InMemoryRunEnder,
    InMemoryRunStore,
)
from tests.unit.test_journey_validation import cart, welcome


class Templates:
    def __init__(self) -> None:
        self.templates: dict[str, Any] = {
            "cart-reminder": SimpleNamespace(status="active", latest_version=4),
            "welcome": SimpleNamespace(status="active", latest_version=2),
            "promo": SimpleNamespace(status="active", latest_version=1),
        }

    def get(self, template_id: str) -> Any:
        return self.templates.get(template_id)


class World:
    def __init__(self, machines: Callable[[World], InMemoryJourneyMachines] | None = None) -> None:
        self.store = InMemoryJourneyStore()
        self.templates = Templates()
        self.clock = FixedClock()
        self.machines = machines(self) if machines else InMemoryJourneyMachines()
        self.schedules = InMemoryEntrySchedules()
        self.runs = InMemoryRunStore()
        self.ender = InMemoryRunEnder(self.runs)
        self.service = JourneyService(
            self.store,
            self.templates,
            self.clock,
            machines=self.machines,
            schedules=self.schedules,
            runs=self.ender,
        )


def scheduled() -> dict[str, Any]:
    document = welcome()
    document["entry"] = {"type": "schedule", "segment_id": "members", "expression": "cron(0 10 * * ? *)"}
    return document


def test_a_draft_is_validated_stored_and_edited_with_the_revision_read() -> None:
    world = World()
    journey = world.service.create(cart(), "cart")
    assert (journey.status, journey.revision, journey.versions) == (DRAFT, 1, ())
    assert journey.draft["reentry"] == {"mode": "per_key", "cooldown": None}  # normalized: defaults written
    edited_document = cart()
    edited_document["name"] = "Cart reminder v2"
    edited = world.service.update("cart", edited_document, 1)
    assert (edited.revision, edited.draft["name"]) == (2, "Cart reminder v2")
    with pytest.raises(Conflict) as stale:
        world.service.update("cart", cart(), 1)
    assert (stale.value.code, stale.value.details) == ("journey_changed", {"revision": 2})
    assert world.store.journeys["cart"].draft["name"] == "Cart reminder v2"


def test_an_invalid_draft_is_refused_with_its_pointer_and_nothing_is_stored() -> None:
    world = World()
    document = cart()
    document["nodes"]["remind"]["template_id"] = "missing"
    with pytest.raises(BadRequest) as refused:
        world.service.create(document, "cart")
    assert (refused.value.code, refused.value.details["path"]) == ("invalid_journey", "/nodes/remind/template_id")
    assert world.store.journeys == {}
    world.service.create(cart(), "cart")
    with pytest.raises(BadRequest):
        world.service.update("cart", document, 1)
    assert world.store.journeys["cart"].revision == 1


def test_ids_are_taken_once_and_the_schema_path_is_reserved() -> None:
    world = World()
    world.service.create(cart(), "cart")
    with pytest.raises(Conflict) as taken:
        world.service.create(cart(), "cart")
    assert taken.value.code == "journey_exists"
    assert world.service.create(cart()).journey_id.startswith("jny-")
    assert not valid_journey_id("schema") and not valid_journey_id("Cart") and valid_journey_id("cart-1")
    with pytest.raises(NotFound) as missing:
        world.service.get("schema")
    assert missing.value.code == "journey_not_found"


def test_publish_pins_templates_deploys_and_lists_the_version_as_live() -> None:
    world = World()
    world.service.create(welcome(), "welcome")
    journey, version = world.service.publish("welcome")
    assert (journey.status, journey.live_version, journey.versions, journey.revision) == (PUBLISHED, 1, (1,), 3)
    assert version.templates == {"welcome": 2, "promo": 1}
    assert version.state_machine_arn in world.machines.deployed
    assert version.document == journey.draft
    assert world.store.version("welcome", 1) == version
    assert [live.version for live in world.store.live()] == [1]
    listing = world.store.live_index()
    assert listing["journeys"]["welcome"] == {
        "version": 1,
        "entry": {"type": "segment", "segment_id": "new-followers"},
        "events": ["Link Clicked"],
        "segments": ["new-followers"],
    }
    assert (listing["events"], listing["segments"]) == (["Link Clicked"], ["new-followers"])
    assert world.schedules.schedules == {}


def test_a_template_changed_later_keeps_the_pinned_version() -> None:
    world = World()
    world.service.create(welcome(), "welcome")
    _journey, first = world.service.publish("welcome")
    world.templates.templates["promo"] = SimpleNamespace(status="active", latest_version=7)
    assert world.store.version("welcome", 1) == first and first.templates["promo"] == 1
    draft = welcome()
    draft["name"] = "Welcome 2"
    world.service.update("welcome", draft, 3)
    _journey, second = world.service.publish("welcome")
    assert (second.version, second.templates["promo"]) == (2, 7)
    assert world.store.live_index()["journeys"]["welcome"]["version"] == 2
    assert world.store.version("welcome", 1) == first  # runs on version 1 stay there


def test_publish_refuses_a_draft_whose_template_is_gone_since() -> None:
    world = World()
    world.service.create(welcome(), "welcome")
    world.templates.templates["promo"] = SimpleNamespace(status="archived", latest_version=1)
    with pytest.raises(BadRequest) as refused:
        world.service.publish("welcome")
    assert refused.value.details["path"] == "/nodes/promo/template_id"
    assert world.machines.deployed == {} and world.store.journeys["welcome"].status == DRAFT


def test_a_retried_publish_makes_no_second_version() -> None:
    world = World()
    world.service.create(cart(), "cart")
    _journey, first = world.service.publish("cart")
    journey, again = world.service.publish("cart")
    assert again == first and journey.versions == (1,) and len(world.machines.deployed) == 1


def test_a_publish_that_finds_the_journey_changed_deploys_nothing() -> None:
    world = World()
    world.service.create(cart(), "cart")
    store = world.store
    real_replace = store.replace

    def edited_first(journey: Any, **kwargs: Any) -> bool:  # another writer saved the journey meanwhile
        store.journeys["cart"] = replace(store.journeys["cart"], revision=store.journeys["cart"].revision + 1)
        return real_replace(journey, **kwargs)

    store.replace = edited_first  # type: ignore[method-assign]
    with pytest.raises(Conflict) as lost:
        world.service.publish("cart")
    assert lost.value.code == "journey_changed"
    assert world.machines.deployed == {} and world.machines.retired == []
    assert store.versions == {} and store.live_index()["journeys"] == {}


class EditWhileDeploying(InMemoryJourneyMachines):
    """The draft is edited while the version's machine is being created."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    def deploy(self, version: Any) -> str:
        arn = super().deploy(version)
        if version.version == 1:
            edited = cart()
            edited["name"] = "edited while deploying"
            self.world.service.update(
                version.journey_id, edited, self.world.store.journeys[version.journey_id].revision
            )
        return arn


def test_a_draft_edited_while_deploying_retires_the_machine_and_the_next_publish_takes_a_new_number() -> None:
    world = World(EditWhileDeploying)
    world.service.create(cart(), "cart")
    with pytest.raises(Conflict) as lost:
        world.service.publish("cart")
    assert lost.value.code == "journey_changed"
    assert world.machines.deployed == {} and len(world.machines.retired) == 1
    assert world.store.versions == {} and world.store.journeys["cart"].status == DRAFT
    journey, version = world.service.publish("cart")
    assert (journey.versions, version.version, version.document["name"]) == ((2,), 2, "edited while deploying")
    assert list(world.machines.deployed) == [version.state_machine_arn]


def test_a_publish_that_died_while_deploying_never_reuses_its_number() -> None:
    world = World()
    world.service.create(cart(), "cart")
    world.machines.fail = RuntimeError("Step Functions is down")
    with pytest.raises(RuntimeError):
        world.service.publish("cart")
    world.machines.fail = None
    journey, version = world.service.publish("cart")
    assert (journey.status, journey.versions, version.version) == (PUBLISHED, (2,), 2)


def test_a_scheduled_cohort_gets_its_schedule_and_loses_it_on_pause() -> None:
    world = World()
    world.service.create(scheduled(), "sop")
    world.service.publish("sop")
    assert world.schedules.schedules["sop"].version == 1
    assert world.store.live_index()["journeys"]["sop"]["entry"] == {"type": "schedule", "segment_id": "members"}
    paused = world.service.pause("sop")
    assert paused.status == PAUSED and "sop" not in world.schedules.schedules
    # Listed for its runs (none start), with no entry event: a paused journey's runs go on.
    assert world.store.live() == [] and world.store.live_index()["journeys"]["sop"]["paused"] is True
    resumed = world.service.resume("sop")
    assert resumed.status == PUBLISHED and world.schedules.schedules["sop"].version == 1
    assert [live.journey_id for live in world.store.live()] == ["sop"]


def test_a_new_version_without_a_schedule_removes_the_old_one() -> None:
    world = World()
    world.service.create(scheduled(), "sop")
    world.service.publish("sop")
    world.service.update("sop", welcome(), 3)
    world.service.publish("sop")
    assert world.schedules.schedules == {} and world.schedules.removed == ["sop"]


def test_pause_and_resume_are_idempotent_and_checked() -> None:
    world = World()
    world.service.create(cart(), "cart")
    with pytest.raises(Conflict) as draft:
        world.service.pause("cart")
    assert (draft.value.code, draft.value.details) == (
        "invalid_journey_state",
        {"status": DRAFT, "allowed": [PUBLISHED]},
    )
    world.service.publish("cart")
    first = world.service.pause("cart")
    assert world.service.pause("cart") == first
    # No entries while paused, but its runs still hear what they wait for, exit on and convert on.
    assert world.store.live_index()["events"] == ["Link Clicked", "Order Completed"]
    assert world.store.live() == []
    resumed = world.service.resume("cart")
    assert world.service.resume("cart") == resumed
    assert world.store.live_index()["events"] == ["Link Clicked", "Order Completed", "Product Added"]


def test_publishing_a_paused_journey_with_an_unchanged_draft_resumes_it() -> None:
    world = World()
    world.service.create(cart(), "cart")
    world.service.publish("cart")
    world.service.pause("cart")
    journey, version = world.service.publish("cart")
    assert (journey.status, journey.versions, version.version) == (PUBLISHED, (1,), 1)


def test_archive_ends_every_run_and_is_final() -> None:
    world = World()
    world.service.create(cart(), "cart")
    world.service.publish("cart")
    for person in ("p1", "p2"):
        world.runs.put_new(Run(f"r-{person}", "cart", 1, person, "C1", "2026-05-04T02:00:00.000Z"))
    world.runs.put_new(Run("r-other", "other", 1, "p1", "-", "2026-05-04T02:00:00.000Z"))
    journey, ended = world.service.archive("cart")
    assert (journey.status, ended) == (ARCHIVED, 2)
    assert {run.exit_reason for run in world.runs.of_journey("cart")} == {"archived"}
    assert world.runs.get("r-other").status == ACTIVE  # type: ignore[union-attr]
    assert world.store.live_index()["journeys"] == {}
    again, ended_again = world.service.archive("cart")  # the cleanup again, nothing left to end
    assert (again, ended_again) == (journey, 0) and world.ender.calls == [("cart", "archived")] * 2
    for action in (world.service.pause, world.service.resume, world.service.publish):
        with pytest.raises(Conflict):
            action("cart")
    with pytest.raises(Conflict):
        world.service.update("cart", cart(), journey.revision)
    assert {run.status for run in world.runs.of_journey("cart")} == {EXITED}


def test_only_a_never_published_draft_is_deleted() -> None:
    world = World()
    world.service.create(cart(), "draft")
    world.service.delete("draft")
    assert world.store.journeys == {}
    world.service.create(cart(), "live")
    world.service.publish("live")
    with pytest.raises(Conflict) as refused:
        world.service.delete("live")
    assert refused.value.details["status"] == PUBLISHED
    world.service.archive("live")
    with pytest.raises(Conflict):
        world.service.delete("live")
    with pytest.raises(NotFound):
        world.service.delete("nobody")


def test_archiving_a_draft_never_published_touches_no_runtime() -> None:
    world = World()
    world.service.create(cart(), "cart")
    journey, ended = world.service.archive("cart")
    assert (journey.status, ended) == (ARCHIVED, 0)
    assert world.ender.calls == [] and world.schedules.removed == []


def test_a_published_version_is_read_by_number() -> None:
    world = World()
    world.service.create(cart(), "cart")
    world.service.publish("cart")
    assert world.service.version("cart", 1).version == 1
    for number in (0, 2):
        with pytest.raises(NotFound) as missing:
            world.service.version("cart", number)
        assert missing.value.code == "journey_version_not_found"


def test_editing_a_published_journey_edits_its_draft_not_its_live_version() -> None:
    world = World()
    world.service.create(cart(), "cart")
    _journey, first = world.service.publish("cart")
    document = copy.deepcopy(cart())
    document["nodes"]["wait_order"]["timeout"] = "PT45M"
    edited = world.service.update("cart", document, 3)
    assert edited.status == PUBLISHED and edited.live_version == 1
    assert world.store.live()[0] == first
