"""Identity resolution as properties, over generated people and events processed by the
EventProcessor with the merge workflow run in process (tests.fakes.SynchronousMerges).

A population of true persons, each with their own identifiers within the default rules; events
naming identifiers, processed in a random order while merge steps run at random points (between
events, and between an event's read and its commit: a merge Lambda racing a processor Lambda).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
from cdp.events.raw import partner_event_id
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.identity.merge import STATUS_MERGED, STATUS_MERGING, STATUS_UNMERGED, merge_id_for
from cdp.identity.resolver import REASON_SEPARATED
from cdp.identity.rules import DEFAULT_RULES
from cdp.profiles import processor as processor_module
from cdp.profiles.model import Profile
from cdp.profiles.processor import CommitOutcome
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.fakes import CrashAfterWrite, FailOnce
from tests.unit.builders import WRITE_KEY_SOURCE
from tests.unit.identity_helpers import (
    PROVIDER_A,
    PROVIDER_B,
    World,
    build_world,
    essence,
    line_user,
    partition,
    person_event,
    roots,
    timeline_event_ids,
)

# CDP_PROPERTY_EXAMPLES=2000 for a deeper search (a few minutes); the default keeps the file fast.
PROPERTY_SETTINGS = settings(
    max_examples=int(os.environ.get("CDP_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture(autouse=True, scope="module")
def _no_backoff_sleeps() -> Iterator[None]:
    """The processor backs off with jittered sleeps after a lost race; the fakes need no waiting."""
    saved = processor_module.RETRY_BASE_SECONDS
    processor_module.RETRY_BASE_SECONDS = 0.0
    yield
    processor_module.RETRY_BASE_SECONDS = saved


# people and events ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    index: int
    identifiers: tuple[Identifier, ...]


def _phone(person: int, n: int) -> str:
    return f"+8869{12_000_000 + (person * 3 + n) * 1_234_567 % 87_000_000:08d}"  # valid TW mobiles


@st.composite
def persons(draw: st.DrawFn, index: int, *, member: bool | None = True) -> Person:
    """One person within the default rules: a member id (always, or if `member` is None maybe),
    1-2 emails, 0-2 phones, 1-2 anonymous ids, and at most one LINE user per provider."""
    has_member = draw(st.booleans()) if member is None else member
    identifiers = [Identifier("member_id", f"M{index:04d}")] if has_member else []
    identifiers += [Identifier("email", f"p{index}.{n}@example.com") for n in range(draw(st.integers(1, 2)))]
    identifiers += [Identifier("phone", _phone(index, n)) for n in range(draw(st.integers(0, 2)))]
    identifiers += [Identifier("anonymous_id", f"a-{index}-{n}") for n in range(draw(st.integers(1, 2)))]
    for provider, offset in ((PROVIDER_A, 0), (PROVIDER_B, 500)):
        if draw(st.booleans()):
            identifiers.append(line_identifier(provider, line_user(offset + index)))
    return Person(index, tuple(identifiers))


def populations(*, member: bool | None = True, size: tuple[int, int] = (2, 4)) -> st.SearchStrategy[list[Person]]:
    return st.integers(*size).flatmap(lambda n: st.tuples(*(persons(i, member=member) for i in range(n)))).map(list)


@dataclass(frozen=True)
class Event:
    message_id: str
    identifiers: tuple[Identifier, ...]

    def raw(self) -> Any:
        by_type: dict[str, list[str]] = {}
        for identifier in self.identifiers:
            by_type.setdefault(identifier.type, []).append(identifier.value)
        return person_event(
            self.message_id,
            member=next(iter(by_type.get("member_id", [])), None),
            anon=next(iter(by_type.get("anonymous_id", [])), None),
            emails=by_type.get("email", []),
            phones=by_type.get("phone", []),
            lines=by_type.get("line", []),
            idfas=by_type.get("idfa", []),
            traits={"seen": self.message_id},
            timestamp=f"2024-05-01T09:{int(self.message_id.rpartition('-')[2]) % 60:02d}:00.000Z",
        )


def _one_event(index: int, pool: Sequence[Identifier]) -> st.SearchStrategy[Event]:
    """A non-empty subset of `pool`; a partner call carries one member id and one anonymous id at most."""

    def keep_one_per_single_field(chosen: list[Identifier]) -> Event:
        kept: list[Identifier] = []
        for identifier in sorted(chosen):
            if identifier.type in ("member_id", "anonymous_id") and any(k.type == identifier.type for k in kept):
                continue
            kept.append(identifier)
        return Event(f"e-{index}", tuple(kept))

    return st.lists(st.sampled_from(list(pool)), min_size=1, max_size=2, unique=True).map(keep_one_per_single_field)


@st.composite
def honest_events(draw: st.DrawFn, people: list[Person], per_person: tuple[int, int] = (3, 6)) -> list[Event]:
    """Each event names identifiers of one person only; everyone shows up a few times."""
    events: list[Event] = []
    for person in people:
        for _ in range(draw(st.integers(*per_person))):
            events.append(draw(_one_event(len(events), person.identifiers)))
    return events


@st.composite
def adversarial_events(draw: st.DrawFn, people: list[Person], size: tuple[int, int] = (4, 14)) -> list[Event]:
    """Events that may mix identifiers of two persons (shared devices, typos, fraud)."""
    events: list[Event] = []
    for n in range(draw(st.integers(*size))):
        first, second = draw(st.sampled_from(people)), draw(st.sampled_from(people))
        events.append(draw(_one_event(n, first.identifiers + second.identifiers)))
    return events


# schedules: when merge steps run --------------------------------------------------------------
MergeSteps = list[tuple[bool, int]]  # (during the event's commit?, which pending execution)


def schedules(count: int) -> st.SearchStrategy[list[MergeSteps]]:
    return st.lists(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), max_size=4), min_size=count, max_size=count)


def _advance(world: World, which: int) -> None:
    world.merges.step(which)
    world.clock.advance(1)
    assert_markers(world)


def drive(world: World, events: Sequence[Event], steps: Sequence[MergeSteps]) -> dict[str, int]:
    """Process the events in the given order with merge steps interleaved, then finish every merge."""
    during_merges = 0
    for event, merge_steps in zip(events, steps, strict=True):
        racing = [which for during, which in merge_steps if during]
        for during, which in merge_steps:
            if not during:
                _advance(world, which)
        if racing:  # these run after the processor read the store, before it commits
            world.store.before_commit.append(lambda store, racing=racing: [_advance(world, w) for w in racing])
        during_merges += any(e.state in ("move", "finish") for e in world.merges.pending)
        world.process(event.raw())
        if world.store.before_commit:  # a replay its profile lists ends before committing
            assert world.store.was_applied(event.raw().event_id), "every new event commits"
            world.store.before_commit.pop()(world.store)
        assert_markers(world)
        world.clock.advance(1)
    while world.merges.pending:
        world.merges.run(world.merges.pending[0])
        assert_markers(world)
    return {
        "merges finished": sum(e.status == STATUS_MERGED for e in world.merges.executions.values()),
        "events while a merge was under way": during_merges,
        "commits that lost a race": world.store.outcomes.count(CommitOutcome.PROFILE_CHANGED),
        "steps retried after a failure": sum(e.retries for e in world.merges.executions.values()),
    }


def observe(stats: dict[str, int], run: str = "") -> None:
    """Report what an example exercised (pytest --hypothesis-show-statistics), and steer the search
    towards examples with more merges and more interleaving."""
    for name, count in stats.items():
        hypothesis.event(f"{name}: {'none' if not count else 'some'}")
    hypothesis.target(float(stats["merges finished"]), label=f"merges finished {run}".strip())
    hypothesis.target(float(stats["events while a merge was under way"]), label=f"interleaving {run}".strip())


def assert_markers(world: World) -> None:
    """At any moment: a merge under way has its loser pointing at its survivor and its survivor
    marked as receiving it; a finished merge's loser points at its survivor and holds no events."""
    store = world.store
    for merge_id, ledger in store.ledgers.items():
        survivor, loser = store.profiles[ledger.survivor], store.profiles[ledger.loser]
        if ledger.status == STATUS_MERGING:
            assert loser.merging_into == survivor.profile_id, f"{merge_id}: loser lost `merging_into`"
            assert merge_id in survivor.pending_merges, f"{merge_id}: survivor lost `pending_merges`"
        elif ledger.status == STATUS_MERGED:
            assert loser.merged_into == survivor.profile_id, f"{merge_id}: loser lost `merged_into`"
            assert timeline_event_ids(store, loser.profile_id) == set(), f"{merge_id}: events left on the loser"


# what must always hold ----------------------------------------------------------------------------
def components(events: Sequence[Event]) -> frozenset[frozenset[str]]:
    """Connected components of the graph whose edges join identifiers named by one event."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    for event in events:
        keys = [i.key for i in event.identifiers]
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
        find(keys[0])
    groups: dict[str, set[str]] = {}
    for key in parent:
        groups.setdefault(find(key), set()).add(key)
    return frozenset(frozenset(group) for group in groups.values())


def _identifiers_of(profile: Profile) -> list[Identifier]:
    return [Identifier(d["type"], d["value"]) for d in profile.identifiers.values()]


def assert_consistent(world: World, events: Sequence[Event]) -> None:
    store = world.store
    assert [e.name for e in world.merges.executions.values() if e.state != "done"] == []
    live = roots(store)
    # no root is mid-merge, and each satisfies the rules
    for pid, profile in live.items():
        assert profile.pending_merges == [], pid
        assert DEFAULT_RULES.violations(_identifiers_of(profile)) == [], (pid, sorted(profile.identifiers))
    # every claim leads to a root, and each root lists exactly the identifiers it owns
    assert set(store.claims.values()) <= set(live)
    for pid, profile in live.items():
        assert set(profile.identifiers) == {key for key, owner in store.claims.items() if owner == pid}, pid
    # no event lost or counted twice: each is on exactly one root's timeline, which its count matches
    expected = {partner_event_id(WRITE_KEY_SOURCE, e.message_id) for e in events}
    seen: list[str] = []
    for pid, profile in store.profiles.items():
        on_timeline = timeline_event_ids(store, pid)
        if pid in live:
            assert profile.event_count == len(on_timeline), pid
            seen.extend(on_timeline)
        else:
            assert on_timeline == set(), f"events left on merged profile {pid}"
    assert sorted(seen) == sorted(expected)
    assert sum(p.event_count for p in live.values()) == len(events)


# (a) order independence ---------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(data=st.data())
def test_the_partition_of_identifiers_is_the_same_in_any_order_and_follows_the_events(data: st.DataObject) -> None:
    people = data.draw(populations(size=(1, 3)), label="people")
    events = data.draw(honest_events(people), label="events")
    worlds = []
    for run in ("first", "second"):
        order = data.draw(st.permutations(events), label=f"{run} order")
        # the stream delivers some records twice
        replays = data.draw(st.lists(st.sampled_from(order), max_size=3), label=f"{run} replays")
        for replay in replays:
            order.insert(data.draw(st.integers(order.index(replay) + 1, len(order)), label="replayed at"), replay)
        steps = data.draw(schedules(len(order)), label=f"{run} merge steps")
        world = build_world(**data.draw(failures(), label=f"{run} failure"))
        observe(drive(world, order, steps), run)
        assert_consistent(world, events)
        worlds.append(world)

    first, second = (partition(world.store) for world in worlds)
    assert first == second
    assert first == components(events)


@st.composite
def failures(draw: st.DrawFn) -> dict[str, Any]:
    """Nothing, or one merge step failing once before its write, or a Lambda dying after one."""
    kind = draw(st.sampled_from(["none", "before", "after"]))
    nth = draw(st.integers(1, 2))
    if kind == "before":
        return {"fail_at": FailOnce(draw(st.sampled_from(["move_claims", "move", "finalize"])), nth)}
    if kind == "after":
        method = draw(st.sampled_from(["begin", "move_claims", "move_timeline", "finish"]))

        def crashing(store: Any) -> CrashAfterWrite:
            crash = CrashAfterWrite(store)
            crash.arm(method, nth)
            return crash

        return {"workflow_store": crashing}
    return {}


# (b) rules hold whatever the events say ---------------------------------------------------------
@PROPERTY_SETTINGS
@given(data=st.data())
def test_with_events_mixing_people_every_profile_keeps_the_rules_and_no_event_is_lost(data: st.DataObject) -> None:
    people = data.draw(populations(), label="people")
    events = data.draw(adversarial_events(people), label="events")
    order = data.draw(st.permutations(events), label="order")
    steps = data.draw(schedules(len(events)), label="merge steps")

    world = build_world()
    observe(drive(world, order, steps))

    assert_consistent(world, events)


def _mergeable_pairs(world: World) -> list[tuple[str, str]]:
    """Pairs of roots a merge would not refuse (an admin merging two people by mistake)."""
    live = roots(world.store)
    pairs = [
        (first, second)
        for first in sorted(live)
        for second in sorted(live)
        if first != second
        and not DEFAULT_RULES.violations([*_identifiers_of(live[first]), *_identifiers_of(live[second])])
    ]
    assume(pairs)
    return pairs


# (c) unmerge restores ---------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(data=st.data())
def test_an_unmerge_restores_the_partition_from_before_the_merge(data: st.DataObject) -> None:
    people = data.draw(populations(member=None, size=(2, 3)), label="people")
    events = data.draw(honest_events(people, per_person=(1, 4)), label="events")
    world = build_world()
    drive(world, events, [[] for _ in events])
    before = partition(world.store)
    profiles_before = {pid: essence(p) for pid, p in roots(world.store).items()}
    timelines_before = {pid: timeline_event_ids(world.store, pid) for pid in profiles_before}
    first, second = data.draw(st.sampled_from(_mergeable_pairs(world)), label="merged pair")

    # When two people's profiles are merged (an admin's mistake) and the merge is undone
    world.merges.request(first, second, requested_by="admin:test")
    world.merges.run_pending()
    execution = world.merges.executions[merge_id_for(first, second)]
    assert execution.status == STATUS_MERGED
    assert len(partition(world.store)) == len(before) - 1
    undo = world.merges.unmerge(execution.merge_id)

    # Then the partition, the profiles and their timelines are what they were
    assert undo.status == STATUS_UNMERGED
    assert partition(world.store) == before
    assert {pid: essence(p) for pid, p in roots(world.store).items()} == profiles_before
    assert {pid: timeline_event_ids(world.store, pid) for pid in profiles_before} == timelines_before
    assert_consistent(world, events)
    # and an event naming both is not enough to merge them again
    survivor, loser = (_identifiers_of(world.store.profiles[pid]) for pid in (execution.survivor, execution.loser))
    pairs = [(x, y) for x in survivor for y in loser if x.type != y.type or x.type not in ("member_id", "anonymous_id")]
    if pairs:
        result = world.process(Event("e-999", min(pairs)).raw())
        world.merges.run_pending()
        assert result.merge_from == [] and any(c.reason == REASON_SEPARATED for c in result.conflicts)
        assert len(partition(world.store)) == len(before)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_events_after_a_merge_go_back_with_the_side_they_named_whenever_the_unmerge_runs(
    data: st.DataObject,
) -> None:
    # Given two profiles merged
    people = data.draw(populations(member=None, size=(2, 3)), label="people")
    events = data.draw(honest_events(people, per_person=(1, 4)), label="events")
    world = build_world()
    drive(world, events, [[] for _ in events])
    before = partition(world.store)
    first, second = data.draw(st.sampled_from(_mergeable_pairs(world)), label="merged pair")
    sides = {pid: sorted(_identifiers_of(world.store.profiles[pid])) for pid in (first, second)}
    world.merges.request(first, second, requested_by="admin:test")
    world.merges.run_pending()
    merge = world.merges.executions[merge_id_for(first, second)]
    assert merge.status == STATUS_MERGED

    # When events naming one side each (some with a new identifier) arrive after the merge, while its
    # unmerge starts and runs step by step
    count = data.draw(st.integers(1, 6), label="events after")
    after: list[tuple[Event, str]] = []
    for n in range(count):
        side = data.draw(st.sampled_from([first, second]), label="side")
        event = data.draw(_one_event(100 + n, sides[side]), label="event")
        if data.draw(st.booleans(), label="with a new identifier"):
            # an IDFA: well within its limit, so the event is never a conflict
            event = Event(event.message_id, (*event.identifiers, Identifier("idfa", f"idfa-new-{n}")))
        after.append((event, side))
    undo = world.merges.start_unmerge(merge.merge_id)
    for event, _side in after:
        for _ in range(data.draw(st.integers(0, 2), label="unmerge steps before")):
            world.merges.advance(undo)
            world.clock.advance(1)
        world.process(event.raw())
        world.clock.advance(1)
    world.merges.run(undo)
    world.merges.run_pending()

    # Then each event is with the side it named, with any identifier it brought
    assert undo.status == STATUS_UNMERGED
    for event, side in after:
        event_id = partner_event_id(WRITE_KEY_SOURCE, event.message_id)
        assert event_id in timeline_event_ids(world.store, side), (event.message_id, side)
        for identifier in event.identifiers:
            assert world.store.claims.get(identifier.key) == side, (identifier, side)
    # the identifiers known before the merge are partitioned as they were
    old_keys = {key for group in before for key in group}
    assert {frozenset(group & old_keys) for group in partition(world.store)} - {frozenset()} == before
    assert_consistent(world, [*events, *(event for event, _ in after)])
