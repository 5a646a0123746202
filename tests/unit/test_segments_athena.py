"""The Athena (Trino) compilation of segment rules.

(a) every generated query parses as Trino (sqlglot) for a corpus covering every rule construct;
(b) differential: the Trino SQL, transpiled back to DuckDB by sqlglot, runs over the raw change
    files typed as the Glue tables declare them (tests/athena_duckdb.py) and selects exactly what
    the native DuckDB path (open_archive + cdp.segments.sql) and the Python evaluator select.

Everything but `reduce`'s identity finish transpiles as sqlglot writes it. Athena itself runs
none of this here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from cdp.archive.duck import ArchiveFiles, open_archive, write_parquet
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS, event_removal, event_row, profile_row
from cdp.segments import EventFact, ProfileFacts, evaluate, parse_rule, to_select
from cdp.segments.athena import MAX_QUERY_BYTES, MembershipTable, quote, select_profile_ids, to_athena
from cdp.segments.facts import event_fact, facts_from_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tests.athena_duckdb import DATABASE, DuckDbWarehouse, glue_tables
from tests.unit.test_archive_differential import ARCHIVED_AT, NOW, PERSON, _person, archive_rules
from tests.unit.test_segment_rules_differential import NOW as EDGE_NOW
from tests.unit.test_segment_rules_differential import RULES, _edge_population, _edge_rules, leaf

SEGMENTS = ("s1", "s2")


def _glue_tables(db: duckdb.DuckDBPyConnection, profiles: Path, events: Path) -> None:
    glue_tables(db, [profiles], [events])


def _run(db: duckdb.DuckDBPyConnection, rule: dict[str, Any], now: datetime, memberships: Any) -> set[str]:
    query = to_athena(parse_rule(rule), now, database=DATABASE, memberships=memberships)
    return select_profile_ids(DuckDbWarehouse(db), query)


# (a) parsing ---------------------------------------------------------------------------------------
def _corpus() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = list(_edge_rules())
    rules += [
        {"attribute": {"field": f"computed.{kind}.{window}", "op": "gte", "value": 1}}
        for kind in ("orders", "revenue")
        for window in ("all_time", "30d", "90d", "365d", "other")
    ]
    rules += [
        {"attribute": {"field": "computed.orders", "op": "exists"}},
        {"attribute": {"field": "computed.evaluated_at", "op": "within_last", "value": {"days": 1}}},
        {"tag": {"group": "asked"}},
        {"reachable": {"channel": "sms", "purpose": "news"}},
        {"in_segment": {"segment_id": "it's"}},
        {"not": {"or": [{"identifier": {"type": "line"}}, {"consent": {"channel": "email", "purpose": "news"}}]}},
    ]
    return rules


def test_every_construct_parses_as_trino() -> None:
    corpus = _corpus()

    @settings(max_examples=80, deadline=None)
    @given(rule=st.one_of(RULES, leaf(), archive_rules()))
    def generated(rule: dict[str, Any]) -> None:
        corpus.append(rule)

    generated()
    kinds: set[str] = set()
    for data in corpus:
        kinds.update(_node_kinds(data))
        query = to_athena(parse_rule(data), NOW, database=DATABASE, memberships=[("s1", "p001"), ("it's", "p'2")])
        sqlglot.parse_one(query.sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    assert kinds >= {
        "and",
        "or",
        "not",
        "attribute",
        "tag",
        "event",
        "reachable",
        "consent",
        "identifier",
        "in_segment",
    }


def _node_kinds(data: Any) -> set[str]:
    ((kind, body),) = data.items()
    if kind in ("and", "or"):
        return {kind}.union(*(_node_kinds(child) for child in body))
    if kind == "not":
        return {kind} | _node_kinds(body)
    return {kind}


def test_literals_cannot_escape_their_quotes() -> None:
    rule = parse_rule({"attribute": {"field": "traits.city", "op": "eq", "value": "x' OR TRUE --"}})
    sql = to_athena(rule, NOW, database=DATABASE).sql
    assert "'x'' OR TRUE --'" in sql
    literals = [node.this for node in sqlglot.parse_one(sql, read="trino").find_all(exp.Literal) if node.is_string]
    assert "x' OR TRUE --" in literals
    with pytest.raises(ValueError, match="NUL"):
        quote("a\x00b")
    with pytest.raises(ValueError, match="unsafe identifier"):
        to_athena(rule, NOW, database='x"; DROP')


def test_only_what_the_rule_reads_is_in_the_query() -> None:
    plain = to_athena(parse_rule({"tag": {"name": "vip"}}), NOW, database=DATABASE)
    assert not plain.uses_events and not plain.uses_memberships
    assert "events_changes" not in plain.sql and "daily" not in plain.sql and "segment_members" not in plain.sql
    assert "traits" not in plain.sql and "computed" not in plain.sql  # Athena bills the columns it scans
    full = to_athena(
        parse_rule(
            {
                "and": [
                    {"event": {"name": "Order Completed", "within": {"last": {"days": 30}}}},
                    {"attribute": {"field": "computed.orders.30d", "op": "gte", "value": 1}},
                    {"in_segment": {"segment_id": "s1"}},
                ]
            }
        ),
        NOW,
        database=DATABASE,
        memberships=[("s1", "p1"), ("s9", "p2")],
    )
    assert full.uses_events and full.uses_memberships and full.segment_ids == ("s1",)
    assert "'s9'" not in full.sql  # only the memberships of the segments the rule names


def test_large_memberships_go_through_a_table() -> None:
    rule = parse_rule({"in_segment": {"segment_id": "s1"}})
    many = [("s1", f"profile-{n:08d}") for n in range(20_000)]
    with pytest.raises(ValueError, match="MembershipTable"):
        to_athena(rule, NOW, database=DATABASE, memberships=many)
    sql = to_athena(rule, NOW, database=DATABASE, memberships=MembershipTable(DATABASE, "segment_members")).sql
    assert len(sql) < MAX_QUERY_BYTES and '"cdp_archive"."segment_members"' in sql


# (b) differential ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("athena-archive")


def _memberships(index: int) -> set[str]:
    return {segment for number, segment in enumerate(SEGMENTS) if (index >> number) & 1}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=st.lists(PERSON, min_size=1, max_size=20), rules=st.lists(archive_rules(), min_size=1, max_size=8))
def test_trino_sql_selects_what_duckdb_and_python_select(
    folder: Path, people: list[Any], rules: list[dict[str, Any]]
) -> None:
    built = [_person(index, spec) for index, spec in enumerate(people)]
    profile_rows, event_rows = [], []
    for number, (profile, timeline, _merged) in enumerate(built):
        profile_rows.append(profile_row(profile, f"{number + 10:040d}", ARCHIVED_AT))
        for position, event in enumerate(timeline):
            seq = f"{1000 + number * 100 + position:040d}"
            event_rows.append(event_row("stray", event.as_dict(), seq))
            event_rows.append(event_removal("stray", event.event_id, f"{int(seq) + 50_000:040d}"))
            event_rows.append(event_row(profile.profile_id, event.as_dict(), f"{int(seq) + 60_000:040d}"))
    # a superseded older row and a removed profile: only the newest row of each counts
    profile_rows.append(
        {**profile_row(built[0][0], f"{1:040d}", ARCHIVED_AT), "tags": ["vip"], "line_status": "friend"}
    )
    profile_rows.append({**profile_row(built[0][0], f"{2:040d}", ARCHIVED_AT), "profile_id": "p-removed"})
    profile_rows.append({"profile_id": "p-removed", "seq": f"{9:040d}", "op": "remove"})
    write_parquet(profile_rows, PROFILE_COLUMNS, folder / "profiles.parquet")
    write_parquet(event_rows, EVENT_COLUMNS, folder / "events.parquet")
    pairs = [
        (segment, profile.profile_id) for index, (profile, _, _) in enumerate(built) for segment in _memberships(index)
    ]
    native = open_archive(
        ArchiveFiles((folder / "profiles.parquet",), (folder / "events.parquet",)), NOW, memberships=pairs
    )
    native.execute("SET TimeZone = 'Asia/Taipei'")
    glue = duckdb.connect()
    glue.execute("SET TimeZone = 'Asia/Taipei'")  # the SQL must not depend on the session zone
    _glue_tables(glue, folder / "profiles.parquet", folder / "events.parquet")
    for data in [*rules, {"in_segment": {"segment_id": "s1"}}, {"not": {"in_segment": {"segment_id": "s2"}}}]:
        rule = parse_rule(data)
        expected = set()
        for index, (profile, timeline, merged) in enumerate(built):
            facts = facts_from_profile(profile, NOW)
            facts_events = [fact for fact in (event_fact(e) for e in timeline) if fact is not None]
            if not merged and evaluate(rule, facts, facts_events, NOW, _memberships(index)):
                expected.add(profile.profile_id)
        sql, params = to_select(rule, NOW)
        assert {row[0] for row in native.execute(sql, params).fetchall()} == expected, data
        assert _run(glue, data, NOW, pairs) == expected, data
    native.close()
    glue.close()


def test_trino_sql_agrees_with_python_on_every_edge(tmp_path: Path) -> None:
    """The exhaustive value edges (every stored JSON value x every operator, window edges) of the
    DuckDB differential, as raw change rows read through the Glue types."""
    population = _edge_population()
    profile_rows, event_rows = [], []
    loaded: list[tuple[ProfileFacts, list[EventFact]]] = []
    for index, ((traits, computed, _tags, _status, _consent, _ids), events, _members) in enumerate(population):
        profile_id = f"p{index}"
        loaded.append((ProfileFacts(profile_id, traits, computed), events))
        # JSON as its text: the archive's writer refuses integers beyond 64 bits, a JSON reader may not
        profile_rows.append(
            {
                "profile_id": profile_id,
                "seq": f"{index:040d}",
                "op": "upsert",
                "traits": json.dumps(traits),
                "computed": json.dumps(computed),
            }
        )
        for number, event in enumerate(events):
            event_rows.append(
                {
                    "event_id": f"e{index}-{number}",
                    "profile_id": profile_id,
                    "seq": f"{index * 100 + number:040d}",
                    "op": "upsert",
                    "name": event.name,
                    "ts": event.timestamp.astimezone(UTC).isoformat(),
                    "properties": json.dumps(dict(event.properties)),
                }
            )
    write_parquet(profile_rows, _json_as_text(PROFILE_COLUMNS), tmp_path / "profiles.parquet")
    write_parquet(event_rows, _json_as_text(EVENT_COLUMNS), tmp_path / "events.parquet")
    glue = duckdb.connect()
    glue.execute("SET TimeZone = 'Asia/Taipei'")
    _glue_tables(glue, tmp_path / "profiles.parquet", tmp_path / "events.parquet")
    disagreements = []
    for data in _edge_rules()[::5]:  # every fifth (it cycles through the four kinds of rule per condition): fast
        rule = parse_rule(data)
        expected = {facts.profile_id for facts, events in loaded if evaluate(rule, facts, events, EDGE_NOW, set())}
        if _run(glue, data, EDGE_NOW, ()) != expected:
            disagreements.append(data)
    assert disagreements == []


def _json_as_text(columns: Any) -> dict[str, str]:
    return {name: ("VARCHAR" if kind == "JSON" else kind) for name, kind in columns.items()}


def test_computed_windows_complete_at_now(folder: Path) -> None:
    """The order windows are summed from the daily buckets at `now`, not read from the row."""
    now = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    row = {
        "profile_id": "p1",
        "seq": "1".zfill(40),
        "op": "upsert",
        "computed": {"orders": {"all_time": 3}, "revenue": {"all_time": 300.5}},
        "all_time_orders": 3,
        "ltv": 300.5,
        "daily": [
            {"day": (now - timedelta(days=29)).date().isoformat(), "orders": 1, "revenue": 100.25},
            {"day": (now - timedelta(days=30)).date().isoformat(), "orders": 1, "revenue": 100.25},
            {"day": (now - timedelta(days=400)).date().isoformat(), "orders": 1, "revenue": 100.0},
        ],
    }
    write_parquet([row], PROFILE_COLUMNS, folder / "windows.parquet")
    write_parquet([], EVENT_COLUMNS, folder / "no-events.parquet")
    glue = duckdb.connect()
    _glue_tables(glue, folder / "windows.parquet", folder / "no-events.parquet")
    expectations = {
        ("computed.orders.30d", 1): True,
        ("computed.orders.30d", 2): False,
        ("computed.orders.90d", 2): True,
        ("computed.orders.365d", 3): False,
        ("computed.orders.all_time", 3): True,
        ("computed.revenue.30d", 100.25): True,
        ("computed.revenue.90d", 200.5): True,
    }
    for (field, value), selected in expectations.items():
        rule = {"attribute": {"field": field, "op": "eq", "value": value}}
        assert (_run(glue, rule, now, ()) == {"p1"}) is selected, json.dumps(rule)
    in_s1 = {"in_segment": {"segment_id": "s1"}}
    assert _run(glue, in_s1, now, ()) == set()  # no memberships: an empty table, not an error
    assert _run(glue, in_s1, now, [("s1", "p1")]) == {"p1"}
    assert _run(glue, {"not": in_s1}, now, [("s2", "p1")]) == {"p1"}
