"""The Python evaluator: is this profile, with these events, in the segment now?

Semantics shared with the SQL compiler (cdp.segments.sql; a differential test holds them equal):

- A missing value (absent key or JSON null) satisfies only `not_exists`; it never equals,
  differs from, or compares with anything.
- Values compare only within a type: number with number (as floats), string with string (by
  code point), boolean with boolean (eq / neq / in only). Mixed types are false, never an error.
- `contains` / `starts_with` apply to strings. `within_last` / `before_last` apply to timestamp
  strings `YYYY-MM-DD` (midnight UTC) or `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`:
  within_last N is now - N <= t <= now; before_last N is t < now - N.
- An event condition aggregates matching events (name, filters, window now - N <= ts <= now):
  count of events; sum (0 when none) / min / max (missing when none) of the property's numeric
  values, non-numeric values skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp.segments.rules import (
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

TIMESTAMP_PATTERN = (
    r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))?"
)
_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class ProfileFacts:
    """What a rule can see of a profile."""

    profile_id: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    computed: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    line_status: str | None = None  # friend / blocked / never_followed
    consent: Mapping[str, bool] = field(default_factory=dict)  # "channel:purpose" -> granted
    identifier_types: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EventFact:
    name: str
    timestamp: datetime  # aware
    properties: Mapping[str, Any] = field(default_factory=dict)


def evaluate(
    rule: Rule, profile: ProfileFacts, events: Sequence[EventFact], now: datetime, memberships: set[str]
) -> bool:
    """True if the profile is in the segment; `memberships` are the segment ids it is in now."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Evaluator(profile, events, now, memberships).test(rule)


class _Evaluator:
    def __init__(self, profile: ProfileFacts, events: Sequence[EventFact], now: datetime, memberships: set[str]):
        self.profile = profile
        self.events = events
        self.now = now
        self.memberships = memberships

    def test(self, rule: Rule) -> bool:
        if isinstance(rule, And):
            return all(self.test(child) for child in rule.children)
        if isinstance(rule, Or):
            return any(self.test(child) for child in rule.children)
        if isinstance(rule, Not):
            return not self.test(rule.child)
        if isinstance(rule, Attribute):
            if rule.field.source == "profile":
                value: Any = getattr(self.profile, rule.field.path[0])
            else:
                source = self.profile.traits if rule.field.source == "traits" else self.profile.computed
                value = lookup(source, rule.field.path)
            return matches(rule.predicate, value, self.now)
        if isinstance(rule, Tag):
            if rule.name is not None:
                return rule.name in self.profile.tags
            prefix = f"{rule.group}:"
            return any(tag.startswith(prefix) for tag in self.profile.tags)
        if isinstance(rule, EventCondition):
            return self.event(rule)
        if isinstance(rule, Reachable):
            if rule.channel == "line":
                return self.profile.line_status == "friend"
            identifier = "email" if rule.channel == "email" else "phone"
            return identifier in self.profile.identifier_types and self.consented(rule.channel, rule.purpose)
        if isinstance(rule, Consent):
            return self.consented(rule.channel, rule.purpose)
        if isinstance(rule, HasIdentifier):
            return rule.type in self.profile.identifier_types
        assert isinstance(rule, InSegment)
        return rule.segment_id in self.memberships

    def consented(self, channel: str, purpose: str) -> bool:
        return self.profile.consent.get(f"{channel}:{purpose}") is True

    def event(self, rule: EventCondition) -> bool:
        start = self.now - rule.window if rule.window is not None else None
        count = 0
        numbers: list[float] = []
        for event in self.events:
            if event.name != rule.name:
                continue
            if start is not None and not start <= event.timestamp <= self.now:
                continue
            if not all(matches(f.predicate, lookup(event.properties, f.path), self.now) for f in rule.where):
                continue
            count += 1
            if rule.property is not None:
                value = lookup(event.properties, rule.property)
                if _is_number(value):
                    numbers.append(float(value))
        total: float | None
        if rule.aggregate == "count":
            total = float(count)
        elif rule.aggregate == "sum":
            total = sum(numbers, 0.0)
        elif not numbers:
            total = None
        else:
            total = min(numbers) if rule.aggregate == "min" else max(numbers)
        return total is not None and _compare(rule.op, total, rule.value)


def lookup(source: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a nested key, or None when any step is missing or not an object."""
    value: Any = source
    for segment in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment, _MISSING)
        if value is _MISSING:
            return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "neq":
        return bool(left != right)
    if op == "gt":
        return bool(left > right)
    if op == "gte":
        return bool(left >= right)
    if op == "lt":
        return bool(left < right)
    return bool(left <= right)


def _typed_compare(op: str, value: Any, target: Any) -> bool:
    kind = _kind(value)
    if kind is None or kind == "other" or kind != _kind(target):
        return False
    if kind == "boolean" and op not in ("eq", "neq"):
        return False
    if kind == "number":
        return _compare(op, float(value), float(target))
    return _compare(op, value, target)


def parse_timestamp(value: Any) -> datetime | None:
    """A timestamp string in the rule language's accepted forms, else None."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def matches(predicate: Predicate, value: Any, now: datetime) -> bool:
    op, target = predicate.op, predicate.value
    if op == "exists":
        return value is not None
    if op == "not_exists":
        return value is None
    if op == "in":
        assert isinstance(target, tuple)
        return any(_typed_compare("eq", value, item) for item in target)
    if op in ("contains", "starts_with"):
        if not isinstance(value, str) or not isinstance(target, str):
            return False
        return target in value if op == "contains" else value.startswith(target)
    if op in ("within_last", "before_last"):
        moment = parse_timestamp(value)
        if moment is None or not isinstance(target, timedelta):
            return False
        cutoff = now - target
        return cutoff <= moment <= now if op == "within_last" else moment < cutoff
    return _typed_compare(op, value, target)
