"""The segment rule language: JSON rules parsed into a small typed AST.

A rule is a tree of single-key JSON objects (see docs/segment-rules.md and `rule_schema()`):

    {"and": [rule, ...]}  {"or": [rule, ...]}  {"not": rule}
    {"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}}
    {"tag": {"name": "vip"}}  {"tag": {"group": "asked"}}
    {"event": {"name": "Order Completed", "where": [...], "within": {"last": {"days": 30}},
               "aggregate": "sum", "property": "revenue", "op": "gt", "value": 3000}}
    {"reachable": {"channel": "line"}}  {"consent": {"channel": "email", "purpose": "marketing"}}
    {"identifier": {"type": "line"}}  {"in_segment": {"segment_id": "vip"}}

`parse_rule` validates everything (names against a safe pattern, operators against value types,
depth and size limits) and raises `BadRequest(code="invalid_segment_rule")` whose `details` carry
the JSON pointer of the offending node and the reason. The same AST feeds the Python evaluator
(cdp.segments.evaluate) and the SQL compiler (cdp.segments.sql).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from typing import Any

from cdp.errors import BadRequest

MAX_DEPTH = 10
MAX_NODES = 100
MAX_IN_VALUES = 100
MAX_STRING = 256
MAX_WHERE = 10
MAX_PATH_SEGMENTS = 4
# trait / computed / property path segments: "city", "rfm", "30d" (not all digits: never an array index)
NAME_PATTERN = re.compile(r"[0-9]{0,8}[A-Za-z_][A-Za-z0-9_]{0,63}")
KEYWORD_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # channels, purposes, identifier types
ERROR_CODE = "invalid_segment_rule"

Scalar = str | int | float | bool
COMPARISON_OPS = ("eq", "neq", "gt", "gte", "lt", "lte")
VALUE_OPS = (*COMPARISON_OPS, "in", "contains", "starts_with")
PRESENCE_OPS = ("exists", "not_exists")
TIME_OPS = ("within_last", "before_last")
OPERATORS = (*VALUE_OPS, *PRESENCE_OPS, *TIME_OPS)
AGGREGATES = ("count", "sum", "min", "max")
SOURCES = ("traits", "computed")
PROFILE_FIELDS = ("profile_id", "line_status")
CHANNELS = ("line", "email", "sms")
DURATION_UNITS = {"days": 86400, "hours": 3600, "minutes": 60}
MAX_DURATION_SECONDS = 3660 * 86400  # ten years


@dataclass(frozen=True, slots=True)
class Predicate:
    """`op` applied to one value; `value` is a scalar, a tuple of scalars (`in`), a timedelta
    (`within_last` / `before_last`) or None (`exists` / `not_exists`)."""

    op: str
    value: Scalar | tuple[Scalar, ...] | timedelta | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """`source` is traits, computed or profile; `path` the (nested) key, e.g. ("rfm", "recency")."""

    source: str
    path: tuple[str, ...]

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Rule


@dataclass(frozen=True, slots=True)
class Attribute:
    field: Field
    predicate: Predicate


@dataclass(frozen=True, slots=True)
class Tag:
    """Has the tag `name`, or any tag of `group` (a tag `group:value`)."""

    name: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    path: tuple[str, ...]
    predicate: Predicate


@dataclass(frozen=True, slots=True)
class EventCondition:
    """`aggregate` over the events named `name` passing every `where` filter, within `window`
    before now (None: all time), compared with `op` / `value`."""

    name: str
    where: tuple[PropertyFilter, ...]
    window: timedelta | None
    aggregate: str
    property: tuple[str, ...] | None
    op: str
    value: float


@dataclass(frozen=True, slots=True)
class Reachable:
    channel: str
    purpose: str = "marketing"


@dataclass(frozen=True, slots=True)
class Consent:
    channel: str
    purpose: str


@dataclass(frozen=True, slots=True)
class HasIdentifier:
    type: str


@dataclass(frozen=True, slots=True)
class InSegment:
    segment_id: str


Rule = And | Or | Not | Attribute | Tag | EventCondition | Reachable | Consent | HasIdentifier | InSegment


@dataclass(frozen=True, slots=True)
class RuleReads:
    """What a rule depends on: a profile change touching none of these cannot change membership
    (except through `time`: a relative window moves on its own)."""

    traits: frozenset[str]
    computed: frozenset[str]
    profile_fields: frozenset[str]
    events: frozenset[str]
    tags: frozenset[str]
    tag_groups: frozenset[str]
    consent: frozenset[str]
    identifiers: frozenset[str]
    segments: frozenset[str]
    time: bool


def rule_schema() -> dict[str, Any]:
    """The published JSON Schema of a rule (segment-rule.schema.json in this package)."""
    text = resources.files("cdp.segments").joinpath("segment-rule.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def invalid(path: str, reason: str) -> BadRequest:
    return BadRequest(
        f"invalid segment rule at {path or '/'}: {reason}", code=ERROR_CODE, details={"path": path, "reason": reason}
    )


def parse_rule(data: Any) -> Rule:
    """Validate a JSON rule and return its AST; raises BadRequest(invalid_segment_rule)."""
    parser = _Parser()
    return parser.node(data, "", 1)


def _pointer(path: str, key: str | int) -> str:
    text = str(key).replace("~", "~0").replace("/", "~1")
    return f"{path}/{text}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_STRING
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int | bool)


class _Parser:
    def __init__(self) -> None:
        self.nodes = 0

    def node(self, data: Any, path: str, depth: int) -> Rule:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise invalid(path, f"a rule has at most {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise invalid(path, f"a rule nests at most {MAX_DEPTH} levels")
        if not isinstance(data, dict) or len(data) != 1:
            raise invalid(path, "a rule node is an object with exactly one key")
        ((kind, body),) = data.items()
        here = _pointer(path, kind)
        if kind in ("and", "or"):
            if not isinstance(body, list) or not body:
                raise invalid(here, f"`{kind}` takes a non-empty list of rules")
            children = tuple(self.node(child, _pointer(here, index), depth + 1) for index, child in enumerate(body))
            return And(children) if kind == "and" else Or(children)
        if kind == "not":
            return Not(self.node(body, here, depth + 1))
        parsers: dict[str, Callable[[dict[str, Any], str], Rule]] = {
            "attribute": self.attribute,
            "tag": self.tag,
            "event": self.event,
            "reachable": self.reachable,
            "consent": self.consent,
            "identifier": self.identifier,
            "in_segment": self.in_segment,
        }
        if kind not in parsers:
            raise invalid(here, f"unknown node `{kind}`; expected one of and, or, not, {', '.join(parsers)}")
        if not isinstance(body, dict):
            raise invalid(here, f"`{kind}` takes an object")
        return parsers[kind](body, here)

    # leaves ------------------------------------------------------------------------------------
    def attribute(self, body: dict[str, Any], path: str) -> Attribute:
        _only(body, path, required={"field", "op"}, optional={"value"})
        field = _field(body["field"], _pointer(path, "field"))
        return Attribute(field, _predicate(body, path))

    def tag(self, body: dict[str, Any], path: str) -> Tag:
        if set(body) == {"name"}:
            return Tag(name=_text(body["name"], _pointer(path, "name")))
        if set(body) == {"group"}:
            group = _text(body["group"], _pointer(path, "group"))
            if ":" in group:
                raise invalid(_pointer(path, "group"), "a tag group is the part before ':' and contains none")
            return Tag(group=group)
        raise invalid(path, "`tag` takes exactly one of `name` or `group`")

    def event(self, body: dict[str, Any], path: str) -> EventCondition:
        _only(body, path, required={"name"}, optional={"where", "within", "aggregate", "property", "op", "value"})
        name = _text(body["name"], _pointer(path, "name"))
        where_data = body.get("where", [])
        if not isinstance(where_data, list) or len(where_data) > MAX_WHERE:
            raise invalid(_pointer(path, "where"), f"`where` is a list of at most {MAX_WHERE} property filters")
        where = []
        for index, item in enumerate(where_data):
            here = _pointer(_pointer(path, "where"), index)
            if not isinstance(item, dict):
                raise invalid(here, "a property filter is an object")
            _only(item, here, required={"property", "op"}, optional={"value"})
            where.append(PropertyFilter(_path(item["property"], _pointer(here, "property")), _predicate(item, here)))
        window = None
        if "within" in body:
            within = body["within"]
            here = _pointer(path, "within")
            if not isinstance(within, dict) or set(within) != {"last"}:
                raise invalid(here, '`within` is {"last": {"days": N}}; leave it out for all time')
            window = _duration(within["last"], _pointer(here, "last"))
        aggregate = body.get("aggregate", "count")
        if aggregate not in AGGREGATES:
            raise invalid(_pointer(path, "aggregate"), f"`aggregate` is one of {', '.join(AGGREGATES)}")
        prop = None
        if aggregate == "count":
            if "property" in body:
                raise invalid(_pointer(path, "property"), "`count` takes no `property`")
        else:
            if "property" not in body:
                raise invalid(path, f"`{aggregate}` needs the numeric `property` it aggregates")
            prop = _path(body["property"], _pointer(path, "property"))
        op = body.get("op", "gte")
        if op not in COMPARISON_OPS:
            raise invalid(
                _pointer(path, "op"), f"an event aggregate is compared with one of {', '.join(COMPARISON_OPS)}"
            )
        value = body.get("value", 1)
        if not _is_number(value) or not math.isfinite(value):
            raise invalid(_pointer(path, "value"), "an event aggregate is compared with a number")
        return EventCondition(name, tuple(where), window, aggregate, prop, op, float(value))

    def reachable(self, body: dict[str, Any], path: str) -> Reachable:
        _only(body, path, required={"channel"}, optional={"purpose"})
        channel = body["channel"]
        if channel not in CHANNELS:
            raise invalid(_pointer(path, "channel"), f"`channel` is one of {', '.join(CHANNELS)}")
        purpose = _keyword(body.get("purpose", "marketing"), _pointer(path, "purpose"))
        return Reachable(channel, purpose)

    def consent(self, body: dict[str, Any], path: str) -> Consent:
        _only(body, path, required={"channel", "purpose"}, optional=set())
        return Consent(
            _keyword(body["channel"], _pointer(path, "channel")), _keyword(body["purpose"], _pointer(path, "purpose"))
        )

    def identifier(self, body: dict[str, Any], path: str) -> HasIdentifier:
        _only(body, path, required={"type"}, optional=set())
        return HasIdentifier(_keyword(body["type"], _pointer(path, "type")))

    def in_segment(self, body: dict[str, Any], path: str) -> InSegment:
        _only(body, path, required={"segment_id"}, optional=set())
        return InSegment(_text(body["segment_id"], _pointer(path, "segment_id")))


def _only(body: dict[str, Any], path: str, *, required: set[str], optional: set[str]) -> None:
    missing = sorted(required - set(body))
    if missing:
        raise invalid(path, f"`{missing[0]}` is required")
    unknown = sorted(set(body) - required - optional)
    if unknown:
        raise invalid(_pointer(path, unknown[0]), f"unknown key `{unknown[0]}`")


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_STRING:
        raise invalid(path, f"expected a non-empty string of at most {MAX_STRING} characters")
    return value


def _keyword(value: Any, path: str) -> str:
    if not isinstance(value, str) or not KEYWORD_PATTERN.fullmatch(value):
        raise invalid(path, f"expected a lower-case name matching {KEYWORD_PATTERN.pattern}")
    return value


def _path(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, str):
        raise invalid(path, "expected a dotted name")
    segments = tuple(value.split("."))
    if len(segments) > MAX_PATH_SEGMENTS or not all(NAME_PATTERN.fullmatch(s) for s in segments):
        raise invalid(
            path, f"names are up to {MAX_PATH_SEGMENTS} dotted segments, each matching {NAME_PATTERN.pattern}"
        )
    return segments


def _field(value: Any, path: str) -> Field:
    if isinstance(value, str) and value in PROFILE_FIELDS:
        return Field("profile", (value,))
    if not isinstance(value, str) or "." not in value or value.split(".", 1)[0] not in SOURCES:
        raise invalid(path, f"`field` is traits.<name>, computed.<name> or one of {', '.join(PROFILE_FIELDS)}")
    source, rest = value.split(".", 1)
    return Field(source, _path(rest, path))


def _duration(value: Any, path: str) -> timedelta:
    if not isinstance(value, dict) or len(value) != 1:
        raise invalid(path, 'a duration is one of {"days": N}, {"hours": N}, {"minutes": N}')
    ((unit, amount),) = value.items()
    if unit not in DURATION_UNITS:
        raise invalid(path, 'a duration is one of {"days": N}, {"hours": N}, {"minutes": N}')
    seconds = amount * DURATION_UNITS[unit] if isinstance(amount, int) and not isinstance(amount, bool) else 0
    if seconds <= 0 or seconds > MAX_DURATION_SECONDS:
        raise invalid(_pointer(path, unit), "a duration is a positive whole number of at most ten years")
    return timedelta(seconds=seconds)


def _predicate(body: dict[str, Any], path: str) -> Predicate:
    op = body["op"]
    op_path = _pointer(path, "op")
    value_path = _pointer(path, "value")
    if op not in OPERATORS:
        raise invalid(op_path, f"`op` is one of {', '.join(OPERATORS)}")
    if op in PRESENCE_OPS:
        if "value" in body:
            raise invalid(value_path, f"`{op}` takes no value")
        return Predicate(op)
    if "value" not in body:
        raise invalid(path, f"`{op}` needs a `value`")
    value = body["value"]
    if op in TIME_OPS:
        return Predicate(op, _duration(value, value_path))
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise invalid(value_path, f"`in` takes a list of 1 to {MAX_IN_VALUES} values")
        for index, item in enumerate(value):
            if not _is_scalar(item):
                raise invalid(_pointer(value_path, index), "expected a string, number or boolean")
        return Predicate(op, tuple(value))
    if not _is_scalar(value):
        raise invalid(value_path, "expected a string, number or boolean")
    if op in ("contains", "starts_with") and not isinstance(value, str):
        raise invalid(value_path, f"`{op}` takes a string")
    if op in ("gt", "gte", "lt", "lte") and isinstance(value, bool):
        raise invalid(value_path, f"`{op}` takes a number or a string")
    return Predicate(op, value)


def reads(rule: Rule) -> RuleReads:
    """What the rule reads, to index segments for real-time evaluation."""
    found: dict[str, set[str]] = {
        "traits": set(),
        "computed": set(),
        "profile_fields": set(),
        "events": set(),
        "tags": set(),
        "tag_groups": set(),
        "consent": set(),
        "identifiers": set(),
        "segments": set(),
    }
    uses_time = False
    stack: list[Rule] = [rule]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(node.children)
        elif isinstance(node, Not):
            stack.append(node.child)
        elif isinstance(node, Attribute):
            key = "profile_fields" if node.field.source == "profile" else node.field.source
            found[key].add(node.field.dotted)
            uses_time = uses_time or node.predicate.op in TIME_OPS
        elif isinstance(node, Tag):
            if node.name is not None:
                found["tags"].add(node.name)
            if node.group is not None:
                found["tag_groups"].add(node.group)
        elif isinstance(node, EventCondition):
            found["events"].add(node.name)
            uses_time = uses_time or node.window is not None
            uses_time = uses_time or any(f.predicate.op in TIME_OPS for f in node.where)
        elif isinstance(node, Reachable):
            if node.channel == "line":
                found["profile_fields"].add("line_status")
            else:
                found["identifiers"].add(_reach_identifier(node.channel))
                found["consent"].add(f"{node.channel}:{node.purpose}")
        elif isinstance(node, Consent):
            found["consent"].add(f"{node.channel}:{node.purpose}")
        elif isinstance(node, HasIdentifier):
            found["identifiers"].add(node.type)
        else:
            found["segments"].add(node.segment_id)
    return RuleReads(**{key: frozenset(values) for key, values in found.items()}, time=uses_time)


def _reach_identifier(channel: str) -> str:
    """The identifier that makes a non-LINE channel addressable."""
    return "email" if channel == "email" else "phone"
