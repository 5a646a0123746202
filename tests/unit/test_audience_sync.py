"""Synced LINE audiences: entrants added to the same group, exits replace it, failures recorded and retried."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.adapters.line_api import LineApiError
from cdp.clock import iso_from_ms
from cdp.ingestion.channels import LineChannel
from cdp.profiles.model import Profile, Stamped
from cdp.segments.audience_sync import (
    STATUS_BELOW_MINIMUM,
    STATUS_FAILED,
    STATUS_SYNCED,
    AudienceSync,
    AudienceSyncer,
    net_changes,
    start_sync,
    stop_sync,
)
from cdp.segments.store import MembershipChange

from tests.fakes import FakeProfileStore, FakeSegmentStore

SEGMENT = "gold"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000


def uid(n: int) -> str:
    return f"U{n:032x}"


def at(ms: int) -> str:
    return iso_from_ms(ms)


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.ms = now_ms

    def now_ms(self) -> int:
        return self.ms


class Channels:
    def __init__(self, token: str = "token") -> None:
        self.token = token

    def find(self, name: str) -> LineChannel | None:
        return LineChannel(name, "secret", self.token, "prov") if name == "default" else None


class Audiences:
    """LINE's audience groups: create answers a new id; add is a set union; `fail` raises on the next calls."""

    def __init__(self) -> None:
        self.groups: dict[int, set[str]] = {}
        self.calls: list[tuple[str, int, int]] = []  # (create/add, group, ids)
        self.fail = 0
        self.next_id = 100

    def _maybe_fail(self) -> None:
        if self.fail:
            self.fail -= 1
            raise LineApiError("LINE failed while adding to an audience group (500)", code="line_unavailable")

    def create_audience(self, *, access_token: str, description: str, user_ids: list[str]) -> int:
        self._maybe_fail()
        self.next_id += 1
        self.groups[self.next_id] = set(user_ids)
        self.calls.append(("create", self.next_id, len(user_ids)))
        return self.next_id

    def add_to_audience(self, *, access_token: str, audience_group_id: int, user_ids: list[str]) -> None:
        self._maybe_fail()
        assert 0 < len(user_ids) <= 10_000
        self.groups[audience_group_id] |= set(user_ids)
        self.calls.append(("add", audience_group_id, len(user_ids)))


class World:
    def __init__(self) -> None:
        self.store = FakeSegmentStore()
        self.profiles = FakeProfileStore()
        self.api = Audiences()
        self.clock = Clock(T0)
        self.syncer = AudienceSyncer(self.store, self.profiles, Channels(), self.api, self.clock)

    def person(self, n: int, *, friend: bool = True) -> str:
        pid = f"p{n:05d}"
        p = Profile.new(pid, at(T0))
        value = f"prov:{uid(n)}"
        p.identifiers[f"line:{value}"] = {"type": "line", "value": value, "added_at": at(T0)}
        p.line_accounts[value] = Stamped("friend" if friend else "unfollowed", at(T0), "line:default", "e1")
        self.profiles.profiles[pid] = p
        return pid

    def enter(self, *ns: int, friend: bool = True) -> None:
        for n in ns:
            self.store.enter(SEGMENT, self.person(n, friend=friend), at=at(self.clock.ms), rule_version=1)

    def exit(self, *ns: int) -> None:
        for n in ns:
            self.store.exit(SEGMENT, f"p{n:05d}", at=at(self.clock.ms), rule_version=1)

    def export(self) -> AudienceSync:
        """What the admin export with sync does: a group of the current friends, then the record.

        Ten minutes on first: changes within OVERLAP_MS before the cursor are read again (re-adding
        is harmless), which the tests below would otherwise count as entrants."""
        self.later(10)
        members = sorted(self.store.members_by_segment.get(SEGMENT, {}))
        ids = [uid(int(pid[1:])) for pid in members]
        group = self.api.create_audience(access_token="token", description="d", user_ids=ids)
        now = at(self.clock.ms)
        return start_sync(
            self.store,
            segment_id=SEGMENT,
            channel="default",
            audience_group_id=group,
            description="d",
            uploaded=len(ids),
            built_at=now,
            now=now,
        )

    def record(self) -> dict[str, Any]:
        found = self.store.get_audience_sync(SEGMENT)
        assert found is not None
        return found

    def later(self, minutes: int = 60) -> None:
        self.clock.ms += minutes * MINUTE


@pytest.fixture
def world() -> World:
    return World()


def test_no_sync_record_means_nothing_to_do(world: World) -> None:
    world.enter(*range(60))
    assert world.syncer.sync(SEGMENT) is None
    assert world.api.calls == []


def test_entrants_who_are_friends_are_added_to_the_same_group(world: World) -> None:
    world.enter(*range(60))
    sync = world.export()
    world.later(1)
    world.enter(60, 61)
    world.enter(62, friend=False)  # a member, but not a LINE friend: not reachable
    world.later(59)

    outcome = world.syncer.sync(SEGMENT, rule_version=1)

    assert outcome is not None and outcome.mode == "add" and outcome.added == 2 and outcome.requests == 1
    assert world.api.calls[-1] == ("add", sync.audience_group_id, 2)
    assert world.api.groups[sync.audience_group_id] == {uid(n) for n in range(62)}
    record = world.record()
    assert record["audienceGroupId"] == sync.audience_group_id
    assert (record["status"], record["uploaded"], record["cursor"]) == (STATUS_SYNCED, 62, at(world.clock.ms))
    assert record["lastRun"]["entered"] == 3 and record["lastRun"]["added"] == 2
    assert record["lastRun"]["ruleVersion"] == 1


def test_a_run_without_changes_calls_line_not_at_all_but_moves_the_cursor(world: World) -> None:
    world.enter(*range(60))
    world.export()
    calls = len(world.api.calls)
    world.later()
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and (outcome.mode, outcome.added) == ("add", 0)
    assert len(world.api.calls) == calls
    assert world.record()["lastSyncedAt"] == at(world.clock.ms)


def test_changes_older_than_the_export_are_not_sent_again_beyond_the_overlap(world: World) -> None:
    world.enter(*range(60))
    world.export()  # ten minutes after they entered
    world.later()
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and outcome.added == 0


def test_changes_just_before_the_export_are_sent_again(world: World) -> None:
    world.enter(*range(60))
    world.export()
    world.later(-2)
    world.enter(60)  # two minutes before the export's cursor: maybe missed by its member listing
    world.later(62)
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and outcome.added == 1


def test_entrants_are_sent_in_chunks_of_10000(world: World) -> None:
    world.enter(*range(60))
    sync = world.export()
    world.later(1)
    world.enter(*range(1000, 1000 + 10_050))
    world.later()
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and (outcome.added, outcome.requests) == (10_050, 2)
    assert world.api.calls[-2:] == [("add", sync.audience_group_id, 10_000), ("add", sync.audience_group_id, 50)]


def test_an_exit_replaces_the_group_with_the_current_members(world: World) -> None:
    world.enter(*range(60))
    old = world.export()
    world.later(1)
    world.exit(0, 1)
    world.enter(70)
    world.later()

    outcome = world.syncer.sync(SEGMENT)

    assert outcome is not None and outcome.mode == "replace"
    assert outcome.replaced_audience_group_id == old.audience_group_id
    new = outcome.audience_group_id
    assert new != old.audience_group_id
    assert world.api.groups[new] == {uid(n) for n in [*range(2, 60), 70]}
    record = world.record()
    assert record["audienceGroupId"] == new and record["replacedAudienceGroupId"] == old.audience_group_id
    assert (record["status"], record["stale"], record["uploaded"]) == (STATUS_SYNCED, False, 59)
    assert record["builtAt"] == at(world.clock.ms)

    # the same exits, read again within the overlap, are older than the new group: nothing to do
    world.later(2)
    again = world.syncer.sync(SEGMENT)
    assert again is not None and (again.mode, again.audience_group_id) == ("add", new)


def test_someone_who_left_and_came_back_needs_no_new_group(world: World) -> None:
    world.enter(*range(60))
    sync = world.export()
    world.later(1)
    world.exit(5)
    world.later(1)
    world.store.enter(SEGMENT, "p00005", at=at(world.clock.ms), rule_version=1)
    world.later()
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and outcome.mode == "add" and outcome.audience_group_id == sync.audience_group_id


def test_below_the_minimum_the_old_group_is_kept_and_replaced_once_big_enough(world: World) -> None:
    world.enter(*range(50))
    old = world.export()
    world.later(1)
    world.exit(0, 1)
    world.enter(99)
    world.later()

    kept = world.syncer.sync(SEGMENT)

    assert kept is not None and kept.mode == "keep" and kept.audience_group_id == old.audience_group_id
    record = world.record()
    assert (record["status"], record["stale"], record["audienceGroupId"]) == (
        STATUS_BELOW_MINIMUM,
        True,
        old.audience_group_id,
    )
    assert record["lastError"]["code"] == "audience_too_small"
    assert uid(99) in world.api.groups[old.audience_group_id]  # newcomers still reach the old group

    world.later()
    world.enter(100, 101)
    world.later()
    replaced = world.syncer.sync(SEGMENT)
    assert replaced is not None and replaced.mode == "replace"
    assert world.api.groups[replaced.audience_group_id] == {uid(n) for n in [*range(2, 50), 99, 100, 101]}
    assert world.record()["status"] == STATUS_SYNCED and world.record()["stale"] is False


def test_a_line_failure_is_recorded_and_the_next_run_uploads_what_was_missed(world: World) -> None:
    world.enter(*range(60))
    sync = world.export()
    cursor = world.record()["cursor"]
    world.later(1)
    world.enter(60)
    world.later()
    world.api.fail = 1

    failed = world.syncer.sync(SEGMENT)

    assert failed is not None and failed.mode == "failed" and failed.error is not None
    record = world.record()
    assert record["status"] == STATUS_FAILED and record["lastError"]["code"] == "line_unavailable"
    assert record["cursor"] == cursor  # nothing was uploaded past it
    assert uid(60) not in world.api.groups[sync.audience_group_id]

    world.later()
    world.enter(61)
    world.later()
    retried = world.syncer.sync(SEGMENT)
    assert retried is not None and (retried.mode, retried.added) == ("add", 2)
    assert {uid(60), uid(61)} <= world.api.groups[sync.audience_group_id]
    assert world.record()["status"] == STATUS_SYNCED and world.record()["lastError"] is None


def test_a_failed_replacement_is_retried(world: World) -> None:
    world.enter(*range(60))
    old = world.export()
    world.later(1)
    world.exit(3)
    world.later()
    world.api.fail = 1
    assert (failed := world.syncer.sync(SEGMENT)) is not None and failed.mode == "failed"
    world.later()
    retried = world.syncer.sync(SEGMENT)
    assert retried is not None and retried.mode == "replace"
    assert retried.replaced_audience_group_id == old.audience_group_id
    assert uid(3) not in world.api.groups[retried.audience_group_id]


def test_a_missing_channel_is_a_recorded_failure(world: World) -> None:
    world.enter(*range(60))
    world.export()
    world.syncer = AudienceSyncer(world.store, world.profiles, Channels(token=""), world.api, world.clock)
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and outcome.mode == "failed"
    assert world.record()["lastError"]["code"] == "line_channel_not_found"


def test_a_record_changed_during_the_run_is_not_overwritten(world: World) -> None:
    world.enter(*range(60))
    world.export()
    world.later(1)
    world.enter(60)
    world.later()

    original = world.store.put_audience_sync

    def stopped_meanwhile(segment_id: str, record: dict[str, Any], *, replacing: str | None) -> bool:
        stop_sync(world.store, segment_id)  # the operator stops the sync while the run uploads
        return original(segment_id, record, replacing=replacing)

    world.store.put_audience_sync = stopped_meanwhile  # type: ignore[method-assign]
    outcome = world.syncer.sync(SEGMENT)
    assert outcome is not None and outcome.saved is False
    assert world.store.get_audience_sync(SEGMENT) is None


def test_a_new_synced_export_replaces_the_previous_sync(world: World) -> None:
    world.enter(*range(60))
    first = world.export()
    world.later()
    second = world.export()
    record = world.record()
    assert record["audienceGroupId"] == second.audience_group_id
    assert record["replacedAudienceGroupId"] == first.audience_group_id
    assert stop_sync(world.store, SEGMENT) is not None
    assert stop_sync(world.store, SEGMENT) is None


def test_the_record_survives_a_round_trip() -> None:
    sync = AudienceSync(SEGMENT, "default", 7, "d", at(T0), at(T0), at(T0), 3, at(T0), stale=True)
    assert AudienceSync.from_dict(sync.as_dict()) == sync


def test_net_changes_keep_each_persons_latest_action() -> None:
    changes = [
        MembershipChange(SEGMENT, "a", "entered", at(T0), 1),
        MembershipChange(SEGMENT, "a", "exited", at(T0 + 1), 1),
        MembershipChange(SEGMENT, "b", "exited", at(T0), 1),
        MembershipChange(SEGMENT, "b", "entered", at(T0 + 1), 1),
        MembershipChange(SEGMENT, "c", "entered", at(T0), 1),
        MembershipChange(SEGMENT, "c", "exited", at(T0), 1),  # same millisecond: assume gone
    ]
    latest = net_changes(changes)
    assert {pid: c.action for pid, c in latest.items()} == {"a": "exited", "b": "entered", "c": "exited"}


class _Report:
    def __init__(self, segment_id: str) -> None:
        self.segment_id, self.rule_version = segment_id, 1


class _Outcome:
    mode = "delta"

    def __init__(self, segment_id: str) -> None:
        self.segment_id = segment_id

    def as_dict(self) -> dict[str, str]:
        return {"segment_id": self.segment_id, "mode": self.mode}


class _Syncer:
    """Syncs `ok`, has no audience for `none`, fails on anything else."""

    def sync(self, segment_id: str, *, rule_version: int | None = None) -> _Outcome | None:
        if segment_id == "ok":
            return _Outcome(segment_id)
        if segment_id == "none":
            return None
        raise RuntimeError("LINE is down")


def test_syncing_after_a_recompute_never_fails_it() -> None:
    from cdp.segments.audience_sync import sync_recomputed

    reports = [_Report("ok"), _Report("none"), _Report("broken")]
    assert sync_recomputed(reports, lambda: _Syncer()) == [  # type: ignore[arg-type,return-value]
        {"segment_id": "ok", "mode": "delta"},
        {"segment_id": "broken", "mode": "error"},
    ]
    assert sync_recomputed(reports, lambda: None) == []  # no LINE channels in this deployment

    def misconfigured() -> None:
        raise RuntimeError("no such secret")

    assert sync_recomputed(reports, misconfigured) == []
    built: list[bool] = []
    assert sync_recomputed([], lambda: built.append(True)) == [] and not built  # type: ignore[func-returns-value]
