"""MergeWorkflow on the fakes, driven like the state machine (tests.fakes.SynchronousMerges):
what a merge moves and how it folds two profiles, idempotency, rules, chunking, hand-backs,
events arriving mid-merge, failures at every step, and unmerge."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

import pytest
from cdp.domain_events import IDENTITY_CONFLICT, PROFILE_MERGED, PROFILE_UNMERGED
from cdp.errors import Conflict, NotFound
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import (
    CLAIMS_CHUNK,
    STATUS_MERGED,
    STATUS_MERGING,
    STATUS_NOOP,
    STATUS_REJECTED,
    STATUS_UNMERGED,
    TRANSACTION_ITEMS,
    merge_id_for,
)
from cdp.identity.resolver import REASON_SEPARATED
from cdp.identity.rules import IdentityRules

from tests.fakes import CrashAfterWrite, FailOnce, FakeProfileStore, FixedClock
from tests.unit.identity_helpers import (
    PROVIDER_A,
    PROVIDER_B,
    World,
    build_world,
    essence,
    line_user,
    partition,
    person_event,
    root_of,
    roots,
    timeline_event_ids,
)

MEMBER = "M0001"
EMAIL = "amy@example.com"
PHONE = "+886912345678"
ANON = "a-web-1"
KEYS = {
    "member": f"member_id#{MEMBER}",
    "email": f"email#{EMAIL}",
    "phone": f"phone#{PHONE}",
    "anon": f"anonymous_id#{ANON}",
}


def _at(hour: int, minute: int = 0) -> str:
    return f"2024-05-01T{hour:02d}:{minute:02d}:00.000Z"


def _amy_on_two_profiles(world: World, *, web_events: int = 0) -> tuple[str, str, str]:
    """Amy browsed and bought on the web without logging in, and shops in store as a member; then
    she logs in on the web. Returns (pos profile, web profile, merge id); the merge is requested,
    not yet run."""
    web = world.process(
        person_event(
            "w-1",
            anon=ANON,
            emails=[EMAIL],
            traits={"name": "Amy", "city": "Taipei"},
            timestamp=_at(9),
            consent={"email:marketing": True},
        )
    ).profile_id
    world.process(person_event("w-2", anon=ANON, event="Product Viewed", timestamp=_at(8)))
    world.process(
        person_event(
            "w-3",
            anon=ANON,
            event="Order Completed",
            properties={"revenue": 100, "currency": "TWD"},
            timestamp=_at(9, 5),
        )
    )
    world.process(
        person_event("w-4", anon=ANON, event="Settings Saved", timestamp=_at(12), consent={"line:marketing": True})
    )
    for n in range(web_events):
        world.process(person_event(f"w-extra-{n}", anon=ANON, event="Page Scrolled", timestamp=_at(7, n % 60)))
    world.clock.advance(60_000)  # the store profile is younger than the web one
    pos = world.process(
        person_event(
            "p-1", member=MEMBER, phones=[PHONE], traits={"city": "Kaohsiung"}, timestamp=_at(8, 30), channel="pos"
        )
    ).profile_id
    world.process(
        person_event(
            "p-2",
            member=MEMBER,
            traits={"name": "林小美", "tier": "gold"},
            timestamp=_at(10),
            consent={"email:marketing": False, "line:marketing": False},
            channel="pos",
        )
    )
    world.process(
        person_event(
            "p-3",
            member=MEMBER,
            event="Order Completed",
            properties={"revenue": 250.5},
            timestamp=_at(10, 30),
            channel="pos",
        )
    )
    assert pos != web
    login = world.process(person_event("l-1", member=MEMBER, emails=[EMAIL], timestamp=_at(11)))
    assert login.profile_id == pos and login.merge_from == [web]
    return pos, web, merge_id_for(pos, web)


AMY_EVENTS = {"w-1", "w-2", "w-3", "w-4", "p-1", "p-2", "p-3", "l-1"}


def _event_ids(*message_ids: str) -> set[str]:
    return {f"partner#web-shop#{m}" for m in message_ids}


# what a merge does --------------------------------------------------------------------------
def test_a_merge_moves_identifiers_and_timeline_and_folds_with_explicit_precedence() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)
    assert world.store.claims[KEYS["email"]] == web  # the login did not take the email: the merge moves it

    world.merges.run_pending()

    merged = world.store.profiles[pos]
    assert essence(merged) == {
        "identifiers": sorted(KEYS.values()),
        # newest wins, whichever side it comes from: name from the store (10:00 > 09:00), city from
        # the web (09:00 > 08:30)
        "traits": {"name": "林小美", "city": "Taipei", "tier": "gold"},
        "line_accounts": {},
        # consent: newest per key; the loser's newer `line:marketing` wins over the survivor's
        "consent": {"email:marketing": False, "line:marketing": True},
        "event_count": 8,
        "channels": {"web": 5, "pos": 3},
        "first_seen_at": _at(8),  # earliest
        "last_seen_at": _at(12),  # latest
        "order_count": 2,
        "revenue": {"TWD": 350.5},  # sums
        "first_order_at": _at(9, 5),
        "last_order_at": _at(10, 30),
        # computed state: both orders in that day's bucket
        "computed": {
            "daily": {"2024-05-01": [2, 350.5]},
            "valued_orders": 2,
            "line_messages": 0,
            "line_postbacks": 0,
            "line_clicks": 0,
            "last_line_click_at": None,
            "stores": {},
        },
    }
    assert merged.pending_merges == [] and merged.merged_into is None
    assert merged.created_at == world.store.profiles[web].created_at  # earliest created
    # every identifier is claimed by the survivor; the loser only points at it
    assert {key: world.store.claims[key] for key in KEYS.values()} == dict.fromkeys(KEYS.values(), pos)
    loser = world.store.profiles[web]
    assert (loser.merged_into, loser.merging_into) == (pos, None)
    # the whole timeline is on the survivor, the moved entries stamped with the merge
    assert timeline_event_ids(world.store, pos) == _event_ids(*AMY_EVENTS)
    assert timeline_event_ids(world.store, web) == set()
    moved = {e.document["messageId"]: e.moved_by for e in world.store.timelines[pos].values() if e.moved_by}
    assert moved == dict.fromkeys(["w-1", "w-2", "w-3", "w-4"], (merge_id,))
    ledger = world.store.ledgers[merge_id]
    assert (ledger.status, ledger.survivor, ledger.loser, ledger.events_moved) == (STATUS_MERGED, pos, web, 4)
    assert ledger.identifiers == sorted([KEYS["anon"], KEYS["email"]])
    assert ledger.requested_by == "partner#web-shop#l-1"


def test_a_merged_profile_is_what_one_profile_seeing_every_event_would_be() -> None:
    # Given Amy split over two profiles and merged
    split = build_world()
    pos, _web, _ = _amy_on_two_profiles(split)
    split.merges.run_pending()

    # and the same events where every one also names her member id (one profile from the start)
    whole = build_world()
    whole_ids = set()
    for entry in sorted(split.store.timelines[pos].values(), key=lambda e: e.applied_at):
        document = entry.document
        raw = person_event(
            document["messageId"],
            member=MEMBER,
            anon=document.get("anonymousId"),
            emails=[i["value"] for i in document["identifiers"] if i["type"] == "email"],
            phones=[i["value"] for i in document["identifiers"] if i["type"] == "phone"],
            traits=document.get("traits"),
            timestamp=document["timestamp"],
            event=document.get("event") if document["type"] == "track" else None,
            properties=document.get("properties"),
            consent=document["context"].get("consent"),
            channel=document["context"].get("channel"),
        )
        whole_ids.add(whole.process(raw).profile_id)

    # Then the merge's precedence gives the same person
    (whole_id,) = whole_ids
    assert essence(split.store.profiles[pos]) == essence(whole.store.profiles[whole_id])


def test_profile_merged_is_published_once_and_a_retried_finalize_republishes_the_same_id() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)

    world.merges.run_pending()

    (merged,) = world.publisher.named(PROFILE_MERGED)
    assert merged.id == f"{merge_id}:merged"
    assert merged.detail == {
        "mergeId": merge_id,
        "profileId": pos,
        "mergedProfileId": web,
        "identifiersMoved": 2,
        "eventsMoved": 4,
        "requestedBy": "partner#web-shop#l-1",
    }
    # A finalize retried after its answer was lost changes nothing and republishes the same event
    before = _state(world)
    world.workflow.finalize(merge_id)
    again = world.publisher.named(PROFILE_MERGED)
    assert [e.id for e in again] == [merged.id, merged.id] and again[1].detail == merged.detail
    assert _state(world)["store"] == before["store"]


def test_a_repeated_request_for_the_same_pair_is_a_no_op() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)
    # requested twice before it runs (a stream replay of the login): one execution
    world.process(person_event("l-1", member=MEMBER, emails=[EMAIL], timestamp=_at(11)))
    assert len(world.merges.requests) == 2 and list(world.merges.executions) == [merge_id]
    world.merges.run_pending()
    before = _state(world)
    transactions = world.store.transactions

    # When the same pair is planned again (a late duplicate the state machine did run)
    result = world.workflow.plan(pos, web, requested_by="partner#web-shop#late")

    # Then it reports the finished merge and writes nothing
    assert (result.merge_id, result.status, result.survivor, result.loser) == (merge_id, STATUS_MERGED, pos, web)
    assert world.store.transactions == transactions
    assert _state(world) == before
    assert world.workflow.move(merge_id).status == STATUS_MERGED
    assert world.store.transactions == transactions


def test_a_repeated_plan_while_merging_writes_nothing_more() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)
    first = world.workflow.plan(pos, web, requested_by="a")
    transactions = world.store.transactions

    second = world.workflow.plan(pos, web, requested_by="b")

    assert (first.status, first.done, second.status) == (STATUS_MERGING, False, STATUS_MERGING)
    assert world.store.transactions == transactions
    assert world.store.ledgers[merge_id].requested_by == "a"
    assert world.store.profiles[pos].pending_merges == [merge_id]


def test_merging_a_pair_that_is_already_one_profile_is_a_noop() -> None:
    world = build_world()
    pos, web, _merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()
    before = _state(world)

    # When the pair is requested the other way round (another name, so another execution)
    world.merges.request(web, pos, requested_by="partner#web-shop#other")
    world.merges.run_pending()

    execution = world.merges.executions[merge_id_for(web, pos)]
    assert (execution.status, execution.steps) == (STATUS_NOOP, ["plan"])
    assert merge_id_for(web, pos) not in world.store.ledgers
    assert _state(world) == before


def test_a_merge_that_breaks_a_rule_is_rejected_and_published_as_a_conflict() -> None:
    # Given two members, each with a profile (the processor would not request this merge; an admin
    # or a rules change between the request and the plan can)
    world = build_world()
    first = world.process(person_event("m-1", member="M0001", emails=["a@example.com"])).profile_id
    second = world.process(person_event("m-2", member="M0002", anon="a-2")).profile_id
    before = _state(world)

    result = world.workflow.plan(first, second, requested_by="admin:test")

    merge_id = merge_id_for(first, second)
    assert (result.status, result.done) == (STATUS_REJECTED, True)
    ledger = world.store.ledgers[merge_id]
    assert (ledger.status, ledger.reason) == (STATUS_REJECTED, "max_member_id")
    (conflict,) = world.publisher.named(IDENTITY_CONFLICT)
    assert conflict.id == f"{merge_id}:refused"
    assert conflict.detail["mergeId"] == merge_id and conflict.detail["reason"] == "max_member_id"
    assert {conflict.detail["profileId"], conflict.detail["otherProfileId"]} == {first, second}
    # nothing moved, nobody marked
    assert before["store"]["profiles"] == _state(world)["store"]["profiles"]
    assert world.store.claims == before["store"]["claims"]
    # and planning it again neither writes nor republishes
    assert world.workflow.plan(first, second, requested_by="admin:test").status == STATUS_REJECTED
    assert len({e.id for e in world.publisher.named(IDENTITY_CONFLICT)}) == 1  # a repeat republishes the same id


def test_a_rules_change_between_request_and_plan_rejects_the_merge() -> None:
    # Given a merge of two email profiles requested under the default rules (5 emails per person)
    world = build_world()
    old = world.process(person_event("e-1", anon="a-1", emails=["one@example.com"])).profile_id
    world.clock.advance(1)
    young = world.process(person_event("e-2", anon="a-2", emails=["two@example.com"])).profile_id
    world.process(person_event("e-3", anon="a-1", emails=["two@example.com"]))
    assert len(world.merges.executions) == 1

    # When the workspace allows one email per person before the merge runs
    world.rules[0] = IdentityRules.from_dict({"max_per_type": {"email": 1}}, version=2)
    world.merges.run_pending()

    # Then the merge is refused and both profiles stay roots
    (execution,) = world.merges.executions.values()
    assert execution.status == STATUS_REJECTED
    assert set(roots(world.store)) == {old, young}
    assert world.publisher.named(IDENTITY_CONFLICT)[-1].detail["reason"] == "max_email"


def test_line_ids_are_limited_per_provider_when_merging() -> None:
    world = build_world()
    a1 = world.process(person_event("l-1", anon="a-1", lines=[f"{PROVIDER_A}:{line_user(1)}"])).profile_id
    a2 = world.process(person_event("l-2", anon="a-2", lines=[f"{PROVIDER_A}:{line_user(2)}"])).profile_id
    b3 = world.process(person_event("l-3", anon="a-3", lines=[f"{PROVIDER_B}:{line_user(3)}"])).profile_id

    same_provider = world.workflow.plan(a1, a2, requested_by="t")
    other_provider = world.workflow.plan(a1, b3, requested_by="t")

    assert (same_provider.status, world.store.ledgers[same_provider.merge_id].reason) == (STATUS_REJECTED, "max_line")
    assert other_provider.status == STATUS_MERGING


# size: transactions, hand-backs -------------------------------------------------------------
def _spy_moves(store: FakeProfileStore, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[int]]:
    timeline_sizes: list[int] = []
    claim_sizes: list[int] = []
    move_timeline, move_claims = store.move_timeline, store.move_claims

    def spy_timeline(entries: Any, **kwargs: Any) -> None:
        timeline_sizes.append(len(entries))
        move_timeline(entries, **kwargs)

    def spy_claims(keys: Any, **kwargs: Any) -> None:
        claim_sizes.append(len(keys))
        move_claims(keys, **kwargs)

    monkeypatch.setattr(store, "move_timeline", spy_timeline)
    monkeypatch.setattr(store, "move_claims", spy_claims)
    return timeline_sizes, claim_sizes


def test_a_loser_with_500_events_moves_in_transactions_within_the_dynamodb_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = build_world()
    member = world.process(person_event("m-1", member=MEMBER)).profile_id
    for n in range(500):
        world.process(person_event(f"big-{n}", anon="a-big", event="Page Viewed", timestamp=_at(9, n % 60)))
    (loser,) = set(roots(world.store)) - {member}
    world.process(person_event("link", member=MEMBER, anon="a-big"))
    timeline_sizes, claim_sizes = _spy_moves(world.store, monkeypatch)
    transactions = world.store.transactions

    world.merges.run_pending()

    # each move is one transaction: a delete and a put per entry plus the ledger counter
    assert all(2 * size + 1 <= TRANSACTION_ITEMS for size in timeline_sizes)
    assert sum(timeline_sizes) == 500
    assert len(timeline_sizes) == math.ceil(500 / ((TRANSACTION_ITEMS - 1) // 2))  # no needlessly small chunks
    assert claim_sizes == [1]
    # plan, claims, timeline chunks, finalize
    assert world.store.transactions - transactions == 1 + 1 + len(timeline_sizes) + 1
    assert len(world.store.timelines[member]) == 502 and world.store.timelines.get(loser, {}) == {}
    assert world.store.profiles[member].event_count == 502
    assert world.store.ledgers[merge_id_for(member, loser)].events_moved == 500


def test_many_identifiers_move_in_claim_transactions_within_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(rules=IdentityRules.from_dict({"max_per_type": {"anonymous_id": 1000}}, version=1))
    member = world.process(person_event("m-1", member=MEMBER)).profile_id
    for n in range(250):
        world.process(person_event(f"dev-{n}", anon=f"device-{n}", emails=[EMAIL]))
    world.process(person_event("link", member=MEMBER, emails=[EMAIL]))
    _timeline_sizes, claim_sizes = _spy_moves(world.store, monkeypatch)

    world.merges.run_pending()

    assert sum(claim_sizes) == 251 and all(size <= CLAIMS_CHUNK < TRANSACTION_ITEMS for size in claim_sizes)
    assert len(claim_sizes) == math.ceil(251 / CLAIMS_CHUNK)
    assert set(world.store.claims.values()) == {member}


def test_a_move_that_hands_back_at_its_deadline_resumes_and_moves_each_entry_once() -> None:
    # Given a state machine whose move step hands back after every transaction
    world = build_world(move_deadline=lambda: lambda: True)
    pos, web, merge_id = _amy_on_two_profiles(world, web_events=120)

    world.merges.run_pending()

    (execution,) = world.merges.executions.values()
    moves = execution.steps.count("move")
    assert moves >= math.ceil(124 / 49)  # it did hand back mid-move
    assert execution.steps == ["plan", *["move"] * moves, "finalize"]
    entries = list(world.store.timelines[pos].values())
    assert len(entries) == len({e.sort_key for e in entries}) == 8 + 120
    assert sum(1 for e in entries if e.moved_by == (merge_id,)) == 124
    assert all(e.moved_by in ((), (merge_id,)) for e in entries)
    assert world.store.ledgers[merge_id].events_moved == 124
    assert world.store.profiles[pos].event_count == 128
    assert world.store.timelines.get(web, {}) == {}


# events during a merge ----------------------------------------------------------------------
def test_events_for_the_loser_during_a_merge_land_on_the_survivor_and_are_kept() -> None:
    world = build_world(move_deadline=lambda: lambda: True)
    pos, web, merge_id = _amy_on_two_profiles(world, web_events=60)
    processed = set(AMY_EVENTS) | {f"w-extra-{n}" for n in range(60)}

    world.merges.step()  # plan
    assert world.store.profiles[web].merging_into == pos
    during = world.process(person_event("d-1", anon=ANON, event="Product Viewed", timestamp=_at(13)))
    world.merges.step()  # move: first chunk
    during_new_id = world.process(person_event("d-2", anon=ANON, emails=["amy.work@example.com"], timestamp=_at(14)))
    world.merges.step()  # move: second chunk
    world.merges.step()  # move: nothing left
    assert world.merges.executions[merge_id].state == "finish"
    late = world.process(person_event("d-3", emails=[EMAIL], anon=ANON, event="Cart Viewed", timestamp=_at(15)))
    world.merges.run_pending()

    assert {during.profile_id, during_new_id.profile_id, late.profile_id} == {pos}
    processed |= {"d-1", "d-2", "d-3"}
    assert timeline_event_ids(world.store, pos) == _event_ids(*processed)
    assert world.store.timelines.get(web, {}) == {}
    survivor = world.store.profiles[pos]
    assert survivor.event_count == len(processed)
    assert world.store.claims["email#amy.work@example.com"] == pos
    assert "email#amy.work@example.com" in survivor.identifiers
    assert set(world.store.claims.values()) == {pos}


def test_an_event_that_read_the_loser_before_the_plan_does_not_undo_the_plan() -> None:
    # Given a requested merge, and an event for the web profile whose processor read the profile
    # just before the plan committed (the plan runs between its read and its commit)
    world = build_world()
    pos, web, _merge_id = _amy_on_two_profiles(world)
    world.store.before_commit.append(lambda store: world.merges.step())

    result = world.process(person_event("race-1", anon=ANON, event="Product Viewed", timestamp=_at(13)))

    # Then the plan's marker survives, so later events and the move cannot miss the loser
    assert world.store.profiles[web].merging_into == pos, "a stale write of the loser erased `merging_into`"
    world.merges.run_pending()
    assert result.profile_id in (pos, web)
    assert timeline_event_ids(world.store, pos) == _event_ids(*AMY_EVENTS, "race-1")
    assert world.store.profiles[pos].event_count == 9


def test_an_event_that_read_the_loser_before_the_move_is_not_left_behind() -> None:
    # Given the plan and the whole move run between an event's read of the loser and its commit
    world = build_world()
    pos, web, _merge_id = _amy_on_two_profiles(world)

    def plan_and_move(store: FakeProfileStore) -> None:
        world.merges.step()
        world.merges.step()

    world.store.before_commit.append(plan_and_move)
    world.process(person_event("race-2", anon=ANON, event="Product Viewed", timestamp=_at(13)))
    world.merges.run_pending()

    # Then the event is on the survivor's timeline, like every counted event
    survivor = world.store.profiles[pos]
    assert world.store.timelines.get(web, {}) == {}, "an event committed on the loser after the move stays there"
    assert timeline_event_ids(world.store, pos) == _event_ids(*AMY_EVENTS, "race-2")
    assert survivor.event_count == len(world.store.timelines[pos])


def test_an_event_that_read_the_survivor_before_the_plan_keeps_the_merge_marker() -> None:
    world = build_world()
    pos, _web, merge_id = _amy_on_two_profiles(world)
    world.store.before_commit.append(lambda store: world.merges.step())

    world.process(person_event("race-3", member=MEMBER, event="Product Viewed", timestamp=_at(13)))

    assert world.store.profiles[pos].pending_merges == [merge_id], "a stale write erased `pending_merges`"


def test_an_event_that_read_the_survivor_before_its_unmerge_began_keeps_the_unmerge_lock() -> None:
    world = build_world()
    pos, _web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()
    unmerge = world.merges.start_unmerge(merge_id)
    world.store.before_commit.append(lambda store: world.merges.advance(unmerge))  # begin_unmerge

    world.process(person_event("race-4", member=MEMBER, event="Product Viewed", timestamp=_at(13)))

    assert world.store.profiles[pos].pending_merges == [f"unmerge:{merge_id}"], "a stale write erased the lock"
    world.merges.run(unmerge)
    assert "partner#web-shop#race-4" in timeline_event_ids(world.store, pos)
    assert world.store.profiles[pos].event_count == len(world.store.timelines[pos])


# failures at each step ---------------------------------------------------------------------
def _state(world: World) -> dict[str, Any]:
    store = world.store
    state: dict[str, Any] = {
        "store": {
            "profiles": {
                pid: json.dumps(asdict(p), sort_keys=True, default=bytes.hex) for pid, p in store.profiles.items()
            },
            "claims": dict(store.claims),
            "timeline": {
                pid: {
                    key: (e.document["eventId"], e.applied_at, e.claimed, e.attached, e.moved_by)
                    for key, e in entries.items()
                }
                for pid, entries in store.timelines.items()
                if entries
            },
            "ledgers": {mid: ledger.as_dict() for mid, ledger in store.ledgers.items()},
            "separations": set(store.separations),
        }
    }
    state["published"] = {(e.id, e.name, json.dumps(e.detail, sort_keys=True)) for e in world.publisher.published}
    return state


INJECTED_FAILURES = [
    pytest.param("fail", "move_claims", 1, id="before-claims"),
    pytest.param("fail", "move", 1, id="before-first-timeline-chunk"),
    pytest.param("fail", "move", 2, id="before-second-timeline-chunk"),
    pytest.param("fail", "finalize", 1, id="before-finalize"),
    pytest.param("crash", "begin", 1, id="after-plan-write"),
    pytest.param("crash", "move_claims", 1, id="after-claims-write"),
    pytest.param("crash", "move_timeline", 1, id="after-first-timeline-write"),
    pytest.param("crash", "move_timeline", 2, id="after-last-timeline-write"),
    pytest.param("crash", "finish", 1, id="after-finalize-write"),
]


def _failing_world(kind: str) -> tuple[World, FailOnce, list[CrashAfterWrite]]:
    hook = FailOnce()
    crash: list[CrashAfterWrite] = []

    def wrap(store: FakeProfileStore) -> CrashAfterWrite:
        crash.append(CrashAfterWrite(store))
        return crash[0]

    world = build_world(fail_at=hook, workflow_store=wrap)
    return world, hook, crash


@pytest.mark.parametrize(("kind", "step", "nth"), INJECTED_FAILURES)
def test_a_merge_step_that_fails_once_and_is_retried_ends_as_a_clean_run(kind: str, step: str, nth: int) -> None:
    clean = build_world()
    _amy_on_two_profiles(clean, web_events=60)
    clean.merges.run_pending()

    world, hook, (crash,) = _failing_world(kind)
    _amy_on_two_profiles(world, web_events=60)
    if kind == "fail":
        hook.arm(step, nth)
    else:
        crash.arm(step, nth)
    world.merges.run_pending()

    (execution,) = world.merges.executions.values()
    assert (hook.fired if kind == "fail" else crash.fired) and execution.retries == 1
    assert execution.status == STATUS_MERGED
    assert _state(world) == _state(clean)
    assert len({e.id for e in world.publisher.named(PROFILE_MERGED)}) == 1


UNMERGE_FAILURES = [
    pytest.param("fail", "move_claims", 1, id="before-claims-back"),
    pytest.param("fail", "finalize_unmerge", 1, id="before-finalize-unmerge"),
    pytest.param("crash", "begin", 1, id="after-begin-unmerge-write"),
    pytest.param("crash", "begin", 2, id="after-reopen-write"),
    pytest.param("crash", "move_claims", 1, id="after-claims-back-write"),
    pytest.param("crash", "move_timeline", 1, id="after-first-return-write"),
    pytest.param("crash", "finish", 1, id="after-finalize-unmerge-write"),
]


@pytest.mark.parametrize(("kind", "step", "nth"), UNMERGE_FAILURES)
def test_an_unmerge_step_that_fails_once_and_is_retried_ends_as_a_clean_run(kind: str, step: str, nth: int) -> None:
    def scenario(world: World) -> str:
        _pos, _web, merge_id = _amy_on_two_profiles(world, web_events=60)
        world.merges.run_pending()
        world.process(person_event("after-1", anon=ANON, event="Product Viewed", timestamp=_at(13)))
        return merge_id

    clean = build_world()
    clean.merges.unmerge(scenario(clean))

    world, hook, (crash,) = _failing_world(kind)
    merge_id = scenario(world)
    if kind == "fail":
        hook.arm(step, nth)
    else:
        crash.arm(step, nth)
    execution = world.merges.unmerge(merge_id)

    assert (hook.fired if kind == "fail" else crash.fired) and execution.retries == 1
    assert execution.status == STATUS_UNMERGED
    assert _state(world) == _state(clean)


# unmerge ---------------------------------------------------------------------------------
def test_unmerge_restores_both_profiles_their_claims_and_timelines() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world, web_events=60)
    before = {pid: essence(world.store.profiles[pid]) for pid in (pos, web)}
    claims_before = dict(world.store.claims)
    timelines_before = {pid: timeline_event_ids(world.store, pid) for pid in (pos, web)}
    world.merges.run_pending()
    assert essence(world.store.profiles[pos]) != before[pos]

    execution = world.merges.unmerge(merge_id)

    assert execution.status == STATUS_UNMERGED
    assert {pid: essence(world.store.profiles[pid]) for pid in (pos, web)} == before
    assert world.store.claims == claims_before
    assert {pid: timeline_event_ids(world.store, pid) for pid in (pos, web)} == timelines_before
    restored = world.store.profiles[web]
    assert (restored.merged_into, restored.merging_into, restored.pending_merges) == (None, None, [])
    assert world.store.profiles[pos].pending_merges == []
    assert all(e.moved_by == () for pid in (pos, web) for e in world.store.timelines[pid].values())
    ledger = world.store.ledgers[merge_id]
    assert (ledger.status, ledger.events_returned) == (STATUS_UNMERGED, ledger.events_moved)
    (unmerged,) = world.publisher.named(PROFILE_UNMERGED)
    assert unmerged.id == f"{merge_id}:unmerged"
    assert unmerged.detail == {"mergeId": merge_id, "profileId": pos, "restoredProfileId": web, "eventsReturned": 64}


def test_after_an_unmerge_events_go_back_by_the_identifiers_they_came_with() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()
    world.clock.advance(1_000)
    # after the merge: one with only the web identifiers (and a new email), one with only the store's
    only_web = world.process(
        person_event("after-web", anon=ANON, emails=["amy.new@example.com"], event="Cart Viewed", timestamp=_at(13))
    )
    only_pos = world.process(person_event("after-pos", member=MEMBER, event="Store Visit", timestamp=_at(14)))
    assert only_web.profile_id == only_pos.profile_id == pos

    world.merges.unmerge(merge_id)

    assert timeline_event_ids(world.store, web) == _event_ids("w-1", "w-2", "w-3", "w-4", "after-web")
    assert timeline_event_ids(world.store, pos) == _event_ids("p-1", "p-2", "p-3", "l-1", "after-pos")
    # the identifier the web event brought goes back with it
    assert world.store.claims["email#amy.new@example.com"] == web
    assert "email#amy.new@example.com" in world.store.profiles[web].identifiers
    assert world.store.profiles[web].event_count == 5 and world.store.profiles[pos].event_count == 5
    assert world.store.ledgers[merge_id].events_returned == 5


def test_after_an_unmerge_every_identifier_is_listed_only_by_the_profile_that_owns_it() -> None:
    # Given a merge and, after it, an event naming identifiers of both former profiles
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()
    world.clock.advance(1_000)
    world.process(person_event("after-both", member=MEMBER, anon=ANON, event="Cart Viewed", timestamp=_at(13)))

    # When the merge is undone
    world.merges.unmerge(merge_id)

    # Then the event stays with the store profile (it names the member id) but the web's anonymous
    # id is the web profile's again, and only the web profile lists it
    assert "partner#web-shop#after-both" in timeline_event_ids(world.store, pos)
    assert world.store.claims[KEYS["anon"]] == web
    for pid in (pos, web):
        listed = set(world.store.profiles[pid].identifiers)
        owned = {key for key, owner in world.store.claims.items() if owner == pid}
        assert listed == owned, f"{pid} lists {sorted(listed - owned)} that it does not own"


def test_an_unmerged_pair_is_not_merged_again_by_an_event_naming_both() -> None:
    world = build_world()
    pos, web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()
    world.merges.unmerge(merge_id)
    split = partition(world.store)
    executions = dict(world.merges.executions)
    world.publisher.published.clear()

    result = world.process(person_event("again", member=MEMBER, emails=[EMAIL], timestamp=_at(16)))
    world.merges.run_pending()

    assert result.profile_id == pos  # the member id decides
    assert [(c.identifier, c.owner, c.reason) for c in result.conflicts] == [
        (Identifier("email", EMAIL), web, REASON_SEPARATED)
    ]
    assert result.merge_from == [] and world.merges.executions == executions
    (conflict,) = world.publisher.named(IDENTITY_CONFLICT)
    assert conflict.detail["conflicts"][0]["reason"] == REASON_SEPARATED
    assert partition(world.store) == split
    # and a merge requested anyway (e.g. by an admin) is refused
    assert world.workflow.plan(web, pos, requested_by="admin").status == STATUS_REJECTED
    assert world.store.ledgers[merge_id_for(web, pos)].reason == REASON_SEPARATED


def test_only_a_finished_merge_can_be_undone() -> None:
    world = build_world()
    _pos, _web, merge_id = _amy_on_two_profiles(world)
    world.merges.step()  # planned, not finished

    with pytest.raises(Conflict) as unfinished:
        world.workflow.begin_unmerge(merge_id)
    assert unfinished.value.code == "merge_not_finished"

    first = world.process(person_event("x-1", member="M0009")).profile_id
    second = world.process(person_event("x-2", member="M0010")).profile_id
    rejected = world.workflow.plan(first, second, requested_by="admin")
    with pytest.raises(Conflict) as refused:
        world.workflow.begin_unmerge(rejected.merge_id)
    assert refused.value.code == "merge_not_finished"
    with pytest.raises(NotFound) as unknown:
        world.workflow.begin_unmerge("m_unknown")
    assert unknown.value.code == "merge_not_found"


def test_a_merge_cannot_be_undone_while_its_survivor_is_merged_into_another_profile() -> None:
    # Given a web profile (oldest) that absorbed an app profile, and was then absorbed by a member
    world = build_world()
    web = world.process(person_event("s-1", anon="a-web")).profile_id
    world.clock.advance(1)
    app = world.process(person_event("s-2", anon="a-app", emails=[EMAIL])).profile_id
    world.clock.advance(1)
    world.process(person_event("s-3", anon="a-web", emails=[EMAIL]))
    world.merges.run_pending()
    first_merge = merge_id_for(web, app)
    assert world.store.ledgers[first_merge].status == STATUS_MERGED
    member = world.process(person_event("s-4", member=MEMBER)).profile_id
    world.process(person_event("s-5", member=MEMBER, anon="a-web"))
    world.merges.run_pending()
    assert world.store.profiles[web].merged_into == member

    with pytest.raises(Conflict) as since:
        world.workflow.begin_unmerge(first_merge)
    assert since.value.code == "survivor_merged_since"
    assert world.store.ledgers[first_merge].status == STATUS_MERGED

    # and once the later merge is undone, the first one can be
    world.merges.unmerge(merge_id_for(member, web))
    world.workflow.begin_unmerge(first_merge)
    assert world.store.ledgers[first_merge].status != STATUS_MERGED


def test_unmerging_twice_does_nothing_the_second_time() -> None:
    world = build_world()
    _pos, _web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()
    world.merges.unmerge(merge_id)
    before = _state(world)

    result = world.workflow.begin_unmerge(merge_id)
    world.workflow.move_back(merge_id)

    assert (result.status, result.done) == (STATUS_UNMERGED, True)
    assert _state(world)["store"] == before["store"]
    assert len(world.publisher.named(PROFILE_UNMERGED)) == 1


# merges that overlap -------------------------------------------------------------------------
def _violations(world: World) -> dict[str, list[str]]:
    rules = world.rules[0]
    found = {}
    for pid, profile in roots(world.store).items():
        broken = rules.violations(Identifier(d["type"], d["value"]) for d in profile.identifiers.values())
        if broken:
            found[pid] = broken
    return found


def _three_web_profiles(world: World) -> str:
    """An old web profile and two younger ones, each with its own LINE user of the same provider."""
    oldest = world.process(person_event("o-1", anon="a-s")).profile_id
    world.clock.advance(1)
    world.process(person_event("o-2", anon="a-1", lines=[f"{PROVIDER_A}:{line_user(1)}"]))
    world.clock.advance(1)
    world.process(person_event("o-3", anon="a-2", lines=[f"{PROVIDER_A}:{line_user(2)}"]))
    return oldest


def test_two_merges_requested_together_into_one_survivor_cannot_break_a_rule() -> None:
    # Given events gluing each young profile to the old one (via an email, then via a phone), both
    # merges requested before either is planned
    world = build_world()
    oldest = _three_web_profiles(world)
    world.process(person_event("o-4", anon="a-1", emails=["x@example.com"]))
    world.process(person_event("o-5", anon="a-s", emails=["x@example.com"]))
    world.process(person_event("o-6", anon="a-s", phones=["+886922333444"]))
    world.process(person_event("o-7", anon="a-2", phones=["+886922333444"]))
    first, second = world.merges.pending

    # When the second is planned while the first is under way
    world.merges.advance(first)  # plan
    world.merges.advance(second)  # plan
    world.merges.run_pending()

    # Then the second is refused: the person keeps one LINE user per provider
    assert (first.status, second.status) == (STATUS_MERGED, STATUS_REJECTED)
    assert world.store.ledgers[second.merge_id].reason == "max_line"
    assert _violations(world) == {}, f"{oldest} holds two LINE users of provider {PROVIDER_A}"


def test_an_event_gluing_a_second_profile_during_a_merge_cannot_break_a_rule() -> None:
    # Given the first young profile being merged into the old one
    world = build_world()
    oldest = _three_web_profiles(world)
    world.process(person_event("o-4", anon="a-1", emails=["x@example.com"]))
    world.process(person_event("o-5", anon="a-s", emails=["x@example.com"]))
    (first,) = world.merges.pending
    world.merges.advance(first)  # plan

    # When an event glues the second young profile to the old one meanwhile
    world.process(person_event("o-6", anon="a-s", phones=["+886922333444"]))
    glue = world.process(person_event("o-7", anon="a-2", phones=["+886922333444"]))
    world.merges.run_pending()

    # Then that is a conflict, not a merge
    assert glue.merge_from == [] and [c.reason for c in glue.conflicts] == ["max_line"]
    assert _violations(world) == {}, f"{oldest} holds two LINE users of provider {PROVIDER_A}"


def test_an_identifier_claimed_during_a_merge_cannot_break_a_rule_with_the_loser_s() -> None:
    # Given an old web profile and a younger one with a LINE user, being merged into it
    world = build_world()
    oldest = world.process(person_event("i-1", anon="a-s")).profile_id
    world.clock.advance(1)
    world.process(person_event("i-2", anon="a-1", lines=[f"{PROVIDER_A}:{line_user(1)}"]))
    world.process(person_event("i-3", anon="a-s", emails=["x@example.com"]))
    world.process(person_event("i-4", anon="a-1", emails=["x@example.com"]))
    world.merges.step()  # planned: the young profile now points at the old one
    assert world.store.profiles[oldest].pending_merges

    # When an event brings a second LINE user of the same provider to the old profile meanwhile
    world.process(person_event("i-5", anon="a-s", lines=[f"{PROVIDER_A}:{line_user(2)}"]))
    world.merges.run_pending()

    # Then the merged person has still one LINE user per provider
    assert _violations(world) == {}, f"{oldest} holds two LINE users of provider {PROVIDER_A}"


def _counts_match_timelines(world: World) -> dict[str, tuple[int, int]]:
    return {
        pid: (p.event_count, len(world.store.timelines.get(pid, {})))
        for pid, p in roots(world.store).items()
        if p.event_count != len(world.store.timelines.get(pid, {}))
    }


def test_a_merge_into_a_profile_being_unmerged_counts_each_event_once() -> None:
    # Given a finished merge of Amy's web profile into her member profile, and another anonymous
    # profile of hers
    world = build_world()
    device = world.process(person_event("k-1", anon="a-device", event="App Opened")).profile_id
    world.clock.advance(1)
    pos, _web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()

    # When the unmerge starts, and meanwhile an event glues the device profile to the member profile
    unmerge = world.merges.start_unmerge(merge_id)
    world.merges.advance(unmerge)  # begin_unmerge
    world.process(person_event("k-2", member=MEMBER, anon="a-device"))
    glue = world.merges.executions[merge_id_for(pos, device)]
    world.merges.advance(glue)  # plan
    world.merges.advance(glue)  # move
    world.merges.run(unmerge)
    world.merges.run_pending()

    # Then every root counts the events on its timeline, once
    assert _counts_match_timelines(world) == {}
    total = sum(p.event_count for p in roots(world.store).values())
    assert total == len(world.store.applied)


def test_a_restored_profile_merged_elsewhere_during_its_unmerge_keeps_its_events() -> None:
    # Given Amy's app profile (oldest), and her web profile merged into her member profile
    world = build_world()
    app = world.process(person_event("t-1", anon="a-app", event="App Opened")).profile_id
    world.clock.advance(1)
    _pos, web, merge_id = _amy_on_two_profiles(world)
    world.merges.run_pending()

    # When the unmerge has reopened the web profile, and an event glues it to the app profile
    unmerge = world.merges.start_unmerge(merge_id)
    world.merges.advance(unmerge)  # begin_unmerge
    world.merges.advance(unmerge)  # move_back: the web profile is a root again
    world.process(person_event("t-2", anon=ANON, emails=["t@example.com"]))
    world.process(person_event("t-3", anon="a-app", emails=["t@example.com"]))
    glue = world.merges.executions[merge_id_for(app, web)]
    world.merges.advance(glue)  # plan
    world.merges.advance(glue)  # move
    world.merges.run(unmerge)
    world.merges.run_pending()

    # Then no event is lost or counted twice
    assert _counts_match_timelines(world) == {}
    total = sum(p.event_count for p in roots(world.store).values())
    assert total == len(world.store.applied)


def test_an_unmerged_pair_is_not_glued_again_through_a_third_profile() -> None:
    # Given a member profile, and a web and an app profile that an admin split after a merge
    world = build_world()
    member = world.process(person_event("g-0", member=MEMBER)).profile_id
    world.clock.advance(1)
    web = world.process(person_event("g-1", anon="a-web")).profile_id
    world.clock.advance(1)
    app = world.process(person_event("g-2", emails=["app@example.com"])).profile_id
    world.process(person_event("g-3", anon="a-web", emails=["app@example.com"]))
    world.merges.run_pending()
    world.merges.unmerge(merge_id_for(web, app))

    # When the member logs in on the web device, and later with the app's email
    world.process(person_event("g-4", member=MEMBER, anon="a-web"))
    world.merges.run_pending()
    world.process(person_event("g-5", member=MEMBER, emails=["app@example.com"]))
    world.merges.run_pending()

    # Then the two profiles the admin split are still two people
    assert root_of(world.store, web) != root_of(world.store, app), f"both are in {root_of(world.store, member)}"


class _Ahead:
    def __init__(self, clock: FixedClock, ms: int) -> None:
        self._clock, self._ms = clock, ms

    def now_ms(self) -> int:
        return self._clock.now_ms() + self._ms


def test_an_event_after_the_merge_goes_back_even_if_the_processor_clock_is_a_little_behind() -> None:
    # Given a merge Lambda whose clock is 5 ms ahead of the processor Lambda's
    processor_clock = FixedClock()
    world = build_world(clock=processor_clock, workflow_clock=_Ahead(processor_clock, 5))
    _pos, web, merge_id = _amy_on_two_profiles(world)
    world.merges.step()  # plan

    # When an event with only the web profile's identifiers arrives right after the plan
    processor_clock.advance(1)
    world.process(person_event("right-after", anon=ANON, event="Product Viewed", timestamp=_at(13)))
    world.merges.run_pending()
    world.merges.unmerge(merge_id)

    # Then the unmerge gives it back to the web profile
    assert "partner#web-shop#right-after" in timeline_event_ids(world.store, web)


def test_a_merge_whose_run_failed_after_the_plan_is_resumed_by_the_next_event() -> None:
    # Given a merge whose move step keeps failing until its run gives up (state machine retries exhausted)
    from tests.fakes import InjectedFailure

    failing = {"on": True}

    def fail_at(step: str) -> None:
        if failing["on"] and step == "move":
            raise InjectedFailure("move keeps failing")

    world = build_world(eager=False, fail_at=fail_at)
    world.process(person_event("r-1", member=MEMBER))
    world.process(person_event("r-2", anon="a-r", event="Viewed"))
    world.process(person_event("r-3", member=MEMBER, anon="a-r", event="Viewed"))
    (execution,) = world.merges.pending
    world.merges.max_retries = 3
    with pytest.raises(InjectedFailure):
        world.merges.run(execution)
    assert execution.state == "failed"
    assert any(p.merging_into for p in world.store.profiles.values())

    # When the cause is gone and the next event touches the person
    failing["on"] = False
    world.process(person_event("r-4", anon="a-r", event="Viewed"))
    world.merges.run_pending()

    # Then the merge was asked for again under the same merge id, resumed, and finished
    assert not any(p.merging_into or p.pending_merges for p in world.store.profiles.values())
    (ledger,) = world.store.ledgers.values()
    assert ledger.status == "merged"
    assert len(roots(world.store)) == 1
