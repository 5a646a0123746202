"""The erase plan: the whole person, every store, resumable, verified, and suppressed."""

from __future__ import annotations

import pytest
from cdp.errors import Conflict, NotFound, StoreUnavailable
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import STATUS_MERGED, STATUS_MERGING, STATUS_UNMERGED, MergeLedger
from cdp.privacy.erase import (
    MAX_ROUNDS,
    STATUS_ERASED,
    STATUS_INCOMPLETE,
    STATUS_RUNNING,
    EraseWorkflow,
    erase_id_for,
)
from cdp.privacy.suppression import SuppressionCheck, identifier_digest
from cdp.profiles.model import Profile

from tests.fakes import FakeEraseLedger, FakeErasureStore, FakeProfileStore, FakeSuppressions, FixedClock
from tests.unit.builders import NOW_ISO

AMY_PHONE = Identifier("phone", "+886912345678")
AMY_EMAIL = Identifier("email", "amy@example.com")
AMY_WEB = Identifier("anonymous_id", "web-amy")
BOB_PHONE = Identifier("phone", "+886922222222")


def never() -> bool:
    return False


def always() -> bool:
    return True


class World:
    def __init__(self) -> None:
        self.profiles = FakeProfileStore()
        self.ledger = FakeEraseLedger()
        self.suppressions = FakeSuppressions(self.ledger)
        self.clock = FixedClock()
        # Amy: root p-amy (phone, email), p-amy-web merged into it; Bob: someone else entirely.
        self.profiles.seed(Profile("p-amy", NOW_ISO, NOW_ISO, version=3), [AMY_PHONE, AMY_EMAIL])
        self.profiles.seed(Profile("p-amy-web", NOW_ISO, NOW_ISO, version=2, merged_into="p-amy"), [])
        self.profiles.seed(Profile("p-bob", NOW_ISO, NOW_ISO, version=1), [BOB_PHONE])
        self.ledger_of("m-1", "p-amy", "p-amy-web", STATUS_MERGED, [AMY_WEB.key])
        self.timeline = FakeErasureStore(
            "timeline",
            {f"amy-{i}": {"p-amy"} for i in range(250)} | {"web-1": {"p-amy-web"}, "bob-1": {"p-bob"}},
        )
        self.claims = FakeErasureStore(
            "identifier_claims",
            {AMY_PHONE.key: {AMY_PHONE.key}, AMY_EMAIL.key: {AMY_EMAIL.key}, BOB_PHONE.key: {BOB_PHONE.key}},
        )
        self.archive = FakeErasureStore("archive", {"file-1": {"p-amy", "p-bob"}, "file-2": {"p-bob"}})
        self.workflow = EraseWorkflow(
            people=self.profiles,
            ledger=self.ledger,
            suppressions=self.suppressions,
            stores=[self.timeline, self.claims],
            archive=[self.archive],
            clock=self.clock,
        )

    def ledger_of(self, merge_id: str, survivor: str, loser: str, status: str, identifiers: list[str]) -> None:
        ledger = MergeLedger(merge_id, survivor, loser, status, "e-1", NOW_ISO, identifiers=identifiers)
        assert self.profiles.put_ledger(ledger, expected_status=None)

    def run(self, erase_id: str) -> None:
        """The state machine's path: erase, archive, verify; round again while not clean."""
        while True:
            while not self.workflow.erase(erase_id, deadline=never).done:
                pass
            while not self.workflow.erase_archive(erase_id, deadline=never).done:
                pass
            verified = self.workflow.verify(erase_id)
            if verified.clean or verified.status != STATUS_RUNNING:
                self.workflow.finish(erase_id)
                return


@pytest.fixture
def world() -> World:
    return World()


def test_a_merged_away_id_erases_the_whole_person_and_no_one_else(world: World) -> None:
    record, created = world.workflow.request("p-amy-web", requested_by="admin")
    assert created and record.erase_id == erase_id_for("p-amy") and record.status == STATUS_RUNNING
    assert (record.profiles, record.identifiers) == (2, 3)

    world.run(record.erase_id)

    done = world.ledger.get(record.erase_id)
    assert done is not None and done.status == STATUS_ERASED
    assert done.removed == {"timeline": 251, "identifier_claims": 2, "archive": 1}
    assert done.remaining == {"timeline": 0, "identifier_claims": 0, "archive": 0}
    assert set(world.timeline.items) == {"bob-1"} and set(world.claims.items) == {BOB_PHONE.key}
    assert set(world.archive.items) == {"file-2"}
    # the record keeps counts only; the person held while erasing is forgotten
    assert world.ledger.person(record.erase_id) is None
    assert "p-amy" not in repr(world.ledger.records) and AMY_PHONE.value not in repr(world.ledger.records)


def test_the_record_holds_no_personal_data(world: World) -> None:
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    world.run(record.erase_id)
    text = repr(world.ledger.records) + repr(world.ledger.pointers) + repr(world.suppressions.digests)
    for secret in ("p-amy", "p-amy-web", AMY_PHONE.value, AMY_EMAIL.value, AMY_WEB.value):
        assert secret not in text


def test_a_second_erase_returns_the_first_record(world: World) -> None:
    first, created = world.workflow.request("p-amy", requested_by="admin")
    world.run(first.erase_id)
    again, created_again = world.workflow.request("p-amy-web", requested_by="someone else")
    assert created and not created_again
    assert again.erase_id == first.erase_id and again.status == STATUS_ERASED and again.requested_by == "admin"
    # while it runs, too
    other = World()
    running, _ = other.workflow.request("p-amy", requested_by="admin")
    assert other.workflow.request("p-amy", requested_by="admin")[0].erase_id == running.erase_id


def test_unknown_id_is_404(world: World) -> None:
    with pytest.raises(NotFound) as caught:
        world.workflow.request("p-nobody", requested_by="admin")
    assert caught.value.code == "profile_not_found"


def test_a_running_merge_is_409_and_nothing_is_written(world: World) -> None:
    world.ledger_of("m-2", "p-amy", "p-bob", STATUS_MERGING, [BOB_PHONE.key])
    with pytest.raises(Conflict) as caught:
        world.workflow.request("p-amy", requested_by="admin")
    assert caught.value.code == "merge_in_progress"
    assert world.ledger.records == {} and world.suppressions.digests == {}


def test_a_profile_mid_merge_is_409(world: World) -> None:
    bob = world.profiles.profiles["p-bob"]
    bob.merging_into, bob.merging_by = "p-amy", "m-3"
    with pytest.raises(Conflict):
        world.workflow.request("p-bob", requested_by="admin")


def test_an_unmerged_profile_is_someone_else(world: World) -> None:
    world.profiles.seed(Profile("p-carol", NOW_ISO, NOW_ISO, version=1), [])
    world.ledger_of("m-4", "p-amy", "p-carol", STATUS_UNMERGED, [])
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    assert record.profiles == 2  # p-amy and p-amy-web, not p-carol


def test_a_crash_mid_store_resumes_without_redoing(world: World) -> None:
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    world.timeline.fail_after = 130
    with pytest.raises(StoreUnavailable):
        world.workflow.erase(record.erase_id, deadline=never)
    saved = world.ledger.get(record.erase_id)
    assert saved is not None and saved.removed == {"timeline": 100}  # the first chunk was saved
    world.timeline.fail_after = None
    world.run(record.erase_id)
    done = world.ledger.get(record.erase_id)
    assert done is not None and done.status == STATUS_ERASED
    # 30 removed by the crashed chunk were never counted: the count is what each saved chunk removed
    assert done.removed["timeline"] == 221 and set(world.timeline.items) == {"bob-1"}


def test_a_deadline_hands_back_and_the_next_call_carries_on(world: World) -> None:
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    step = world.workflow.erase(record.erase_id, deadline=always)
    assert not step.done and world.timeline.calls == 1
    world.run(record.erase_id)
    assert world.ledger.get(record.erase_id).status == STATUS_ERASED  # type: ignore[union-attr]


def test_items_that_land_late_send_the_workflow_round_again(world: World) -> None:
    world.archive.late = {"file-3": {"p-amy"}}  # the stream's removal rows, archived after the pass
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    world.run(record.erase_id)
    done = world.ledger.get(record.erase_id)
    assert done is not None and done.status == STATUS_ERASED and done.rounds == 2
    assert done.removed["archive"] == 2 and "file-3" not in world.archive.items


def test_what_never_goes_away_ends_incomplete_with_the_counts(world: World) -> None:
    record, _ = world.workflow.request("p-amy", requested_by="admin")

    class Stubborn(FakeErasureStore):
        def erase(self, person, *, limit):  # type: ignore[no-untyped-def]
            return 0, True

    world.workflow._stores.append(Stubborn("raw_events", {"raw-1": {AMY_PHONE.key}}))
    world.run(record.erase_id)
    done = world.ledger.get(record.erase_id)
    assert done is not None and done.status == STATUS_INCOMPLETE and done.rounds == MAX_ROUNDS
    assert done.remaining is not None and done.remaining["raw_events"] == 1
    assert world.ledger.person(record.erase_id) is not None  # kept so a restart can finish it
    restarted = world.workflow.restart(record.erase_id)
    assert restarted.status == STATUS_RUNNING and restarted.rounds == MAX_ROUNDS + 1


def test_suppression_drops_later_events_and_counts_them_until_lifted(world: World) -> None:
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    check = SuppressionCheck(world.suppressions)
    # suppressed from the request on, before any store is erased
    assert check.erase_of([AMY_PHONE.key, "anonymous_id#new-browser"]) == record.erase_id
    assert check.erase_of([BOB_PHONE.key]) is None
    assert check.erase_of([]) is None
    world.run(record.erase_id)
    assert check.drop(record.erase_id, "e-late-1") and check.drop(record.erase_id, "e-late-2")
    assert not check.drop(record.erase_id, "e-late-1")  # a redelivery counts once
    assert world.ledger.get(record.erase_id).suppressed_events == 2  # type: ignore[union-attr]
    assert set(world.suppressions.digests) == {
        identifier_digest(k) for k in (AMY_PHONE.key, AMY_EMAIL.key, AMY_WEB.key)
    }

    lifted_record, lifted = world.workflow.lift_suppression("p-amy")
    assert lifted == 3 and lifted_record.suppression_lifted_at is not None
    assert check.erase_of([AMY_PHONE.key]) is None
    assert world.workflow.lift_suppression("p-amy")[1] == 0  # idempotent


def test_lifting_needs_a_finished_erase(world: World) -> None:
    with pytest.raises(NotFound):
        world.workflow.lift_suppression("p-amy")
    world.workflow.request("p-amy", requested_by="admin")
    with pytest.raises(Conflict) as caught:
        world.workflow.lift_suppression("p-amy")
    assert caught.value.code == "erase_running"


def test_steps_after_the_end_change_nothing(world: World) -> None:
    record, _ = world.workflow.request("p-amy", requested_by="admin")
    world.run(record.erase_id)
    before = world.ledger.get(record.erase_id)
    assert world.workflow.erase(record.erase_id, deadline=never).done
    assert world.workflow.verify(record.erase_id).clean
    assert world.workflow.finish(record.erase_id).status == STATUS_ERASED
    assert world.ledger.get(record.erase_id) == before


def test_steps_of_an_unknown_erase_are_404(world: World) -> None:
    with pytest.raises(NotFound):
        world.workflow.erase("erase-unknown", deadline=never)
