"""The SQL compiler (DuckDB dialect, kept close to ANSI so an Athena variant stays a small step).

Tables:

    profiles(profile_id VARCHAR, traits JSON, computed JSON, tags VARCHAR[], line_status VARCHAR,
             consent JSON, identifier_types VARCHAR[])
    events(profile_id VARCHAR, name VARCHAR, ts TIMESTAMPTZ, properties JSON)
    segment_members(segment_id VARCHAR, profile_id VARCHAR)   -- only read by `in_segment`

`to_sql(rule, now)` gives the WHERE expression over `profiles p` and its positional parameters;
`to_select(rule, now)` the whole `SELECT profile_id FROM profiles p WHERE ...`. Every value from
the rule is a parameter; names (trait, property, consent keys) are embedded only as JSON path
literals after being checked again against the parser's safe patterns. Every leaf is wrapped in
COALESCE(..., FALSE) so SQL's NULL never leaks into NOT: the result is two-valued, like Python's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cdp.segments.evaluate import TIMESTAMP_PATTERN
from cdp.segments.rules import (
    KEYWORD_PATTERN,
    NAME_PATTERN,
    And,
    Attribute,
    Consent,
    EventCondition,
    HasIdentifier,
    InSegment,
    Not,
    Or,
    Predicate,
    Reachable,
    Rule,
    Tag,
)

_SQL_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT', 'DOUBLE')"
# The timestamp pattern is embedded as a literal: it must not be able to close the quotes.
if "'" in TIMESTAMP_PATTERN:
    raise RuntimeError("TIMESTAMP_PATTERN must not contain a quote")


def to_sql(rule: Rule, now: datetime) -> tuple[str, list[Any]]:
    """(WHERE expression over `profiles p`, positional parameters in order)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    compiler = _Compiler(now)
    return compiler.rule(rule), compiler.params


def to_select(rule: Rule, now: datetime) -> tuple[str, list[Any]]:
    where, params = to_sql(rule, now)
    return f"SELECT p.profile_id FROM profiles p WHERE {where}", params  # noqa: S608 (values are parameters)


def _json_path(path: tuple[str, ...]) -> str:
    for segment in path:
        if not NAME_PATTERN.fullmatch(segment):
            raise ValueError(f"unsafe name {segment!r}")
    return "'$" + "".join(f'."{segment}"' for segment in path) + "'"


def _consent_path(channel: str, purpose: str) -> str:
    if not KEYWORD_PATTERN.fullmatch(channel) or not KEYWORD_PATTERN.fullmatch(purpose):
        raise ValueError(f"unsafe consent key {channel}:{purpose}")
    return f"'$.\"{channel}:{purpose}\"'"


class _Value:
    """SQL views of one value: its JSON type and its typed readings."""

    def __init__(self, column: str, path: tuple[str, ...] | None) -> None:
        if path is None:  # a VARCHAR column
            self.type = f"(CASE WHEN {column} IS NULL THEN NULL ELSE 'VARCHAR' END)"
            self.text = column
            self.number = "CAST(NULL AS DOUBLE)"
            self.boolean = "CAST(NULL AS BOOLEAN)"
        else:
            literal = _json_path(path)
            self.type = f"json_type({column}, {literal})"
            self.text = f"json_extract_string({column}, {literal})"
            self.number = f"TRY_CAST(json_extract({column}, {literal}) AS DOUBLE)"
            self.boolean = f"({self.text} = 'true')"

    @property
    def is_number(self) -> str:
        return f"{self.type} IN {_NUMBER_TYPES}"

    @property
    def timestamp(self) -> str:
        return (
            f"(CASE WHEN {self.type} = 'VARCHAR' AND regexp_full_match({self.text}, '{TIMESTAMP_PATTERN}') "
            f"THEN TRY_CAST(CASE WHEN length({self.text}) = 10 THEN {self.text} || 'T00:00:00+00:00' "
            f"ELSE {self.text} END AS TIMESTAMPTZ) END)"
        )


class _Compiler:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def rule(self, rule: Rule) -> str:
        if isinstance(rule, And | Or):
            joiner = " AND " if isinstance(rule, And) else " OR "
            return "(" + joiner.join(self.rule(child) for child in rule.children) + ")"
        if isinstance(rule, Not):
            return f"(NOT {self.rule(rule.child)})"
        return f"COALESCE({self.leaf(rule)}, FALSE)"

    def leaf(self, rule: Rule) -> str:
        if isinstance(rule, Attribute):
            if rule.field.source == "profile":
                column = {"profile_id": "p.profile_id", "line_status": "p.line_status"}[rule.field.path[0]]
                return self.predicate(_Value(column, None), rule.predicate)
            return self.predicate(_Value(f"p.{rule.field.source}", rule.field.path), rule.predicate)
        if isinstance(rule, Tag):
            if rule.name is not None:
                return f"list_contains(p.tags, {self.param(rule.name)})"
            prefix = self.param(f"{rule.group}:")
            return f"EXISTS (SELECT 1 FROM unnest(p.tags) AS t(tag) WHERE starts_with(t.tag, {prefix}))"  # noqa: S608
        if isinstance(rule, EventCondition):
            return self.event(rule)
        if isinstance(rule, Reachable):
            if rule.channel == "line":
                return "p.line_status = 'friend'"
            identifier = "email" if rule.channel == "email" else "phone"
            return f"(list_contains(p.identifier_types, {self.param(identifier)}) AND {self.consent(rule.channel, rule.purpose)})"
        if isinstance(rule, Consent):
            return self.consent(rule.channel, rule.purpose)
        if isinstance(rule, HasIdentifier):
            return f"list_contains(p.identifier_types, {self.param(rule.type)})"
        assert isinstance(rule, InSegment)
        return (
            "EXISTS (SELECT 1 FROM segment_members m WHERE m.profile_id = p.profile_id "  # noqa: S608
            f"AND m.segment_id = {self.param(rule.segment_id)})"
        )

    def consent(self, channel: str, purpose: str) -> str:
        path = _consent_path(channel, purpose)
        return f"(json_type(p.consent, {path}) = 'BOOLEAN' AND json_extract_string(p.consent, {path}) = 'true')"

    def event(self, rule: EventCondition) -> str:
        conditions = [f"e.name = {self.param(rule.name)}"]
        if rule.window is not None:
            conditions.append(f"e.ts >= {self.param(self.now - rule.window)}")
            conditions.append(f"e.ts <= {self.param(self.now)}")
        for item in rule.where:
            conditions.append(f"COALESCE({self.predicate(_Value('e.properties', item.path), item.predicate)}, FALSE)")
        if rule.property is None:
            aggregate = "CAST(count(*) AS DOUBLE)"
        else:
            value = _Value("e.properties", rule.property)
            numeric = f"CASE WHEN {value.is_number} THEN {value.number} END"
            aggregate = f"COALESCE(sum({numeric}), 0)" if rule.aggregate == "sum" else f"{rule.aggregate}({numeric})"
        where = " AND ".join(conditions)
        subquery = f"(SELECT {aggregate} FROM events e WHERE e.profile_id = p.profile_id AND {where})"  # noqa: S608
        return f"{subquery} {_SQL_OPS[rule.op]} {self.param(rule.value)}"

    def predicate(self, value: _Value, predicate: Predicate) -> str:
        op, target = predicate.op, predicate.value
        if op == "exists":
            return f"({value.type} IS NOT NULL AND {value.type} <> 'NULL')"
        if op == "not_exists":
            return f"({value.type} IS NULL OR {value.type} = 'NULL')"
        if op == "in":
            assert isinstance(target, tuple)
            return "(" + " OR ".join(f"COALESCE({self.compare(value, 'eq', item)}, FALSE)" for item in target) + ")"
        if op == "contains":
            return f"({value.type} = 'VARCHAR' AND strpos({value.text}, {self.param(target)}) > 0)"
        if op == "starts_with":
            return f"({value.type} = 'VARCHAR' AND starts_with({value.text}, {self.param(target)}))"
        if op in ("within_last", "before_last"):
            assert isinstance(target, timedelta)
            cutoff = self.now - target
            if op == "before_last":
                return f"({value.timestamp} < {self.param(cutoff)})"
            return f"({value.timestamp} >= {self.param(cutoff)} AND {value.timestamp} <= {self.param(self.now)})"
        return self.compare(value, op, target)

    def compare(self, value: _Value, op: str, target: Any) -> str:
        sql_op = _SQL_OPS[op]
        if isinstance(target, bool):
            if op not in ("eq", "neq"):
                return "FALSE"
            return f"({value.type} = 'BOOLEAN' AND {value.boolean} {sql_op} {self.param(target)})"
        if isinstance(target, int | float):
            return f"({value.is_number} AND {value.number} {sql_op} {self.param(float(target))})"
        return f"({value.type} = 'VARCHAR' AND {value.text} {sql_op} {self.param(target)})"
