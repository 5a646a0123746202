"""Real-time segments on fakes: selection by reads, enter / exit under replay, merges, in_segment, time."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from cdp.domain_events import SEGMENT_ENTERED, SEGMENT_EXITED
from cdp.errors import BadRequest
from cdp.identity.merge import TimelineEntry
from cdp.profiles.model import Profile, Stamped
from cdp.segments.realtime import SegmentEvaluator, affected
from cdp.segments.rules import parse_rule, reads
from cdp.segments.store import SegmentDefinition
from cdp.settings import SegmentEvaluatorSettings, SettingsError

from tests.fakes import FakeProfileStore, FakePublisher, FakeSegmentStore, FixedClock
from tests.unit.builders import NOW_ISO, canonical

DAY_MS = 86_400_000
CITY_TAIPEI = {"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}}
TIER_GOLD = {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}}
BOUGHT_TODAY = {"event": {"name": "Order Completed", "within": {"last": {"days": 1}}}}


def reads_of(rule: dict[str, Any]) -> Any:
    return reads(parse_rule(rule))


@dataclasses.dataclass
class World:
    segments: FakeSegmentStore
    profiles: FakeProfileStore
    publisher: FakePublisher
    clock: FixedClock
    evaluator: SegmentEvaluator
    timeline_reads: list[str]

    def define(self, segment_id: str, rule: dict[str, Any]) -> SegmentDefinition:
        definition = SegmentDefinition.create(segment_id, segment_id.title(), rule, NOW_ISO)
        assert self.segments.create(definition)
        return definition

    def person(self, profile_id: str, version: int = 1, **traits: Any) -> Profile:
        profile = Profile.new(profile_id, NOW_ISO)
        profile.version = version
        profile.traits = {name: Stamped(value, NOW_ISO, "test", f"e-{name}") for name, value in traits.items()}
        return self.profiles.seed(profile)

    def order(self, profile_id: str, timestamp: str) -> None:
        event = canonical(event_id=f"o-{timestamp}", timestamp=timestamp, event="Order Completed")
        entry = TimelineEntry(profile_id, f"EVENT#{timestamp}#{event.event_id}", event.as_dict(), timestamp)
        self.profiles.timelines.setdefault(profile_id, {})[entry.sort_key] = entry

    def published(self) -> list[tuple[str, str, str]]:
        return [(e.name, e.detail["segmentId"], e.detail["profileId"]) for e in self.publisher.published]


@pytest.fixture
def world() -> World:
    segments, profiles, publisher, clock = FakeSegmentStore(), FakeProfileStore(), FakePublisher(), FixedClock()
    timeline_reads: list[str] = []
    original = profiles.timeline

    def counted(profile_id: str) -> list[TimelineEntry]:
        timeline_reads.append(profile_id)
        return original(profile_id)

    profiles.timeline = counted  # type: ignore[method-assign]
    evaluator = SegmentEvaluator(segments, profiles, publisher, clock)
    return World(segments, profiles, publisher, clock, evaluator, timeline_reads)


# selection ----------------------------------------------------------------------------------------
def test_a_change_selects_only_the_rules_that_read_it() -> None:
    assert affected(reads_of(CITY_TAIPEI), ["trait:city"])
    assert not affected(reads_of(CITY_TAIPEI), ["trait:tier", "orders", "line_status", "identifier:email"])
    nested = {"attribute": {"field": "traits.address.city", "op": "exists"}}
    assert affected(reads_of(nested), ["trait:address"])
    spent = {"attribute": {"field": "computed.revenue.30d", "op": "gt", "value": 3000}}
    assert affected(reads_of(spent), ["orders"]) and not affected(reads_of(spent), ["line_engagement"])
    assert affected(reads_of(BOUGHT_TODAY), ["orders"]) and not affected(reads_of(BOUGHT_TODAY), ["trait:city"])
    email = {"reachable": {"channel": "email"}}
    assert affected(reads_of(email), ["identifier:email"]) and affected(reads_of(email), ["consent:email:marketing"])
    assert not affected(reads_of(email), ["consent:sms:marketing", "identifier:line"])
    line = {"reachable": {"channel": "line"}}
    assert affected(reads_of(line), ["line_status"]) and not affected(reads_of(line), ["channel_mix"])
    mix = {"attribute": {"field": "computed.channel_mix", "op": "eq", "value": "omnichannel"}}
    assert affected(reads_of(mix), ["channel_mix"]) and not affected(reads_of(mix), ["orders"])
    clicks = {"attribute": {"field": "computed.line_engagement.clicks", "op": "gte", "value": 1}}
    assert affected(reads_of(clicks), ["line_engagement"]) and not affected(reads_of(clicks), ["orders"])
    tag = {"tag": {"group": "asked"}}
    assert affected(reads_of(tag), ["tag:asked:price"]) and not affected(reads_of(tag), ["tag:vip"])


def test_no_change_names_an_unknown_change_or_an_untracked_input_evaluates_everything() -> None:
    assert affected(reads_of(CITY_TAIPEI), [])
    assert affected(reads_of(CITY_TAIPEI), ["something_new"])
    seen = {"attribute": {"field": "computed.last_seen_at", "op": "within_last", "value": {"days": 7}}}
    assert affected(reads_of(seen), ["trait:tier"])  # moves with every folded event
    viewed = {"event": {"name": "Product Viewed"}}
    assert affected(reads_of(viewed), ["trait:tier"])  # profile.updated does not say which event


def test_only_the_affected_segments_are_evaluated_and_events_are_loaded_only_when_needed(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    world.define("gold", TIER_GOLD)
    world.define("buyers", BOUGHT_TODAY)
    world.person("p1", city="Taipei")

    result = world.evaluator.on_profile_changed("p1", ["trait:city"])
    assert result.evaluated == ["taipei"] and result.entered == ["taipei"]
    assert world.timeline_reads == []
    assert world.published() == [(SEGMENT_ENTERED, "taipei", "p1")]

    result = world.evaluator.on_profile_changed("p1", ["orders"])
    assert result.evaluated == ["buyers"] and world.timeline_reads == ["p1"]


# enter / exit ---------------------------------------------------------------------------------------
def test_enter_and_exit_are_published_once_under_replay_with_stable_ids(world: World) -> None:
    definition = world.define("taipei", CITY_TAIPEI)
    world.person("p1", version=3, city="Taipei")

    world.evaluator.on_profile_changed("p1", ["trait:city"])
    world.evaluator.on_profile_changed("p1", ["trait:city"])  # the same profile.updated again
    (entered,) = world.publisher.published
    assert entered.name == SEGMENT_ENTERED and entered.id == "taipei:p1:entered:1:3"
    assert entered.detail["ruleVersion"] == definition.version and entered.detail["profileVersion"] == 3
    assert [m.segment_id for m in world.segments.memberships("p1")] == ["taipei"]
    assert world.segments.memberships("p1")[0].entered_at == NOW_ISO

    world.person("p1", version=4, city="Kaohsiung")
    for _replay in range(2):
        world.evaluator.on_profile_changed("p1", ["trait:city"])
    assert [e.id for e in world.publisher.named(SEGMENT_EXITED)] == ["taipei:p1:exited:1:4"]
    assert world.segments.memberships("p1") == []
    assert [(h[0], h[1], h[2]) for h in world.segments.history] == [
        ("taipei", "p1", "entered"),
        ("taipei", "p1", "exited"),
    ]


def test_a_crash_after_publishing_republishes_the_same_id_and_writes_once(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    world.person("p1", version=2, city="Taipei")
    enter = world.segments.enter
    calls = {"n": 0}

    def crash_once(*args: Any, **kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("crashed before the write")
        return enter(*args, **kwargs)

    world.segments.enter = crash_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        world.evaluator.on_profile_changed("p1", ["trait:city"])
    world.evaluator.on_profile_changed("p1", ["trait:city"])  # the retry
    world.evaluator.on_profile_changed("p1", ["trait:city"])  # and a late duplicate
    assert [e.id for e in world.publisher.published] == ["taipei:p1:entered:1:2"] * 2  # consumers dedup on id
    assert len(world.segments.history) == 1


def test_archived_segments_are_not_evaluated(world: World) -> None:
    definition = world.define("taipei", CITY_TAIPEI)
    world.segments.replace(definition.archived(NOW_ISO), expected_version=1)
    world.person("p1", city="Taipei")
    assert world.evaluator.on_profile_changed("p1", []).evaluated == []


def test_definitions_are_cached_for_thirty_seconds(world: World) -> None:
    world.person("p1", city="Taipei")
    assert world.evaluator.on_profile_changed("p1", []).evaluated == []
    world.define("taipei", CITY_TAIPEI)
    world.clock.advance(10_000)
    assert world.evaluator.on_profile_changed("p1", []).evaluated == []
    world.clock.advance(21_000)
    assert world.evaluator.on_profile_changed("p1", []).entered == ["taipei"]


def test_a_clock_set_back_reloads_the_definitions(world: World) -> None:
    world.person("p1", city="Taipei")
    assert world.evaluator.on_profile_changed("p1", []).evaluated == []
    world.define("taipei", CITY_TAIPEI)
    world.clock.advance(-61_000)  # the local stack's virtual clock put back on real time
    assert world.evaluator.on_profile_changed("p1", []).entered == ["taipei"]


# in_segment -------------------------------------------------------------------------------------------
def test_in_segment_reads_memberships_and_follows_a_change_in_the_same_pass(world: World) -> None:
    world.define("gold-in-taipei", {"and": [{"in_segment": {"segment_id": "gold"}}, CITY_TAIPEI]})
    world.define("gold", TIER_GOLD)
    world.person("p1", city="Taipei", tier="gold")

    # trait:tier does not touch gold-in-taipei's own reads, but gold's membership moved first
    result = world.evaluator.on_profile_changed("p1", ["trait:tier"])
    assert result.evaluated == ["gold", "gold-in-taipei"]
    assert result.entered == ["gold", "gold-in-taipei"]

    # later, a city change reads the stored membership of gold from the per-profile index
    world.person("p1", version=2, city="Tainan", tier="gold")
    result = world.evaluator.on_profile_changed("p1", ["trait:city"])
    assert result.evaluated == ["gold-in-taipei"] and result.exited == ["gold-in-taipei"]
    world.person("p1", version=3, city="Taipei", tier="gold")
    assert world.evaluator.on_profile_changed("p1", ["trait:city"]).entered == ["gold-in-taipei"]


# time -----------------------------------------------------------------------------------------------
def test_relative_windows_follow_the_clock(world: World) -> None:
    world.define("buyers", BOUGHT_TODAY)
    world.person("p1")
    world.order("p1", NOW_ISO)
    world.clock.advance(3_600_000)
    assert world.evaluator.on_profile_changed("p1", ["orders"]).entered == ["buyers"]
    world.clock.advance(DAY_MS)
    assert world.evaluator.on_profile_changed("p1", []).exited == ["buyers"]
    assert world.segments.history[-1][3] == "2024-05-02T12:00:00.000Z"


# merges ---------------------------------------------------------------------------------------------
def test_a_merge_exits_the_losers_memberships_and_re_evaluates_the_survivor(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    world.define("gold", TIER_GOLD)
    world.person("loser", city="Taipei")
    world.person("survivor", tier="gold")
    world.evaluator.on_profile_changed("loser", [])
    world.evaluator.on_profile_changed("survivor", [])
    assert [m.segment_id for m in world.segments.memberships("loser")] == ["taipei"]

    # the merge: the survivor holds both people's traits, the loser points at it
    world.person("survivor", version=5, city="Taipei", tier="gold")
    loser = world.profiles.get("loser")
    assert loser is not None
    loser.merged_into, loser.version = "survivor", 2
    world.profiles.seed(loser)
    world.publisher.published.clear()

    result = world.evaluator.on_profile_merged("survivor", "loser")
    assert result.exited_elsewhere == {"loser": ["taipei"]}
    assert result.entered == ["taipei"]
    assert world.segments.memberships("loser") == []
    assert sorted(m.segment_id for m in world.segments.memberships("survivor")) == ["gold", "taipei"]
    assert sorted(e.id for e in world.publisher.published) == [
        "taipei:loser:exited:1:2",
        "taipei:survivor:entered:1:5",
    ]
    assert world.publisher.named(SEGMENT_EXITED)[0].detail["reason"] == "merged"

    # replayed: nothing more
    world.publisher.published.clear()
    world.evaluator.on_profile_merged("survivor", "loser")
    assert world.publisher.published == []


def test_a_change_on_a_merged_away_id_follows_the_pointer(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    world.person("survivor", city="Taipei")
    loser = world.person("loser", city="Taipei")
    world.evaluator.on_profile_changed("loser", [])
    loser.merged_into = "survivor"
    world.profiles.seed(loser)

    result = world.evaluator.on_profile_changed("loser", ["trait:city"])
    assert result.profile_id == "survivor" and result.entered == ["taipei"]
    assert result.exited_elsewhere == {"loser": ["taipei"]}


def test_an_unmerge_evaluates_both_people(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    world.person("a", city="Taipei")
    world.person("b", city="Taipei")
    results = world.evaluator.on_profile_unmerged("a", "b")
    assert [(r.profile_id, r.entered) for r in results] == [("a", ["taipei"]), ("b", ["taipei"])]


def test_a_missing_profile_changes_nothing(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    result = world.evaluator.on_profile_changed("nobody", [])
    assert result.profile_id is None and world.publisher.published == []


# definitions ----------------------------------------------------------------------------------------
def test_definitions_validate_id_name_and_rule_and_record_what_they_read() -> None:
    definition = SegmentDefinition.create("vip-tw", " VIP ", {"and": [CITY_TAIPEI, BOUGHT_TODAY]}, NOW_ISO)
    assert definition.name == "VIP" and definition.version == 1 and definition.status == "active"
    assert definition.reads["traits"] == ["city"] and definition.reads["events"] == ["Order Completed"]
    assert definition.reads["time"] is True
    assert SegmentDefinition.from_dict(definition.as_dict()) == definition
    revised = definition.revised("VIP", TIER_GOLD, "2026-01-01T00:00:00.000Z")
    assert revised.version == 2 and revised.reads["traits"] == ["tier"] and revised.created_at == NOW_ISO
    for bad_id in ("VIP", "-x", "", "a" * 65, 3, "a b"):
        with pytest.raises(BadRequest) as caught:
            SegmentDefinition.create(bad_id, "x", CITY_TAIPEI, NOW_ISO)
        assert caught.value.code == "invalid_segment_id"
    with pytest.raises(BadRequest) as caught:
        SegmentDefinition.create("ok", "", CITY_TAIPEI, NOW_ISO)
    assert caught.value.code == "invalid_segment_name"
    with pytest.raises(BadRequest) as caught:
        SegmentDefinition.create("ok", "x", {"and": [CITY_TAIPEI, {"tag": {}}]}, NOW_ISO)
    assert caught.value.code == "invalid_segment_rule" and caught.value.details["path"] == "/and/1/tag"


def test_the_fake_store_pages_members(world: World) -> None:
    for profile_id in ("p1", "p2", "p3"):
        assert world.segments.enter("s", profile_id, at=NOW_ISO, rule_version=1)
    page, cursor = world.segments.members("s", limit=2)
    assert [m.profile_id for m in page] == ["p1", "p2"] and cursor == "p2"
    page, cursor = world.segments.members("s", limit=2, after=cursor)
    assert [m.profile_id for m in page] == ["p3"] and cursor is None
    assert world.segments.count_members("s") == 3


def test_settings_read_the_core_table_and_the_bus() -> None:
    settings = SegmentEvaluatorSettings.from_env({"CDP_CORE_TABLE": "core", "CDP_EVENT_BUS_NAME": "bus"})
    assert (settings.core_table, settings.event_bus_name) == ("core", "bus")
    with pytest.raises(SettingsError):
        SegmentEvaluatorSettings.from_env({"CDP_CORE_TABLE": "core"})


def test_a_lagging_per_profile_index_does_not_hide_a_membership_to_decide(world: World) -> None:
    world.define("taipei", CITY_TAIPEI)
    world.person("p1", version=1, city="Taipei")
    assert world.evaluator.on_profile_changed("p1", ["trait:city"]).entered == ["taipei"]
    world.segments.memberships = lambda profile_id: []  # type: ignore[method-assign]  # the gsi has not caught up

    world.person("p1", version=2, city="Tainan")
    assert world.evaluator.on_profile_changed("p1", ["trait:city"]).exited == ["taipei"]
    world.person("p1", version=3, city="Taipei")
    world.evaluator.on_profile_changed("p1", ["trait:city"])
    world.evaluator.on_profile_changed("p1", ["trait:city"])  # replayed before the index catches up
    assert [e.id for e in world.publisher.published] == [
        "taipei:p1:entered:1:1",
        "taipei:p1:exited:1:2",
        "taipei:p1:entered:1:3",
    ]


def test_a_merged_away_profile_leaves_archived_segments_and_ones_the_index_has_not_caught_up_with(
    world: World,
) -> None:
    archived = world.define("old", TIER_GOLD)
    world.define("taipei", CITY_TAIPEI)
    assert world.segments.enter("old", "loser", at=NOW_ISO, rule_version=1)
    world.segments.replace(archived.archived(NOW_ISO), expected_version=1)
    world.person("survivor")
    loser = world.person("loser", version=4, city="Taipei")
    world.evaluator.on_profile_changed("loser", ["trait:city"])
    world.segments.memberships = lambda profile_id: []  # type: ignore[method-assign]  # the gsi lags
    loser.merged_into = "survivor"
    world.profiles.seed(loser)

    result = world.evaluator.on_profile_merged("survivor", "loser")
    assert result.exited_elsewhere == {"loser": ["old", "taipei"]}
    assert world.segments.member_of("loser", ["old", "taipei"]) == set()
    assert [e.id for e in world.publisher.named(SEGMENT_EXITED)] == ["old:loser:exited:2:4", "taipei:loser:exited:1:4"]
