"""The scheduled RFM run over the archive agrees with the reference scoring (cdp.profiles.rfm)
and writes only what changed, as `identify` events that do not count as the person being seen."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cdp.archive.duck import write_parquet
from cdp.archive.files import ArchiveFiles
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, padded_seq, profile_row
from cdp.archive.snapshot import ArchiveView, SnapshotFiles, build_snapshot
from cdp.events.canonical import CanonicalEvent
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import Identifier
from cdp.profiles.computed import computed_traits
from cdp.profiles.model import Profile, Stamped, apply_event
from cdp.profiles.rfm import rfm_for_profiles
from cdp.profiles.rfm_job import RFM_SOURCE, RfmJob, rfm_traits

from tests.fakes import FakeProfileStore, FixedClock
from tests.unit.builders import canonical

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)  # FixedClock's time


class Sink:
    def __init__(self) -> None:
        self.events: dict[str, RawEvent] = {}

    def store_once(self, events: list[RawEvent]) -> list[bool]:
        stored = [event.event_id not in self.events for event in events]
        self.events.update({event.event_id: event for event in events})
        return stored


class Archive:
    def __init__(self, folder: Path, store: FakeProfileStore, *, snapshot: bool = True) -> None:
        self.folder, self.store, self.snapshot = folder, store, snapshot

    def fetch_view(self) -> ArchiveView:
        rows = [profile_row(p, padded_seq(str(n)), NOW) for n, p in enumerate(self.store.profiles.values())]
        write_parquet(rows, PROFILE_COLUMNS, self.folder / "p.parquet")
        write_parquet([], EVENT_COLUMNS, self.folder / "e.parquet")
        files = ArchiveFiles((self.folder / "p.parquet",), (self.folder / "e.parquet",))
        if not self.snapshot:  # everything is changes: open_archive's path
            return ArchiveView(None, files, NOW)
        build_snapshot(None, files, self.folder / "snapshot", NOW.date())  # the snapshot path
        return ArchiveView(SnapshotFiles.in_folder(self.folder / "snapshot"), ArchiveFiles((), ()), NOW)


def _population(store: FakeProfileStore) -> None:
    for n in range(40):
        profile = Profile.new(f"p{n:02d}", "2023-01-01T00:00:00.000Z")
        profile.identifiers = {f"member_id:M{n}": {"type": "member_id", "value": f"M{n}", "added_at": "x"}}
        for k in range(n % 6):  # 0..5 orders, older for higher n
            at = (NOW - timedelta(days=(n * 9 + k * 17) % 500)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            order = replace(
                canonical(event_id=f"o{n}-{k}", timestamp=at, event="Order Completed", channel="pos"),
                properties={"revenue": 300 + 97 * ((n * 7 + k) % 13)},
            )
            apply_event(profile, order, [Identifier("member_id", f"M{n}")], at)
        store.seed(profile)
    merged = store.profiles["p39"]
    merged.merged_into = "p38"


@pytest.mark.parametrize("snapshot", [True, False], ids=["snapshot", "changes-only"])
def test_scores_match_the_reference_and_a_rerun_writes_nothing(tmp_path: Path, snapshot: bool) -> None:
    store, sink = FakeProfileStore(), Sink()
    _population(store)
    job = RfmJob(Archive(tmp_path, store, snapshot=snapshot), store, sink, FixedClock(), window_days=365)
    report = job.run()

    now = "2024-05-01T12:00:00.000Z"
    expected = rfm_for_profiles(store.profiles.values(), now=now, window_days=365)
    assert report.profiles == len(expected) == 39
    assert sum(report.groups.values()) == 39 and report.groups.get("none", 0) >= 1
    written = {event.payload["context"]["externalIds"][0]["id"]: event.payload for event in sink.events.values()}
    assert report.changed == report.written == len(written) == 39
    for profile_id, score in expected.items():
        payload = written[f"M{int(profile_id[1:])}"]
        assert payload["type"] == "identify" and payload["traits"] == rfm_traits(score, 365)
        assert payload["context"]["channel"] == "system"
    assert {event.source for event in sink.events.values()} == {RFM_SOURCE}

    assert job.run().written == 0  # the same day, the same scores: the same event ids

    # once the processor has applied them, nothing has changed any more
    for event in sink.events.values():
        member = event.payload["context"]["externalIds"][0]["id"]
        profile = store.profiles[f"p{int(member[1:]):02d}"]
        for name, value in event.payload["traits"].items():
            profile.traits[name] = Stamped(value, now, RFM_SOURCE, event.event_id)
    rerun = job.run()
    assert (rerun.changed, rerun.written) == (0, 0)
    champion = next(
        p for p in store.profiles.values() if p.traits.get("rfm_group", Stamped(0, "", "", "")).value == "champions"
    )
    rfm = computed_traits(champion, now)["rfm"]
    assert rfm["group"] == "champions" and rfm["window_days"] == 365 and rfm["scored_at"] == now


def test_a_system_event_is_not_the_person_being_seen() -> None:
    profile = Profile.new("p1", "2024-01-01T00:00:00.000Z")
    seen = canonical(event_id="e1", timestamp="2024-04-01T00:00:00.000Z", event="Product Viewed", channel="web")
    apply_event(profile, seen, [Identifier("member_id", "M1")], "now")
    scored: CanonicalEvent = replace(
        canonical(event_id="e2", timestamp="2024-05-01T00:00:00.000Z", type="identify", event=None, channel="system"),
        traits={"rfm_group": "new"},
    )
    changes = apply_event(profile, scored, [], "now")
    assert changes == ["trait:rfm_group"]
    assert profile.last_seen_at == "2024-04-01T00:00:00.000Z" and profile.channels == {"web": 1}
    assert computed_traits(profile, "2024-05-01T00:00:00.000Z")["channel_mix"] == "online_only"
