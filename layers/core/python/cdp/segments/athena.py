"""The segment SQL compiler for Athena (engine v3, the Trino dialect), over the Glue tables of the
raw archive change files: one complete query that selects the profile ids a rule matches.

The query reproduces cdp.archive.duck.open_archive in CTEs, then applies the rule:

    profile_latest / profiles   newest `seq` per profile, removals and merged-away profiles dropped,
                                the 30/90/365-day order windows completed at `now` from `daily`
    event_latest / event_live   newest `seq` per (profile, event), removals dropped, then the newest
                                placement per event (an entry moved by a merge counts once)
    event_facts                 one scan of the events: every event condition of the rule is one
                                FILTERed aggregate per profile (only when the rule has one)
    segment_members             memberships for `in_segment`, as VALUES or a table (only when used)

It is a second emitter from the same AST as cdp.segments.sql (DuckDB), not a transpilation: the
two dialects differ where the semantics live (JSON types, list functions, timestamps), and each
construct is written here once with Trino's functions. The semantics are those of the Python
evaluator (cdp.segments.evaluate); a differential test runs this SQL back through DuckDB.

Every value of the rule is inlined as a literal (strings quoted by doubling `'`, numbers as
DOUBLE literals, instants as ISO-8601 UTC text); names (traits, properties, consent keys) are
checked again against the parser's patterns before they become JSON path literals. Every leaf is
COALESCEd to FALSE so SQL's NULL never leaks into NOT: the result is two-valued, like Python's.

JSON in the change files is a string column: a value's type is read from the first character of
its canonical form (`json_format(json_extract(...))`): `"` string, `t`/`f` boolean, `n` null,
`{`/`[` object or array, anything else a number.

Athena reads the archive's event `ts` (Parquet, UTC instants) as a `timestamp` without zone, so
event windows compare with zone-less UTC literals; Athena's timestamps carry milliseconds, so a
window edge falls on the millisecond (the archive's event times are whole milliseconds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cdp.archive.rows import REMOVE
from cdp.ports import SqlWarehouse
from cdp.profiles.computed import MONEY_DIGITS, WINDOWS_DAYS
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
    Scalar,
    Tag,
)

# Athena refuses a query string longer than this (bytes, UTF-8).
MAX_QUERY_BYTES = 262_144
PROFILES_TABLE = "profiles_changes"  # the Glue tables of infra/cdp_infra/archive.py
EVENTS_TABLE = "events_changes"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SQL_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_NUMBER_STARTS = "('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')"
_WINDOWED = {"orders": ("all_time_orders", "orders"), "revenue": ("ltv", "revenue")}
_PROFILE_COLUMN = re.compile(r"\bp\.(traits|consent|tags|line_status|identifier_types|computed|all_time_orders|ltv)\b")
if "'" in TIMESTAMP_PATTERN:
    raise RuntimeError("TIMESTAMP_PATTERN must not contain a quote")


@dataclass(frozen=True, slots=True)
class MembershipTable:
    """`in_segment` reads this table (columns segment_id, profile_id) instead of inlined VALUES."""

    database: str
    table: str


@dataclass(frozen=True, slots=True)
class AthenaQuery:
    sql: str
    uses_events: bool
    uses_memberships: bool
    segment_ids: tuple[str, ...] = field(default=())


def to_athena(
    rule: Rule,
    now: datetime,
    *,
    database: str,
    memberships: Sequence[tuple[str, str]] | MembershipTable = (),
) -> AthenaQuery:
    """The whole query: `SELECT profile_id` of the live profiles the rule matches at `now`.

    `memberships` are (segment_id, profile_id) pairs, inlined as VALUES (only those of the
    segments the rule names), or a table holding them. Raises ValueError for a query Athena
    would refuse (longer than MAX_QUERY_BYTES) or an unsafe database or table name.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    compiler = _Compiler(now.astimezone(UTC))
    where = compiler.rule(rule)
    # only the columns the rule reads: Athena bills the Parquet columns a query scans
    used = sorted(set(_PROFILE_COLUMN.findall(where)))
    ctes = [_profiles_ctes(_table(database, PROFILES_TABLE), compiler.now, used, compiler.windows_used)]
    joins = ""
    if compiler.aggregates:
        ctes.append(_events_ctes(_table(database, EVENTS_TABLE)))
        columns = ", ".join(f"{aggregate} AS a{index}" for index, aggregate in enumerate(compiler.aggregates))
        ctes.append(f"event_facts AS (SELECT profile_id, {columns} FROM event_live GROUP BY profile_id)")  # noqa: S608
        joins = " LEFT JOIN event_facts ef ON ef.profile_id = p.profile_id"
    if compiler.segment_ids:
        ctes.append(_memberships_cte(memberships, compiler.segment_ids))
    sql = f"WITH {', '.join(ctes)} SELECT p.profile_id FROM profiles p{joins} WHERE {where}"  # noqa: S608
    if len(sql.encode()) > MAX_QUERY_BYTES:
        raise ValueError(
            f"the query is {len(sql.encode())} bytes, over Athena's {MAX_QUERY_BYTES}: "
            "pass the memberships as a MembershipTable, or split the rule"
        )
    return AthenaQuery(sql, bool(compiler.aggregates), bool(compiler.segment_ids), tuple(sorted(compiler.segment_ids)))


def select_profile_ids(warehouse: SqlWarehouse, query: AthenaQuery) -> set[str]:
    """Run the query (cdp.adapters.athena on AWS) and return the selected profile ids."""
    selected = set()
    for row in warehouse.rows(query.sql):
        if len(row) != 1 or row[0] is None:
            raise ValueError(f"a segment query answers one profile id per row, not {row!r}")
        selected.add(row[0])
    return selected


# literals ----------------------------------------------------------------------------------------
def quote(text: str) -> str:
    """A Trino string literal (standard SQL: a quote is doubled, nothing else is special)."""
    if "\x00" in text:
        raise ValueError("a NUL character cannot be part of a query")
    return "'" + text.replace("'", "''") + "'"


def _double(value: float) -> str:
    text = repr(float(value))
    return text if "e" in text else f"{text}E0"  # an exponent makes it DOUBLE, not DECIMAL


def _instant(moment: datetime) -> str:
    """timestamp(6) with time zone, for comparing with timestamps parsed from JSON strings."""
    return f"from_iso8601_timestamp_nanos({quote(moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ'))})"


def _utc_wall(moment: datetime) -> str:
    """timestamp(6) without zone (UTC wall time), for the archive's event `ts`."""
    return f"TIMESTAMP {quote(moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S.%f'))}"


def _table(database: str, table: str) -> str:
    for name in (database, table):
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"unsafe identifier {name!r}")
    return f'"{database}"."{table}"'


def _json_path(path: tuple[str, ...]) -> str:
    for segment in path:
        if not NAME_PATTERN.fullmatch(segment):
            raise ValueError(f"unsafe name {segment!r}")
    # bracket notation: a name may start with digits ("30d"), which dot notation does not take
    return "'$" + "".join(f'["{segment}"]' for segment in path) + "'"


# the archive as tables ---------------------------------------------------------------------------
def _profiles_ctes(table: str, now: datetime, used: list[str], windows: bool) -> str:
    columns = ", ".join(["profile_id", *used])
    window_columns = ""
    if windows:
        today = now.date()
        parts = []
        for days in WINDOWS_DAYS:
            first = (today - timedelta(days=days - 1)).isoformat()
            inside = f'filter(daily, d -> d."day" >= {quote(first)} AND d."day" <= {quote(today.isoformat())})'
            parts.append(
                f"COALESCE(reduce({inside}, CAST(0 AS BIGINT), (s, d) -> s + COALESCE(d.orders, 0), s -> s), 0) "
                f"AS orders_{days}d"
            )
            parts.append(
                f"round(COALESCE(reduce({inside}, CAST(0 AS DOUBLE), (s, d) -> s + COALESCE(d.revenue, 0), s -> s), "
                f"0), {MONEY_DIGITS}) AS revenue_{days}d"
            )
        window_columns = ", " + ", ".join(parts)
    return (
        f"profile_latest AS (SELECT *, row_number() OVER (PARTITION BY profile_id ORDER BY seq DESC) AS newest "  # noqa: S608
        f"FROM {table}), "
        f"profiles AS (SELECT {columns}{window_columns} FROM profile_latest "
        f"WHERE newest = 1 AND op <> {quote(REMOVE)} AND merged_into IS NULL)"
    )


def _events_ctes(table: str) -> str:
    return (
        "event_latest AS (SELECT event_id, profile_id, seq, op, name, ts, properties, "  # noqa: S608
        f"row_number() OVER (PARTITION BY profile_id, event_id ORDER BY seq DESC) AS newest FROM {table}), "
        "event_placed AS (SELECT event_id, profile_id, name, ts, properties, "
        "row_number() OVER (PARTITION BY event_id ORDER BY seq DESC) AS placement FROM event_latest "
        f"WHERE newest = 1 AND op <> {quote(REMOVE)}), "
        "event_live AS (SELECT event_id, profile_id, name, ts, properties FROM event_placed WHERE placement = 1)"
    )


def _memberships_cte(memberships: Sequence[tuple[str, str]] | MembershipTable, segment_ids: set[str]) -> str:
    if isinstance(memberships, MembershipTable):
        source = _table(memberships.database, memberships.table)
        return f"segment_members AS (SELECT segment_id, profile_id FROM {source})"  # noqa: S608
    pairs = sorted({(segment, profile) for segment, profile in memberships if segment in segment_ids})
    if not pairs:
        return (
            "segment_members AS (SELECT segment_id, profile_id FROM (VALUES (CAST(NULL AS VARCHAR), "
            "CAST(NULL AS VARCHAR))) AS v(segment_id, profile_id) WHERE FALSE)"
        )
    rows = ", ".join(f"({quote(segment)}, {quote(profile)})" for segment, profile in pairs)
    return f"segment_members(segment_id, profile_id) AS (VALUES {rows})"


# values ------------------------------------------------------------------------------------------
class _Value:
    """SQL views of one value: presence, type tests and typed readings."""

    exists: str
    is_string: str
    is_number: str
    is_boolean: str
    text: str
    number: str
    boolean: str

    @classmethod
    def json(cls, column: str, path: tuple[str, ...]) -> _Value:
        value = cls()
        literal = _json_path(path)
        extracted = f"json_extract({column}, {literal})"
        canonical = f"json_format({extracted})"
        value.exists = f"({canonical} IS NOT NULL AND {canonical} <> 'null')"
        value.is_string = f"(substr({canonical}, 1, 1) = '\"')"
        value.is_number = f"(substr({canonical}, 1, 1) IN {_NUMBER_STARTS})"
        value.is_boolean = f"({canonical} IN ('true', 'false'))"
        value.text = f"json_extract_scalar({column}, {literal})"
        value.number = f"TRY_CAST({extracted} AS DOUBLE)"
        value.boolean = f"({canonical} = 'true')"
        return value

    @classmethod
    def string(cls, expression: str) -> _Value:
        value = cls()
        value.exists = value.is_string = f"({expression} IS NOT NULL)"
        value.is_number = value.is_boolean = "FALSE"
        value.text = expression
        value.number = "CAST(NULL AS DOUBLE)"
        value.boolean = "CAST(NULL AS BOOLEAN)"
        return value

    @classmethod
    def numeric(cls, expression: str) -> _Value:
        value = cls()
        value.exists = value.is_number = f"({expression} IS NOT NULL)"
        value.is_string = value.is_boolean = "FALSE"
        value.text = "CAST(NULL AS VARCHAR)"
        value.number = f"CAST({expression} AS DOUBLE)"
        value.boolean = "CAST(NULL AS BOOLEAN)"
        return value

    @classmethod
    def object(cls) -> _Value:
        value = cls()
        value.exists = "TRUE"
        value.is_string = value.is_number = value.is_boolean = "FALSE"
        value.text = "CAST(NULL AS VARCHAR)"
        value.number = "CAST(NULL AS DOUBLE)"
        value.boolean = "CAST(NULL AS BOOLEAN)"
        return value

    @property
    def timestamp(self) -> str:
        padded = f"(CASE WHEN length({self.text}) = 10 THEN {self.text} || 'T00:00:00+00:00' ELSE {self.text} END)"
        return (
            f"(CASE WHEN {self.is_string} AND regexp_like({self.text}, '^{TIMESTAMP_PATTERN}$') "
            f"THEN TRY(from_iso8601_timestamp_nanos({padded})) END)"
        )


class _Compiler:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.aggregates: list[str] = []
        self.segment_ids: set[str] = set()
        self.windows_used = False

    def rule(self, rule: Rule) -> str:
        if isinstance(rule, And | Or):
            joiner = " AND " if isinstance(rule, And) else " OR "
            return "(" + joiner.join(self.rule(child) for child in rule.children) + ")"
        if isinstance(rule, Not):
            return f"(NOT {self.rule(rule.child)})"
        return f"COALESCE({self.leaf(rule)}, FALSE)"

    def leaf(self, rule: Rule) -> str:
        if isinstance(rule, Attribute):
            return self.predicate(self.attribute(rule), rule.predicate)
        if isinstance(rule, Tag):
            if rule.name is not None:
                return f"contains(p.tags, {quote(rule.name)})"
            return f"(cardinality(filter(p.tags, t -> starts_with(t, {quote(f'{rule.group}:')}))) > 0)"
        if isinstance(rule, EventCondition):
            return self.event(rule)
        if isinstance(rule, Reachable):
            if rule.channel == "line":
                return "(p.line_status = 'friend')"
            identifier = "email" if rule.channel == "email" else "phone"
            return f"(contains(p.identifier_types, {quote(identifier)}) AND {self.consent(rule.channel, rule.purpose)})"
        if isinstance(rule, Consent):
            return self.consent(rule.channel, rule.purpose)
        if isinstance(rule, HasIdentifier):
            return f"contains(p.identifier_types, {quote(rule.type)})"
        assert isinstance(rule, InSegment)
        self.segment_ids.add(rule.segment_id)
        return (
            "EXISTS (SELECT 1 FROM segment_members m WHERE m.profile_id = p.profile_id "  # noqa: S608
            f"AND m.segment_id = {quote(rule.segment_id)})"
        )

    def attribute(self, rule: Attribute) -> _Value:
        path = rule.field.path
        if rule.field.source == "profile":
            return _Value.string({"profile_id": "p.profile_id", "line_status": "p.line_status"}[path[0]])
        if rule.field.source == "traits":
            return _Value.json("p.traits", path)
        # open_archive merges the order windows completed at `now` into `computed` (a JSON merge patch)
        if path == ("evaluated_at",):
            return _Value.string(quote(self.now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"))
        if path[0] in _WINDOWED:
            if len(path) == 1:
                return _Value.object()
            all_time, prefix = _WINDOWED[path[0]]
            windows = {f"{days}d": f"p.{prefix}_{days}d" for days in WINDOWS_DAYS}
            if path[1] == "all_time" or path[1] in windows:
                if len(path) > 2:  # below a number: nothing
                    return _Value.numeric("CAST(NULL AS DOUBLE)")
                if path[1] == "all_time":
                    return _Value.numeric(f"p.{all_time}")
                self.windows_used = True
                return _Value.numeric(windows[path[1]])
        return _Value.json("p.computed", path)

    def consent(self, channel: str, purpose: str) -> str:
        if not KEYWORD_PATTERN.fullmatch(channel) or not KEYWORD_PATTERN.fullmatch(purpose):
            raise ValueError(f"unsafe consent key {channel}:{purpose}")
        return f"(json_format(json_extract(p.consent, '$[\"{channel}:{purpose}\"]')) = 'true')"

    def event(self, rule: EventCondition) -> str:
        conditions = [f"name = {quote(rule.name)}"]
        if rule.window is not None:
            conditions.append(f"ts >= {_utc_wall(self.now - rule.window)}")
            conditions.append(f"ts <= {_utc_wall(self.now)}")
        for item in rule.where:
            conditions.append(
                f"COALESCE({self.predicate(_Value.json('properties', item.path), item.predicate)}, FALSE)"
            )
        if rule.property is None:
            aggregate = f"count(*) FILTER (WHERE {' AND '.join(conditions)})"
        else:
            value = _Value.json("properties", rule.property)
            conditions.append(value.is_number)
            aggregate = f"{rule.aggregate}({value.number}) FILTER (WHERE {' AND '.join(conditions)})"
        column = f"ef.a{len(self.aggregates)}"
        self.aggregates.append(aggregate)
        # no events at all (no row in event_facts): count 0, sum 0, min / max missing
        reading = f"COALESCE({column}, 0)" if rule.aggregate in ("count", "sum") else column
        return f"(CAST({reading} AS DOUBLE) {_SQL_OPS[rule.op]} {_double(rule.value)})"

    def predicate(self, value: _Value, predicate: Predicate) -> str:
        op, target = predicate.op, predicate.value
        if op == "exists":
            return value.exists
        if op == "not_exists":
            return f"(NOT {value.exists})"
        if op == "in":
            assert isinstance(target, tuple)
            return "(" + " OR ".join(f"COALESCE({self.compare(value, 'eq', item)}, FALSE)" for item in target) + ")"
        if op == "contains":
            assert isinstance(target, str)
            return f"({value.is_string} AND strpos({value.text}, {quote(target)}) > 0)"
        if op == "starts_with":
            assert isinstance(target, str)
            return f"({value.is_string} AND starts_with({value.text}, {quote(target)}))"
        if op in ("within_last", "before_last"):
            assert isinstance(target, timedelta)
            cutoff = _instant(self.now - target)
            if op == "before_last":
                return f"({value.timestamp} < {cutoff})"
            return f"({value.timestamp} >= {cutoff} AND {value.timestamp} <= {_instant(self.now)})"
        assert target is not None and not isinstance(target, tuple | timedelta)
        return self.compare(value, op, target)

    def compare(self, value: _Value, op: str, target: Scalar) -> str:
        sql_op = _SQL_OPS[op]
        if isinstance(target, bool):
            if op not in ("eq", "neq"):
                return "FALSE"
            return f"({value.is_boolean} AND {value.boolean} {sql_op} {'TRUE' if target else 'FALSE'})"
        if isinstance(target, int | float):
            return f"({value.is_number} AND {value.number} {sql_op} {_double(target)})"
        return f"({value.is_string} AND {value.text} {sql_op} {quote(target)})"
