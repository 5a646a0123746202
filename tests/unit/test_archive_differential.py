"""The archive path agrees with the real-time evaluator: profiles folded from generated events
are archived (rows -> Parquet -> DuckDB with windows completed at `now`) and every generated
rule selects exactly the profiles the Python evaluator selects on the live profile objects."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cdp.archive.duck import ArchiveFiles, open_archive, write_parquet
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, event_removal, event_row, profile_row
from cdp.archive.snapshot import ArchiveView, SnapshotFiles, build_snapshot, open_view
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.profiles.model import Profile, Stamped, apply_event
from cdp.segments import evaluate, parse_rule, to_select
from cdp.segments.facts import event_fact, facts_from_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.builders import canonical
from tests.unit.test_segment_rules_differential import RULES

NOW = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
ARCHIVED_AT = NOW - timedelta(days=3)  # the archive is older than the evaluation: windows must move
NAMES = ("Order Completed", "Link Clicked", "Product Viewed")
CHANNELS = ("web", "pos", "line", "app")
# minutes before NOW; includes the 30/90/365-day day edges and the future
OFFSETS = st.one_of(
    st.integers(-600, 400 * 1440),
    st.sampled_from(
        [m + d for m in (29 * 1440, 30 * 1440, 89 * 1440, 90 * 1440, 364 * 1440, 365 * 1440) for d in (-331, 0, 331)]
    ),
)
EVENT = st.tuples(
    st.sampled_from(NAMES),
    OFFSETS,
    st.sampled_from(CHANNELS),
    st.one_of(st.none(), st.integers(0, 6000), st.sampled_from([99.5, 1200.25, 3000.0])),
    st.sampled_from([None, "s1", "s2"]),
)
PERSON = st.tuples(
    st.lists(EVENT, max_size=10),
    st.dictionaries(st.sampled_from(("city", "age", "name")), st.sampled_from(["Taipei", 31, "Amy", True]), max_size=2),
    st.sets(st.sampled_from(("vip", "asked:size", "source:store-taipei-101")), max_size=2),
    st.sampled_from([None, "friend", "blocked"]),
    st.dictionaries(st.sampled_from(("email:marketing", "line:marketing")), st.booleans(), max_size=2),
    st.booleans(),  # merged away
)


def _computed_rule(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(
        st.sampled_from(
            [
                *(f"computed.orders.{w}" for w in ("all_time", "30d", "90d", "365d")),
                *(f"computed.revenue.{w}" for w in ("all_time", "30d", "90d", "365d")),
                "computed.ltv",
                "computed.average_order_value",
                "computed.line_engagement.clicks",
            ]
        )
    )
    op = draw(st.sampled_from(["eq", "gt", "gte", "lt", "exists", "not_exists"]))
    if op in ("exists", "not_exists"):
        return {"attribute": {"field": field, "op": op}}
    return {"attribute": {"field": field, "op": op, "value": draw(st.sampled_from([0, 1, 2, 1200.25, 3000, 5000]))}}


@st.composite
def archive_rules(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["computed", "time", "mix", "event", "generic"]))
    if kind == "computed":
        return _computed_rule(draw)
    if kind == "time":
        field = draw(st.sampled_from(["computed.last_purchase_at", "computed.first_seen_at", "computed.last_seen_at"]))
        op = draw(st.sampled_from(["within_last", "before_last"]))
        return {"attribute": {"field": field, "op": op, "value": {"days": draw(st.sampled_from([1, 30, 90]))}}}
    if kind == "mix":
        return {
            "attribute": {
                "field": "computed.channel_mix",
                "op": "eq",
                "value": draw(st.sampled_from(["omnichannel", "online_only", "offline_only"])),
            }
        }
    if kind == "event":
        rule: dict[str, Any] = {
            "name": draw(st.sampled_from(NAMES)),
            "within": {"last": {"days": draw(st.sampled_from([1, 30, 90]))}},
        }
        if draw(st.booleans()):
            rule.update(aggregate="sum", property="revenue", op="gt", value=3000)
        return {"event": rule}
    return draw(RULES)


def _person(index: int, spec: Any) -> tuple[Profile, list[Any], bool]:
    events, traits, tags, line_status, consent, merged = spec
    profile = Profile.new(f"p{index:03d}", (NOW - timedelta(days=500)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    timeline = []
    for number, (name, minutes, channel, revenue, store) in enumerate(sorted(events, key=lambda e: -e[1])):
        at = (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        event = canonical(event_id=f"e{index}-{number}", timestamp=at, event=name, channel=channel, traits=traits)
        properties: dict[str, Any] = {}
        if revenue is not None:
            properties["revenue"] = revenue
        if store is not None:
            properties["store_id"] = store
        event = replace(event, properties=properties)
        if line_status and number == 0:
            event = replace(event, line_follow=line_status, line_identifier=line_identifier("prov", f"U{index}"))
        apply_event(profile, event, [Identifier("member_id", f"M{index}")], at)
        timeline.append(event)
    for tag in tags:
        profile.tag_state[tag] = Stamped(True, "2026-01-01T00:00:00.000Z", "manual", "t1")
    for key, granted in consent.items():
        profile.consent[key] = Stamped(granted, "2026-01-01T00:00:00.000Z", "api", "c1")
    if merged:
        profile.merged_into = "p999"
    return profile, timeline, merged


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("archive")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(PERSON, min_size=1, max_size=20),
    rules=st.lists(archive_rules(), min_size=1, max_size=8),
    cut=st.floats(0, 1),
)
def test_archive_sql_and_python_select_the_same_people(
    folder: Path, people: list[Any], rules: list[dict[str, Any]], cut: float
) -> None:
    built = [_person(index, spec) for index, spec in enumerate(people)]
    profile_rows, event_rows = [], []
    for number, (profile, timeline, _merged) in enumerate(built):
        profile_rows.append(profile_row(profile, f"{number:040d}", ARCHIVED_AT))
        for position, event in enumerate(timeline):
            seq = f"{1000 + number * 100 + position:040d}"
            # every entry first landed on a stray profile and was moved: a removal there, an insert here
            event_rows.append(event_row("stray", event.as_dict(), seq))
            event_rows.append(event_removal("stray", event.event_id, f"{int(seq) + 50_000:040d}"))
            event_rows.append(event_row(profile.profile_id, event.as_dict(), f"{int(seq) + 60_000:040d}"))
    write_parquet(profile_rows, PROFILE_COLUMNS, folder / "profiles.parquet")
    write_parquet(event_rows, EVENT_COLUMNS, folder / "events.parquet")
    db = open_archive(ArchiveFiles((folder / "profiles.parquet",), (folder / "events.parquet",)), NOW)
    db.execute("SET TimeZone = 'Asia/Taipei'")
    # the snapshot path: the first changes (by seq) in a snapshot, the others read as changes since
    split_profiles, split_events = int(len(profile_rows) * cut), int(len(event_rows) * cut)
    write_parquet(profile_rows[:split_profiles], PROFILE_COLUMNS, folder / "p-before.parquet")
    write_parquet(event_rows[:split_events], EVENT_COLUMNS, folder / "e-before.parquet")
    write_parquet(profile_rows[split_profiles:], PROFILE_COLUMNS, folder / "p-after.parquet")
    write_parquet(event_rows[split_events:], EVENT_COLUMNS, folder / "e-after.parquet")
    build_snapshot(
        None,
        ArchiveFiles((folder / "p-before.parquet",), (folder / "e-before.parquet",)),
        folder / "snapshot",
        ARCHIVED_AT.date(),
    )
    changes = ArchiveFiles((folder / "p-after.parquet",), (folder / "e-after.parquet",))
    fast = open_view(ArchiveView(SnapshotFiles.in_folder(folder / "snapshot"), changes, NOW), NOW)
    fast.execute("SET TimeZone = 'Asia/Taipei'")
    for data in rules:
        rule = parse_rule(data)
        expected = set()
        for profile, timeline, merged in built:
            facts = facts_from_profile(profile, NOW)
            facts_events = [fact for fact in (event_fact(e) for e in timeline) if fact is not None]
            if not merged and evaluate(rule, facts, facts_events, NOW, set()):
                expected.add(profile.profile_id)
        sql, params = to_select(rule, NOW)
        selected = {row[0] for row in db.execute(sql, params).fetchall()}
        assert selected == expected, data
        assert {row[0] for row in fast.execute(sql, params).fetchall()} == expected, data
