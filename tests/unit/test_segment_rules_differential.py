"""Differential test: the Python evaluator and the DuckDB compilation of the same rule select
exactly the same profiles, on random populations and random valid rules (fixed `now`).

Amounts are whole or half numbers so that sums are exact in any order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import jsonschema
import pytest
from cdp.segments import EventFact, ProfileFacts, evaluate, parse_rule, rule_schema, to_select
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
EVENT_NAMES = ("Order Completed", "Link Clicked", "LINE Postback")
TAGS = ("vip", "asked:size", "asked:color", "src:store-taipei-101", "interested:shoes")
CONSENT_KEYS = ("email:marketing", "sms:marketing", "line:marketing", "email:news")
IDENTIFIER_TYPES = ("line", "email", "phone", "member_id")
SEGMENTS = ("s1", "s2")
STRINGS = (
    "Taipei",
    "Tai",
    "taipei",
    "",
    "gold",
    "10",
    "true",
    "2026-11-20",
    "2026-11-22",  # exactly 1 day before NOW
    "2026-11-16",  # exactly 7 days before NOW
    "2026-10-24T00:00:00Z",  # exactly 30 days before NOW
    "2026-11-23T00:00:00Z",  # NOW
    "2026-11-23T06:00:00+08:00",  # 2 hours before NOW
    "2026-11-23T01:00:00.5Z",  # after NOW
    "2025-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",  # not a date
    "2026-11-20 10:00:00",  # not an accepted form
    "yesterday",
)
NUMBERS = st.one_of(st.integers(-10, 10), st.integers(0, 6000), st.integers(-20, 20).map(lambda n: n / 2))
SCALARS = st.one_of(st.sampled_from(STRINGS), NUMBERS, st.booleans())
JSON_VALUES = st.one_of(
    st.none(),
    SCALARS,
    SCALARS,
    SCALARS,
    st.just([1, "a"]),
    st.fixed_dictionaries({"r": st.integers(1, 5)}),
    st.just({}),
)
DURATIONS = st.one_of(
    st.fixed_dictionaries({"days": st.sampled_from([1, 3, 7, 30, 60, 400])}),
    st.fixed_dictionaries({"hours": st.sampled_from([1, 2, 6])}),
)
WINDOW_EDGES_MINUTES = (0, 60, 120, 360, 1440, 3 * 1440, 7 * 1440, 30 * 1440, 60 * 1440, 400 * 1440)
TRAIT_KEYS = ("city", "age", "signup")
ATTRIBUTE_FIELDS = (
    *(f"traits.{key}" for key in TRAIT_KEYS),
    "traits.city.r",
    "computed.ltv",
    "computed.rfm.r",
    "computed.last_order_at",
    "profile_id",
    "line_status",
)
PROPERTY_NAMES = ("revenue", "channel", "category", "at", "rfm.r")


def _properties() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(("revenue", "channel", "category", "at", "rfm")), JSON_VALUES, max_size=4)


EVENT = st.builds(
    lambda name, minutes, properties: EventFact(name, NOW - timedelta(minutes=minutes), properties),
    st.sampled_from(EVENT_NAMES),
    st.one_of(st.integers(-120, 90 * 24 * 60), st.sampled_from(WINDOW_EDGES_MINUTES)),
    _properties(),
)
PROFILE = st.tuples(
    st.builds(
        lambda traits, computed, tags, line_status, consent, identifiers: (
            traits,
            computed,
            frozenset(tags),
            line_status,
            consent,
            frozenset(identifiers),
        ),
        st.dictionaries(st.sampled_from(TRAIT_KEYS), JSON_VALUES, max_size=3),
        st.dictionaries(st.sampled_from(("ltv", "rfm", "last_order_at")), JSON_VALUES, max_size=3),
        st.sets(st.sampled_from(TAGS), max_size=3),
        st.sampled_from([None, "friend", "blocked", "never_followed"]),
        st.dictionaries(st.sampled_from(CONSENT_KEYS), st.booleans(), max_size=3),
        st.sets(st.sampled_from(IDENTIFIER_TYPES), max_size=3),
    ),
    st.lists(EVENT, max_size=8),
    st.sets(st.sampled_from(SEGMENTS), max_size=2),
)
POPULATION = st.lists(PROFILE, min_size=1, max_size=25)


def _condition(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(
        st.sampled_from(
            (
                "eq",
                "neq",
                "gt",
                "gte",
                "lt",
                "lte",
                "in",
                "contains",
                "starts_with",
                "exists",
                "not_exists",
                "within_last",
                "before_last",
            )
        )
    )
    if op in ("exists", "not_exists"):
        return {"op": op}
    if op in ("within_last", "before_last"):
        return {"op": op, "value": draw(DURATIONS)}
    if op == "in":
        return {"op": op, "value": draw(st.lists(SCALARS, min_size=1, max_size=4))}
    if op in ("contains", "starts_with"):
        return {"op": op, "value": draw(st.sampled_from(STRINGS))}
    if op in ("eq", "neq"):
        return {"op": op, "value": draw(SCALARS)}
    return {"op": op, "value": draw(st.one_of(st.sampled_from(STRINGS), NUMBERS))}


@st.composite
def leaf(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            (
                "attribute",
                "attribute",
                "attribute",
                "event",
                "event",
                "tag",
                "reachable",
                "consent",
                "identifier",
                "seg",
            )
        )
    )
    if kind == "attribute":
        return {"attribute": {"field": draw(st.sampled_from(ATTRIBUTE_FIELDS)), **_condition(draw)}}
    if kind == "tag":
        if draw(st.booleans()):
            return {"tag": {"name": draw(st.sampled_from((*TAGS, "asked")))}}
        return {"tag": {"group": draw(st.sampled_from(("asked", "src", "vip", "interested")))}}
    if kind == "event":
        body: dict[str, Any] = {"name": draw(st.sampled_from(EVENT_NAMES))}
        where = draw(st.lists(st.builds(dict), max_size=2))
        if where:
            body["where"] = [{"property": draw(st.sampled_from(PROPERTY_NAMES)), **_condition(draw)} for _ in where]
        if draw(st.booleans()):
            body["within"] = {"last": draw(DURATIONS)}
        aggregate = draw(st.sampled_from(("count", "sum", "min", "max", None)))
        if aggregate is not None:
            body["aggregate"] = aggregate
            if aggregate != "count":
                body["property"] = draw(st.sampled_from(PROPERTY_NAMES))
        if draw(st.booleans()):
            body["op"] = draw(st.sampled_from(("eq", "neq", "gt", "gte", "lt", "lte")))
            body["value"] = draw(st.one_of(st.integers(0, 3), st.sampled_from([0.5, 3000, 4999.5, 5000, -1])))
        return {"event": body}
    if kind == "reachable":
        return {"reachable": {"channel": draw(st.sampled_from(("line", "email", "sms")))}}
    if kind == "consent":
        channel, purpose = draw(st.sampled_from(CONSENT_KEYS)).split(":")
        return {"consent": {"channel": channel, "purpose": purpose}}
    if kind == "identifier":
        return {"identifier": {"type": draw(st.sampled_from(IDENTIFIER_TYPES))}}
    return {"in_segment": {"segment_id": draw(st.sampled_from((*SEGMENTS, "s3")))}}


RULES = st.recursive(
    leaf(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"and": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"or": items}),
        children.map(lambda child: {"not": child}),
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def db() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'Asia/Taipei'")  # the SQL must not depend on the session zone
    connection.execute(
        "CREATE TABLE profiles(profile_id VARCHAR, traits JSON, computed JSON, tags VARCHAR[], "
        "line_status VARCHAR, consent JSON, identifier_types VARCHAR[])"
    )
    connection.execute("CREATE TABLE events(profile_id VARCHAR, name VARCHAR, ts TIMESTAMPTZ, properties JSON)")
    connection.execute("CREATE TABLE segment_members(segment_id VARCHAR, profile_id VARCHAR)")
    return connection


def _load(db: duckdb.DuckDBPyConnection, population: list[Any]) -> list[tuple[ProfileFacts, list[EventFact], set[str]]]:
    for table in ("profiles", "events", "segment_members"):
        db.execute(f"DELETE FROM {table}")
    loaded = []
    profile_rows, event_rows, member_rows = [], [], []
    for index, ((traits, computed, tags, line_status, consent, identifiers), events, memberships) in enumerate(
        population
    ):
        profile_id = f"p{index}"
        facts = ProfileFacts(profile_id, traits, computed, tags, line_status, consent, identifiers)
        loaded.append((facts, events, memberships))
        profile_rows.append(
            [
                profile_id,
                json.dumps(traits),
                json.dumps(computed),
                sorted(tags),
                line_status,
                json.dumps(consent),
                sorted(identifiers),
            ]
        )
        event_rows.extend([profile_id, e.name, e.timestamp, json.dumps(e.properties)] for e in events)
        member_rows.extend([segment, profile_id] for segment in memberships)
    db.executemany("INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?)", profile_rows)
    if event_rows:
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", event_rows)
    if member_rows:
        db.executemany("INSERT INTO segment_members VALUES (?, ?)", member_rows)
    return loaded


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(population=POPULATION, rules=st.lists(st.one_of(leaf(), RULES), min_size=1, max_size=12))
def test_python_and_duckdb_select_the_same_profiles(
    db: duckdb.DuckDBPyConnection, population: list[Any], rules: list[dict[str, Any]]
) -> None:
    loaded = _load(db, population)
    for data in rules:
        rule = parse_rule(data)
        expected = {
            facts.profile_id for facts, events, members in loaded if evaluate(rule, facts, events, NOW, members)
        }
        query, params = to_select(rule, NOW)
        selected = {row[0] for row in db.execute(query, params).fetchall()}
        assert selected == expected, json.dumps(data)


# exhaustive edges --------------------------------------------------------------------------------
EDGE_VALUES: tuple[Any, ...] = (
    *STRINGS,
    None,
    True,
    False,
    0,
    -3,
    10,
    10.0,
    2.5,
    5000,
    -0.5,
    [1, "a"],
    {"r": 3},
    '{"r": 3}',  # a string that looks like JSON stays a string
    "台北",
    "台北市🙂",
    "É",
    2**53 + 1,
    2**63 + 5,
    2**70,
    -(2**63),
    1e300,
    -0.0,
)
EDGE_OFFSETS_MINUTES = (-1, *WINDOW_EDGES_MINUTES, 30 * 1440 + 1, 30 * 1440 - 1)


def _edge_population() -> list[Any]:
    """One profile per stored value (plus one without the trait), each with events at every
    window edge carrying that value as a property."""
    population = []
    for index, value in enumerate((*EDGE_VALUES, "<missing>")):
        traits = {} if value == "<missing>" else {"a": value}
        events = [
            EventFact(name, NOW - timedelta(minutes=minutes), {"revenue": minutes % 7 + 0.5, **traits})
            for name in EVENT_NAMES
            for minutes in {
                EDGE_OFFSETS_MINUTES[index % len(EDGE_OFFSETS_MINUTES)],
                EDGE_OFFSETS_MINUTES[(index * 5 + 3) % len(EDGE_OFFSETS_MINUTES)],
            }
        ]
        population.append(((traits, traits, frozenset(), None, {}, frozenset()), events, set()))
    return population


def _edge_rules() -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = [{"op": "exists"}, {"op": "not_exists"}]
    for op in ("eq", "neq", "in", "gt", "gte", "lt", "lte", "contains", "starts_with"):
        for value in EDGE_VALUES:
            if value is None or isinstance(value, list | dict):
                continue
            if op in ("contains", "starts_with") and not isinstance(value, str):
                continue
            if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
                continue
            conditions.append({"op": op, "value": [value, "x"] if op == "in" else value})
    for op in ("within_last", "before_last"):
        for duration in ({"days": 1}, {"days": 7}, {"days": 30}, {"hours": 2}, {"minutes": 1}):
            conditions.append({"op": op, "value": duration})
    rules: list[dict[str, Any]] = []
    for condition in conditions:
        rules.append({"attribute": {"field": "traits.a", **condition}})
        rules.append({"attribute": {"field": "computed.a", **condition}})
        rules.append({"attribute": {"field": "traits.a.r", **condition}})
        rules.append({"event": {"name": "Order Completed", "where": [{"property": "a", **condition}]}})
    for days in (1, 2, 6, 7, 30, 60, 400):
        for aggregate in ("count", "sum", "min", "max"):
            for op, value in (("gte", 1), ("eq", 0), ("eq", 1), ("eq", 2), ("gt", 3.5), ("lt", 2), ("neq", 0.5)):
                body: dict[str, Any] = {"name": "LINE Postback", "aggregate": aggregate, "op": op, "value": value}
                if aggregate != "count":
                    body["property"] = "revenue"
                rules.append({"event": {**body, "within": {"last": {"days": days}}}})
                rules.append({"event": {**body, "within": {"last": {"minutes": days}}}})
    return rules


def test_python_and_duckdb_agree_on_every_edge(db: duckdb.DuckDBPyConnection) -> None:
    loaded = _load(db, _edge_population())
    rules = _edge_rules()
    assert len(rules) > 500
    disagreements = []
    for data in rules:
        rule = parse_rule(data)
        expected = {f.profile_id for f, events, members in loaded if evaluate(rule, f, events, NOW, members)}
        query, params = to_select(rule, NOW)
        if {row[0] for row in db.execute(query, params).fetchall()} != expected:
            disagreements.append(data)
    assert disagreements == []


def test_generated_rules_are_valid_under_the_published_schema() -> None:
    validator = jsonschema.Draft202012Validator(rule_schema())

    @settings(max_examples=200, deadline=None)
    @given(rules=RULES)
    def check(rules: dict[str, Any]) -> None:
        assert validator.is_valid(rules)

    check()
