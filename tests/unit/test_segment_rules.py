"""Segment rules: parsing and validation, Python evaluation semantics, reads, SQL compilation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import jsonschema
import pytest
from cdp.errors import BadRequest
from cdp.segments import EventFact, ProfileFacts, evaluate, parse_rule, reads, rule_schema, to_select, to_sql
from cdp.segments.rules import (
    And,
    Attribute,
    EventCondition,
    Field,
    Not,
    Predicate,
    PropertyFilter,
    Reachable,
    Tag,
)

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
NEVER_PURCHASED_AND_LINE_REACHABLE = {
    "and": [{"not": {"event": {"name": "Order Completed"}}}, {"reachable": {"channel": "line"}}]
}
VIP_PREVIEW = {
    "and": [
        {
            "event": {
                "name": "Order Completed",
                "within": {"last": {"days": 30}},
                "aggregate": "sum",
                "property": "revenue",
                "op": "gt",
                "value": 3000,
            }
        },
        {"event": {"name": "Link Clicked", "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}},
    ]
}


def _attr(field: str, op: str, value: Any = None, *, no_value: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"field": field, "op": op}
    if not no_value:
        body["value"] = value
    return {"attribute": body}


def _in(data: dict[str, Any], profile: ProfileFacts, events: list[EventFact] | None = None) -> bool:
    return evaluate(parse_rule(data), profile, events or [], NOW, set())


def _error(data: Any) -> dict[str, Any]:
    with pytest.raises(BadRequest) as caught:
        parse_rule(data)
    assert caught.value.code == "invalid_segment_rule"
    assert caught.value.status == 400
    details: dict[str, Any] = caught.value.details
    assert set(details) == {"path", "reason"}
    return details


# parsing ---------------------------------------------------------------------------------------
def test_parses_s1_rules_into_the_ast() -> None:
    assert parse_rule(NEVER_PURCHASED_AND_LINE_REACHABLE) == And(
        (
            Not(EventCondition("Order Completed", (), None, "count", None, "gte", 1.0)),
            Reachable("line", "marketing"),
        )
    )
    vip = parse_rule(VIP_PREVIEW)
    assert isinstance(vip, And)
    assert vip.children[0] == EventCondition(
        "Order Completed", (), timedelta(days=30), "sum", ("revenue",), "gt", 3000.0
    )
    assert vip.children[1] == EventCondition(
        "Link Clicked",
        (PropertyFilter(("context", "channel"), Predicate("eq", "line")),),
        None,
        "count",
        None,
        "gte",
        1.0,
    )


def test_parses_attribute_fields_and_tags() -> None:
    assert parse_rule(_attr("computed.rfm.recency", "gte", 4)) == Attribute(
        Field("computed", ("rfm", "recency")), Predicate("gte", 4)
    )
    assert parse_rule(_attr("line_status", "eq", "friend")) == Attribute(
        Field("profile", ("line_status",)), Predicate("eq", "friend")
    )
    assert parse_rule(_attr("traits.signup", "within_last", {"hours": 2})) == Attribute(
        Field("traits", ("signup",)), Predicate("within_last", timedelta(hours=2))
    )
    assert parse_rule(_attr("traits.city", "in", ["Taipei", 1])).predicate == Predicate("in", ("Taipei", 1))  # type: ignore[union-attr]
    assert parse_rule({"tag": {"group": "asked"}}) == Tag(group="asked")


@pytest.mark.parametrize(
    ("data", "path", "reason_part"),
    [
        ([], "", "exactly one key"),
        ({"and": [], "or": []}, "", "exactly one key"),
        ({"xor": []}, "/xor", "unknown node"),
        ({"and": []}, "/and", "non-empty list"),
        ({"or": {"tag": {"name": "a"}}}, "/or", "non-empty list"),
        ({"and": [{"tag": {"name": "a"}}, {"nope": 1}]}, "/and/1/nope", "unknown node"),
        ({"not": []}, "/not", "exactly one key"),
        ({"tag": "vip"}, "/tag", "takes an object"),
        ({"tag": {"name": "a", "group": "b"}}, "/tag", "exactly one of"),
        ({"tag": {"name": ""}}, "/tag/name", "non-empty string"),
        ({"tag": {"group": "a:b"}}, "/tag/group", "contains none"),
        ({"attribute": {"op": "eq", "value": 1}}, "/attribute", "`field` is required"),
        ({"attribute": {"field": "traits.a", "op": "eq", "value": 1, "x": 1}}, "/attribute/x", "unknown key"),
        (_attr("name", "eq", 1), "/attribute/field", "traits.<name>"),
        (_attr("traits.", "eq", 1), "/attribute/field", "dotted segments"),
        (_attr("traits.a'b", "eq", 1), "/attribute/field", "dotted segments"),
        (_attr("traits.a.b.c.d.e", "eq", 1), "/attribute/field", "dotted segments"),
        (_attr("traits.a", "like", 1), "/attribute/op", "`op` is one of"),
        (_attr("traits.a", "eq", no_value=True), "/attribute", "needs a `value`"),
        (_attr("traits.a", "exists", 1), "/attribute/value", "takes no value"),
        (_attr("traits.a", "eq", None), "/attribute/value", "string, number or boolean"),
        (_attr("traits.a", "eq", {"x": 1}), "/attribute/value", "string, number or boolean"),
        (_attr("traits.a", "eq", "x" * 300), "/attribute/value", "string, number or boolean"),
        (_attr("traits.a", "gt", True), "/attribute/value", "number or a string"),
        (_attr("traits.a", "contains", 1), "/attribute/value", "takes a string"),
        (_attr("traits.a", "in", []), "/attribute/value", "list of 1 to 100"),
        (_attr("traits.a", "in", list(range(101))), "/attribute/value", "list of 1 to 100"),
        (_attr("traits.a", "in", ["a", [1]]), "/attribute/value/1", "string, number or boolean"),
        (_attr("traits.a", "within_last", 3), "/attribute/value", "a duration"),
        (_attr("traits.a", "within_last", {"weeks": 3}), "/attribute/value", "a duration"),
        (_attr("traits.a", "before_last", {"days": 0}), "/attribute/value/days", "positive whole number"),
        (_attr("traits.a", "before_last", {"days": 1.5}), "/attribute/value/days", "positive whole number"),
        (_attr("traits.a", "before_last", {"days": 10_000}), "/attribute/value/days", "positive whole number"),
        ({"event": {}}, "/event", "`name` is required"),
        ({"event": {"name": "X", "when": 1}}, "/event/when", "unknown key"),
        ({"event": {"name": "X", "where": {}}}, "/event/where", "list of at most"),
        ({"event": {"name": "X", "where": [1]}}, "/event/where/0", "is an object"),
        (
            {"event": {"name": "X", "where": [{"property": "a b", "op": "eq", "value": 1}]}},
            "/event/where/0/property",
            "dotted",
        ),
        ({"event": {"name": "X", "where": [{"property": "a", "op": "eq"}]}}, "/event/where/0", "needs a `value`"),
        ({"event": {"name": "X", "within": {"days": 3}}}, "/event/within", "leave it out"),
        ({"event": {"name": "X", "within": {"last": {"days": -1}}}}, "/event/within/last/days", "positive"),
        ({"event": {"name": "X", "aggregate": "avg"}}, "/event/aggregate", "`aggregate` is one of"),
        ({"event": {"name": "X", "property": "revenue"}}, "/event/property", "takes no `property`"),
        ({"event": {"name": "X", "aggregate": "sum"}}, "/event", "needs the numeric `property`"),
        ({"event": {"name": "X", "op": "in", "value": [1]}}, "/event/op", "compared with one of"),
        ({"event": {"name": "X", "value": "1"}}, "/event/value", "with a number"),
        ({"event": {"name": "X", "value": True}}, "/event/value", "with a number"),
        ({"reachable": {"channel": "fax"}}, "/reachable/channel", "`channel` is one of"),
        ({"reachable": {"channel": "email", "purpose": "Bad Purpose"}}, "/reachable/purpose", "lower-case"),
        ({"consent": {"channel": "email"}}, "/consent", "`purpose` is required"),
        ({"consent": {"channel": "email", "purpose": "a'b"}}, "/consent/purpose", "lower-case"),
        ({"identifier": {"type": "LINE"}}, "/identifier/type", "lower-case"),
        ({"in_segment": {"segment_id": 7}}, "/in_segment/segment_id", "non-empty string"),
    ],
)
def test_invalid_rules_name_the_bad_node(data: Any, path: str, reason_part: str) -> None:
    details = _error(data)
    assert details["path"] == path
    assert reason_part in details["reason"]


def test_the_error_path_follows_nesting() -> None:
    rule = {"and": [{"tag": {"name": "a"}}, {"event": {"name": "X", "within": {"next": {"days": 1}}}}]}
    assert _error(rule)["path"] == "/and/1/event/within"


def test_depth_and_size_limits() -> None:
    deep: dict[str, Any] = {"tag": {"name": "a"}}
    for _ in range(9):
        deep = {"not": deep}
    parse_rule(deep)  # ten levels
    details = _error({"not": deep})
    assert details["path"] == "/not" * 10 and "10 levels" in details["reason"]
    parse_rule({"or": [{"tag": {"name": str(i)}} for i in range(99)]})  # 100 nodes
    details = _error({"or": [{"tag": {"name": str(i)}} for i in range(100)]})
    assert details["path"] == "/or/99" and "100 nodes" in details["reason"]


def test_published_schema_accepts_the_documented_rules_and_rejects_bad_ones() -> None:
    schema = rule_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for rule in (
        NEVER_PURCHASED_AND_LINE_REACHABLE,
        VIP_PREVIEW,
        {"or": [_attr("computed.rfm.r", "gte", 4), {"tag": {"group": "asked"}}, {"in_segment": {"segment_id": "s"}}]},
        {"and": [_attr("traits.a", "exists", no_value=True), _attr("traits.b", "within_last", {"days": 3})]},
        {"and": [{"consent": {"channel": "email", "purpose": "marketing"}}, {"identifier": {"type": "line"}}]},
    ):
        assert validator.is_valid(rule), rule
        parse_rule(rule)
    for bad in (
        {"xor": []},
        _attr("traits.a", "exists", 1),
        _attr("traits.a", "contains", 1),
        {"event": {"name": "X", "aggregate": "sum"}},
        {"event": {"name": "X", "property": "revenue"}},
        {"reachable": {"channel": "fax"}},
    ):
        assert not validator.is_valid(bad), bad
        with pytest.raises(BadRequest):
            parse_rule(bad)


# evaluation ------------------------------------------------------------------------------------
def test_s1_step5_never_purchased_and_line_reachable() -> None:
    u1 = ProfileFacts("u1", line_status="friend")
    u2 = ProfileFacts("u2", line_status="friend")
    blocked = ProfileFacts("u3", line_status="blocked")
    order = EventFact("Order Completed", NOW - timedelta(days=400), {"revenue": 5000})
    assert not _in(NEVER_PURCHASED_AND_LINE_REACHABLE, u1, [order])
    assert _in(NEVER_PURCHASED_AND_LINE_REACHABLE, u2, [EventFact("LINE Followed", NOW, {})])
    assert not _in(NEVER_PURCHASED_AND_LINE_REACHABLE, blocked)


def test_s1_step6_vip_preview_enters_on_the_click() -> None:
    u1 = ProfileFacts("u1", line_status="friend")
    order = EventFact("Order Completed", NOW - timedelta(days=2), {"revenue": 5000})
    assert not _in(VIP_PREVIEW, u1, [order])
    web_click = EventFact("Link Clicked", NOW, {"context": {"channel": "web"}})
    assert not _in(VIP_PREVIEW, u1, [order, web_click])
    line_click = EventFact("Link Clicked", NOW, {"context": {"channel": "line"}})
    assert _in(VIP_PREVIEW, u1, [order, web_click, line_click])
    old_order = EventFact("Order Completed", NOW - timedelta(days=31), {"revenue": 5000})
    assert not _in(VIP_PREVIEW, u1, [old_order, line_click])
    small = EventFact("Order Completed", NOW - timedelta(days=1), {"revenue": 3000})
    assert not _in(VIP_PREVIEW, u1, [small, line_click])
    assert _in(VIP_PREVIEW, u1, [small, EventFact("Order Completed", NOW, {"revenue": 0.5}), line_click])


@pytest.mark.parametrize(
    ("op", "value"),
    [("eq", "x"), ("neq", "x"), ("gt", 1), ("lte", "a"), ("in", ["x", 1]), ("contains", ""), ("starts_with", "")],
)
def test_a_missing_or_null_value_matches_nothing_but_not_exists(op: str, value: Any) -> None:
    for traits in ({}, {"a": None}):
        profile = ProfileFacts("p", traits=traits)
        assert not _in(_attr("traits.a", op, value), profile)
        assert _in({"not": _attr("traits.a", op, value)}, profile)
        assert _in(_attr("traits.a", "not_exists", no_value=True), profile)
        assert not _in(_attr("traits.a", "exists", no_value=True), profile)


@pytest.mark.parametrize(
    ("stored", "op", "value", "expected"),
    [
        (10, "eq", 10.0, True),
        (10, "neq", 10, False),
        (10, "gt", 9.5, True),
        ("10", "eq", 10, False),
        ("10", "neq", 10, False),  # mixed types are not comparable: neither equal nor different
        (10, "gt", "9", False),
        (True, "eq", 1, False),
        (1, "eq", True, False),
        (True, "eq", True, True),
        (True, "neq", False, True),
        (1, "in", [True, "1"], False),
        (1, "in", [True, 1.0], True),
        ("b", "gt", "a", True),
        ("B", "gt", "a", False),
        ("Taipei", "contains", "aip", True),
        ("Taipei", "starts_with", "tai", False),
        (["Taipei"], "contains", "Taipei", False),
        ({"x": 1}, "eq", 1, False),
        ({"x": 1}, "exists", None, True),
    ],
)
def test_typed_comparisons(stored: Any, op: str, value: Any, expected: bool) -> None:
    rule = _attr("traits.a", op, value, no_value=op == "exists")
    assert _in(rule, ProfileFacts("p", traits={"a": stored})) is expected


@pytest.mark.parametrize(
    ("stored", "op", "days", "expected"),
    [
        ("2026-11-22T04:00:00Z", "within_last", 1, True),  # exactly on the edge
        ("2026-11-22T03:59:59.999999Z", "within_last", 1, False),
        ("2026-11-22T12:00:00+08:00", "within_last", 1, True),
        ("2026-11-23T04:00:01Z", "within_last", 1, False),  # in the future
        ("2026-11-22", "within_last", 2, True),  # a date is midnight UTC
        ("2026-11-22", "before_last", 1, True),
        ("2026-11-22T04:00:00Z", "before_last", 1, False),
        ("2026-11-22 04:00:00", "within_last", 3, False),  # not an accepted form
        ("2026-02-30", "before_last", 1, False),
        (1700000000, "before_last", 1, False),
    ],
)
def test_relative_dates(stored: Any, op: str, days: int, expected: bool) -> None:
    assert _in(_attr("traits.at", op, {"days": days}), ProfileFacts("p", traits={"at": stored})) is expected


def test_nested_computed_traits_and_profile_fields() -> None:
    profile = ProfileFacts("p1", computed={"rfm": {"r": 5}, "ltv": 9000}, line_status="friend")
    assert _in(_attr("computed.rfm.r", "gte", 4), profile)
    assert not _in(_attr("computed.rfm.r.x", "exists", no_value=True), profile)
    assert not _in(_attr("computed.ltv.x", "exists", no_value=True), profile)
    assert _in(_attr("profile_id", "eq", "p1"), profile)
    assert _in(_attr("line_status", "in", ["friend", "blocked"]), profile)
    assert not _in(_attr("line_status", "exists", no_value=True), ProfileFacts("p2"))


def test_tags_consent_reachability_identifiers_and_memberships() -> None:
    profile = ProfileFacts(
        "p",
        tags=frozenset({"asked:size", "vip"}),
        consent={"email:marketing": True, "sms:marketing": False},
        identifier_types=frozenset({"email", "phone"}),
        line_status="blocked",
    )
    assert _in({"tag": {"name": "vip"}}, profile)
    assert not _in({"tag": {"name": "asked"}}, profile)
    assert _in({"tag": {"group": "asked"}}, profile)
    assert not _in({"tag": {"group": "as"}}, profile)
    assert _in({"consent": {"channel": "email", "purpose": "marketing"}}, profile)
    assert not _in({"consent": {"channel": "email", "purpose": "news"}}, profile)
    assert _in({"reachable": {"channel": "email"}}, profile)
    assert not _in({"reachable": {"channel": "sms"}}, profile)  # known but not consented
    assert not _in({"reachable": {"channel": "line"}}, profile)  # blocked
    assert not _in({"reachable": {"channel": "email"}}, ProfileFacts("q", consent={"email:marketing": True}))
    assert _in({"identifier": {"type": "phone"}}, profile)
    assert not _in({"identifier": {"type": "line"}}, profile)
    rule = parse_rule({"in_segment": {"segment_id": "vip"}})
    assert evaluate(rule, profile, [], NOW, {"vip"})
    assert not evaluate(rule, profile, [], NOW, {"other"})


def test_event_aggregates() -> None:
    events = [
        EventFact("Order Completed", NOW - timedelta(days=1), {"revenue": 100, "store": {"id": "s1"}}),
        EventFact("Order Completed", NOW - timedelta(days=2), {"revenue": "300"}),  # not a number: skipped
        EventFact("Order Completed", NOW - timedelta(days=3), {"revenue": 250.5, "store": {"id": "s2"}}),
        EventFact("Order Completed", NOW - timedelta(days=50), {"revenue": 1}),
        EventFact("Product Added", NOW, {"revenue": 10_000}),
    ]
    profile = ProfileFacts("p")

    def check(body: dict[str, Any]) -> bool:
        return _in({"event": {"name": "Order Completed", **body}}, profile, events)

    assert check({"op": "eq", "value": 4})
    assert check({"within": {"last": {"days": 30}}, "op": "eq", "value": 3})
    assert check({"aggregate": "sum", "property": "revenue", "op": "eq", "value": 351.5})
    assert check({"aggregate": "min", "property": "revenue", "op": "eq", "value": 1})
    assert check({"aggregate": "max", "property": "revenue", "op": "eq", "value": 250.5})
    assert check({"where": [{"property": "store.id", "op": "eq", "value": "s2"}], "op": "eq", "value": 1})
    assert check({"where": [{"property": "revenue", "op": "gte", "value": 100}], "op": "eq", "value": 2})
    # no matching events: count 0, sum 0, min / max missing (never compare)
    none = {"where": [{"property": "store.id", "op": "eq", "value": "nowhere"}]}
    assert check({**none, "op": "eq", "value": 0})
    assert check({**none, "aggregate": "sum", "property": "revenue", "op": "eq", "value": 0})
    assert not check({**none, "aggregate": "max", "property": "revenue", "op": "lt", "value": 1e9})
    assert not check({**none, "aggregate": "min", "property": "revenue", "op": "neq", "value": 0})


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError):
        evaluate(parse_rule({"tag": {"name": "a"}}), ProfileFacts("p"), [], NOW.replace(tzinfo=None), set())
    with pytest.raises(ValueError):
        to_sql(parse_rule({"tag": {"name": "a"}}), NOW.replace(tzinfo=None))


# reads -----------------------------------------------------------------------------------------
def test_reads_lists_what_a_rule_depends_on() -> None:
    rule = parse_rule(
        {
            "or": [
                VIP_PREVIEW,
                _attr("traits.city", "eq", "Taipei"),
                _attr("computed.rfm.r", "gte", 4),
                _attr("line_status", "eq", "friend"),
                {"not": {"tag": {"name": "vip"}}},
                {"tag": {"group": "asked"}},
                {"reachable": {"channel": "sms"}},
                {"consent": {"channel": "email", "purpose": "news"}},
                {"identifier": {"type": "line"}},
                {"in_segment": {"segment_id": "s9"}},
            ]
        }
    )
    found = reads(rule)
    assert found.traits == {"city"}
    assert found.computed == {"rfm.r"}
    assert found.profile_fields == {"line_status"}
    assert found.events == {"Order Completed", "Link Clicked"}
    assert found.tags == {"vip"} and found.tag_groups == {"asked"}
    assert found.consent == {"sms:marketing", "email:news"}
    assert found.identifiers == {"phone", "line"}
    assert found.segments == {"s9"}
    assert found.time is True
    assert reads(parse_rule(NEVER_PURCHASED_AND_LINE_REACHABLE)).time is False
    assert reads(parse_rule(_attr("traits.at", "before_last", {"days": 1}))).time is True
    where_time = {"event": {"name": "X", "where": [{"property": "at", "op": "within_last", "value": {"days": 1}}]}}
    assert reads(parse_rule(where_time)).time is True


# SQL -------------------------------------------------------------------------------------------
@pytest.fixture
def db() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE profiles(profile_id VARCHAR, traits JSON, computed JSON, tags VARCHAR[], "
        "line_status VARCHAR, consent JSON, identifier_types VARCHAR[])"
    )
    connection.execute("CREATE TABLE events(profile_id VARCHAR, name VARCHAR, ts TIMESTAMPTZ, properties JSON)")
    connection.execute("CREATE TABLE segment_members(segment_id VARCHAR, profile_id VARCHAR)")
    return connection


def _select(db: duckdb.DuckDBPyConnection, data: dict[str, Any]) -> set[str]:
    query, params = to_select(parse_rule(data), NOW)
    return {row[0] for row in db.execute(query, params).fetchall()}


def test_sql_values_are_parameters_and_names_are_checked_literals() -> None:
    hostile = "x'); DROP TABLE profiles; --"
    where, params = to_sql(
        parse_rule(
            {
                "and": [
                    _attr("traits.city", "eq", hostile),
                    {"tag": {"name": hostile}},
                    {"event": {"name": hostile, "where": [{"property": "a", "op": "in", "value": [hostile, 2]}]}},
                    {"in_segment": {"segment_id": hostile}},
                ]
            }
        ),
        NOW,
    )
    assert hostile not in where
    assert "DROP" not in where
    assert params.count(hostile) == 5
    assert where.count("?") == len(params)
    assert "json_type(p.traits, '$.\"city\"')" in where


def test_sql_s1_rules(db: duckdb.DuckDBPyConnection) -> None:
    db.execute(
        "INSERT INTO profiles VALUES ('u1', '{}', '{}', [], 'friend', '{}', ['line', 'member_id']), "
        "('u2', '{}', '{}', [], 'friend', '{}', ['line']), ('u3', '{}', '{}', NULL, NULL, NULL, NULL)"
    )
    rows = [
        ("u1", "Order Completed", NOW - timedelta(days=3), {"revenue": 5000}),
        ("u1", "Link Clicked", NOW - timedelta(hours=1), {"context": {"channel": "line"}}),
        ("u2", "Link Clicked", NOW - timedelta(hours=1), {"context": {"channel": "line"}}),
    ]
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [[p, n, t, json.dumps(props)] for p, n, t, props in rows])
    assert _select(db, NEVER_PURCHASED_AND_LINE_REACHABLE) == {"u2"}
    assert _select(db, VIP_PREVIEW) == {"u1"}
    assert _select(db, {"not": {"tag": {"group": "asked"}}}) == {"u1", "u2", "u3"}  # NULL columns are not NULL answers
    assert _select(db, {"not": {"identifier": {"type": "line"}}}) == {"u3"}
    assert _select(db, {"not": {"consent": {"channel": "email", "purpose": "marketing"}}}) == {"u1", "u2", "u3"}


def test_sql_in_segment_reads_segment_members(db: duckdb.DuckDBPyConnection) -> None:
    db.execute(
        "INSERT INTO profiles VALUES ('a', '{}', '{}', [], NULL, '{}', []), ('b', '{}', '{}', [], NULL, '{}', [])"
    )
    db.execute("INSERT INTO segment_members VALUES ('vip', 'a'), ('other', 'b')")
    assert _select(db, {"in_segment": {"segment_id": "vip"}}) == {"a"}


def test_sql_does_not_depend_on_the_session_time_zone(db: duckdb.DuckDBPyConnection) -> None:
    db.execute("INSERT INTO profiles VALUES ('a', '{\"at\": \"2026-11-22\"}', '{}', [], NULL, '{}', [])")
    rule = _attr("traits.at", "within_last", {"hours": 28})
    for zone in ("UTC", "Asia/Taipei", "America/Los_Angeles"):
        db.execute(f"SET TimeZone = '{zone}'")
        assert _select(db, rule) == {"a"}
