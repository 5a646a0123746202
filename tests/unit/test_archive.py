"""Archive rows and the DuckDB reader: newest change wins, removals and merged-away profiles
drop out, and the order windows move with the evaluation time, not the archive time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdp.archive.duck import ArchiveFiles, open_archive, write_parquet
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, event_removal, event_row, padded_seq, profile_row
from cdp.identity.identifiers import Identifier
from cdp.profiles.model import Profile, apply_event
from cdp.segments import parse_rule, to_select

from tests.unit.builders import canonical

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
NO_ORDER_IN_30_DAYS = parse_rule(
    {
        "and": [
            {"attribute": {"field": "computed.orders.all_time", "op": "gte", "value": 1}},
            {"attribute": {"field": "computed.orders.30d", "op": "eq", "value": 0}},
        ]
    }
)


def _buyer(profile_id: str, days_ago: int) -> tuple[Profile, dict]:
    at = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    order = replace(
        canonical(event_id=f"{profile_id}-o", timestamp=at, event="Order Completed", channel="pos"),
        properties={"revenue": 4200},
    )
    profile = Profile.new(profile_id, at)
    apply_event(profile, order, [Identifier("member_id", profile_id.upper())], at)
    return profile, order.as_dict()


def _open(tmp_path: Path, profiles: list[dict], events: list[dict], now: datetime):
    write_parquet(profiles, PROFILE_COLUMNS, tmp_path / "p.parquet")
    write_parquet(events, EVENT_COLUMNS, tmp_path / "e.parquet")
    return open_archive(ArchiveFiles((tmp_path / "p.parquet",), (tmp_path / "e.parquet",)), now)


def _select(db, rule) -> set[str]:
    sql, params = to_select(rule, NOW)
    return {row[0] for row in db.execute(sql, params).fetchall()}


def test_a_time_rule_turns_true_without_any_new_event(tmp_path: Path) -> None:
    archived_at = NOW - timedelta(days=5)
    recent, _ = _buyer("recent", 2)
    lapsing, _ = _buyer("lapsing", 28)  # 23 days before the archive was written, 28 before now
    rows = [profile_row(recent, padded_seq("1"), archived_at), profile_row(lapsing, padded_seq("2"), archived_at)]
    assert rows[1]["computed"]["orders"] == {"all_time": 1}  # the windows are not frozen in the row
    db = _open(tmp_path, rows, [], NOW)
    assert _select(db, NO_ORDER_IN_30_DAYS) == set()
    later = _open(tmp_path, rows, [], NOW + timedelta(days=3))
    sql, params = to_select(NO_ORDER_IN_30_DAYS, NOW + timedelta(days=3))
    assert {row[0] for row in later.execute(sql, params).fetchall()} == {"lapsing"}
    computed = later.execute("SELECT computed FROM profiles WHERE profile_id = 'recent'").fetchone()[0]
    assert '"30d":1' in computed and '"revenue":{"all_time":4200.0,"30d":4200.0' in computed


def test_newest_change_wins_and_merged_away_profiles_drop_out(tmp_path: Path) -> None:
    amy, order = _buyer("amy", 1)
    ghost, _ = _buyer("ghost", 1)
    older = profile_row(amy, padded_seq("5"), NOW)
    amy.traits.clear()
    newer = profile_row(amy, padded_seq("9"), NOW)
    older["traits"] = {"city": "Tainan"}
    ghost.merged_into = "amy"
    events = [
        event_row("ghost", order, padded_seq("10")),  # landed on ghost, then moved to amy by a merge
        event_removal("ghost", order["eventId"], padded_seq("20")),
        event_row("amy", order, padded_seq("21")),
        event_row("amy", order, padded_seq("21")),  # a replayed stream batch
    ]
    db = _open(tmp_path, [newer, older, profile_row(ghost, padded_seq("3"), NOW)], events, NOW)
    assert db.execute("SELECT profile_id, traits FROM profiles").fetchall() == [("amy", "{}")]
    assert db.execute("SELECT event_id, profile_id, name FROM events").fetchall() == [
        ("amy-o", "amy", "Order Completed")
    ]
    bought = parse_rule({"event": {"name": "Order Completed", "within": {"last": {"days": 7}}}})
    assert _select(db, bought) == {"amy"}


def test_an_empty_archive_is_an_empty_population(tmp_path: Path) -> None:
    db = open_archive(ArchiveFiles((), ()), NOW)
    assert _select(db, NO_ORDER_IN_30_DAYS) == set()
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_sequence_numbers_sort_as_text() -> None:
    assert padded_seq("9") < padded_seq("10")
    assert len(padded_seq("4" * 40)) == 40
