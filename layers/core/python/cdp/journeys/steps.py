"""What each journey node does, as pure functions of the run, the person and the time.

The journey step function (cdp.journeys.stepper) loads what these need and applies their
answers; nothing here reads a store or the clock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp.domain_events import JOURNEY_ENTERED, JOURNEY_EXITED, JOURNEY_NODE_COMPLETED, DomainEvent
from cdp.events.canonical import CanonicalEvent
from cdp.events.raw import RawEvent
from cdp.journeys.definition import (
    WEEKDAYS,
    Action,
    ConditionSplit,
    DelayFor,
    DelayUntilTime,
    DelayUntilTimestamp,
    JourneyDefinition,
    RandomSplit,
    Send,
    SplitBranch,
    parse_duration,
)
from cdp.journeys.runs import Run, send_key
from cdp.messaging.request import SendRequest
from cdp.profiles.consent import admin_event
from cdp.profiles.model import Profile
from cdp.profiles.tag_changes import tag_change_events
from cdp.segments.evaluate import EventFact, ProfileFacts, evaluate
from cdp.segments.rules import parse_rule, reads

JOURNEYS_SOURCE = "admin-journeys"
JOURNEY_ENTERED_EVENT = "Journey Entered"
JOURNEY_NODE_REACHED_EVENT = "Journey Node Reached"
JOURNEY_EXITED_EVENT = "Journey Exited"
TIME_ZONE_TRAIT = "time_zone"
ELSE = "else"
_PLACEHOLDER = re.compile(r"\{\{\s*(entry\.properties|traits)\.([A-Za-z_][A-Za-z0-9_.]{0,63})\s*\}\}")


def iso_z(moment: datetime) -> str:
    """Whole seconds, UTC, `Z`: what a Wait state's TimestampPath takes. Rounded up, so a wait
    never ends before its time."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (no offset: UTC) or epoch milliseconds; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# delays ---------------------------------------------------------------------------------------------
def person_zone(traits: Mapping[str, Any], journey_zone: str) -> ZoneInfo:
    """The person's time zone (trait `time_zone`, when it names one), else the journey's."""
    value = traits.get(TIME_ZONE_TRAIT)
    if isinstance(value, str) and value:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(journey_zone)


def next_local_time(after: datetime, hhmm: str, weekdays: Sequence[str], zone: ZoneInfo) -> datetime:
    """The first `hhmm` in `zone` at or after `after`, on one of `weekdays` (any day when empty)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    allowed = {WEEKDAYS.index(day) for day in weekdays} if weekdays else set(range(7))
    local = after.astimezone(zone)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        if day.weekday() not in allowed:
            continue
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        # A time that does not exist that day (a DST gap) comes out shifted: still a valid moment.
        candidate = candidate.astimezone(UTC).astimezone(zone)
        if candidate >= after:
            return candidate.astimezone(UTC)
    raise AssertionError("a week always holds an allowed weekday")  # pragma: no cover


def field_value(path: str, *, traits: Mapping[str, Any], computed: Mapping[str, Any], entry: Mapping[str, Any]) -> Any:
    """`traits.x`, `computed.x` or `entry.properties.x` (dots go into nested objects)."""
    if path.startswith("entry.properties."):
        source: Any = entry.get("properties") or {}
        parts = path.removeprefix("entry.properties.").split(".")
    else:
        head, _, rest = path.partition(".")
        source = traits if head == "traits" else computed
        parts = rest.split(".")
    for part in parts:
        if not isinstance(source, Mapping) or part not in source:
            return None
        source = source[part]
    return source


def delay_until(
    node: DelayFor | DelayUntilTime | DelayUntilTimestamp,
    *,
    now: datetime,
    journey_zone: str,
    traits: Mapping[str, Any],
    computed: Mapping[str, Any],
    entry: Mapping[str, Any],
) -> datetime:
    """When the delay ends (never before `now`)."""
    if isinstance(node, DelayFor):
        return now + parse_duration(node.duration)
    if isinstance(node, DelayUntilTime):
        earliest = now + (parse_duration(node.at_least) if node.at_least else timedelta(0))
        return next_local_time(earliest, node.time, node.weekdays, person_zone(traits, journey_zone))
    moment = parse_instant(field_value(node.field, traits=traits, computed=computed, entry=entry))
    if moment is None:
        return now  # missing: go on at once
    negative = node.offset.startswith("-")
    offset = parse_duration(node.offset.removeprefix("-"))
    target = moment - offset if negative else moment + offset
    return max(target, now)


# condition and random splits --------------------------------------------------------------------------
def condition_segments(node: ConditionSplit) -> set[str]:
    """The segments whose membership the node's branches read."""
    found: set[str] = set()
    for branch in node.branches:
        if "in_segment" in branch.when:
            found.add(str(branch.when["in_segment"]))
        elif "clicked" not in branch.when:
            found |= set(reads(parse_rule(branch.when)).segments)
    return found


def condition_reads_events(node: ConditionSplit) -> bool:
    return any(
        "in_segment" not in b.when and "clicked" not in b.when and bool(reads(parse_rule(b.when)).events)
        for b in node.branches
    )


def choose_branch(
    node: ConditionSplit,
    *,
    facts: ProfileFacts,
    events: Sequence[EventFact],
    now: datetime,
    memberships: set[str],
    clicked: Mapping[str, str],
) -> tuple[str, str]:
    """(branch name, next node): the first branch whose condition holds, else `else`."""
    for branch in node.branches:
        when = branch.when
        if "clicked" in when:
            holds = str(when["clicked"]) in clicked
        elif "in_segment" in when:
            holds = str(when["in_segment"]) in memberships
        else:
            holds = evaluate(parse_rule(when), facts, events, now, memberships)
        if holds:
            return branch.name, branch.next
    return ELSE, node.else_


def bucket(profile_id: str, journey_id: str, node_id: str) -> float:
    """A stable number in [0, 100) for the person at this split: re-entries land in the same branch."""
    digest = hashlib.sha256(f"{journey_id}\x1f{node_id}\x1f{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def choose_split(node: RandomSplit, *, profile_id: str, journey_id: str, node_id: str) -> SplitBranch:
    point = bucket(profile_id, journey_id, node_id)
    upto = 0.0
    for branch in node.branches:
        upto += float(branch.percent)
        if point < upto:
            return branch
    return node.branches[-1]  # rounding of the percentages


# send and action ---------------------------------------------------------------------------------------
def send_request(
    run: Run, node_id: str, node: Send, definition: JourneyDefinition, templates: Mapping[str, int]
) -> SendRequest:
    """The send point's request for a send node: the pinned template version, the journey's send
    limit as its cap, the entry's properties as data (a cart reminder lists the cart's items)."""
    properties = run.entry.get("properties") if isinstance(run.entry, Mapping) else None
    return SendRequest(
        send_key=send_key(run.run_id, node_id),
        profile_id=run.profile_id,
        template_id=node.template_id,
        template_version=templates.get(node.template_id),
        data=dict(properties) if isinstance(properties, Mapping) else {},
        kind="journey",
        purpose=node.purpose,
        journey_id=run.journey_id,
        node_id=node_id,
        channels=list(node.channels),
        in_quiet_hours=node.in_quiet_hours,
        journey_cap=definition.send_limit,
        line_channel=node.line_channel,
    )


def fill(text: str, *, entry: Mapping[str, Any], traits: Mapping[str, Any]) -> str:
    """`{{entry.properties.x}}` / `{{traits.x}}` replaced by the value (empty when missing)."""

    def value(match: re.Match[str]) -> str:
        path = f"{match.group(1)}.{match.group(2)}"
        found = field_value(path, traits=traits, computed={}, entry=entry)
        return "" if found is None else str(found)

    return _PLACEHOLDER.sub(value, text)


def action_events(run: Run, node_id: str, node: Action, profile: Profile, *, now_ms: int) -> list[RawEvent]:
    """The tag change or trait change as events on the person's timeline, keyed by run and node
    (a retried task writes the same events)."""
    key = f"journey:{run.run_id}:{node_id}"
    traits = {name: stamped.value for name, stamped in profile.traits.items()}
    if node.action in ("add_tag", "remove_tag"):
        tag = fill(node.tag or "", entry=run.entry, traits=traits).strip()
        if not tag:
            return []
        add, remove = ([tag], []) if node.action == "add_tag" else ([], [tag])
        return tag_change_events(profile, add=add, remove=remove, now_ms=now_ms, request_key=key)
    return [
        admin_event(
            profile,
            source=JOURNEYS_SOURCE,
            payload={"type": "identify", "traits": {node.trait: node.value}},
            context={"channel": "crm"},
            now_ms=now_ms,
            request_key=key,
            purpose="set the trait",
        )
    ]


# what a run tells the timeline and the bus ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Happening:
    """A run entering, reaching a node or exiting: one timeline event and one bus event."""

    kind: str  # entered / node / exited
    run: Run
    at_ms: int
    node: str | None = None
    node_type: str | None = None
    entered: str | None = None  # the state's entered time (tells two visits of a node apart)
    outcome: str | None = None
    reason: str | None = None

    def properties(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "journey_id": self.run.journey_id,
            "journey_version": self.run.version,
            "run_id": self.run.run_id,
        }
        if self.run.entry_key and self.run.entry_key != "-":
            found["entry_key"] = self.run.entry_key
        for name in ("node", "node_type", "outcome", "reason"):
            value = getattr(self, name)
            if value is not None:
                found["node_id" if name == "node" else name] = value
        return found

    def key(self) -> str:
        if self.kind == "node":
            return f"journey:{self.run.run_id}:{self.node}:{self.entered}"
        return f"journey:{self.run.run_id}:{self.kind}"

    def timeline_event(self, profile: Profile) -> RawEvent:
        name = {"entered": JOURNEY_ENTERED_EVENT, "node": JOURNEY_NODE_REACHED_EVENT}.get(
            self.kind, JOURNEY_EXITED_EVENT
        )
        return admin_event(
            profile,
            source=JOURNEYS_SOURCE,
            payload={"type": "track", "event": name, "properties": self.properties()},
            context={"channel": "system"},
            now_ms=self.at_ms,
            request_key=self.key(),
            purpose="record the journey step",
        )

    def timeline_entry(self, profile: Profile) -> CanonicalEvent:
        """The timeline event as the person's timeline keeps it, written there directly: a
        journey's own progress changes nothing on the profile, so it skips the event pipeline
        (one write instead of a pass through the processor per node). Same ids as the raw event."""
        raw = self.timeline_event(profile)
        payload = raw.payload
        return CanonicalEvent(
            event_id=raw.event_id,
            message_id=str(payload["messageId"]),
            type="track",
            event=str(payload["event"]),
            channel="system",
            timestamp=str(payload["timestamp"]),
            received_at=raw.received_at,
            origin=raw.origin,
            source=raw.source,
            properties=dict(payload.get("properties") or {}),
            context={"channel": "system"},
        )

    def domain_event(self, at: str) -> DomainEvent:
        name = {"entered": JOURNEY_ENTERED, "node": JOURNEY_NODE_COMPLETED}.get(self.kind, JOURNEY_EXITED)
        detail = {"profile_id": self.run.profile_id, **self.properties()}
        return DomainEvent(name=name, id=hashlib.sha256(self.key().encode()).hexdigest()[:32], time=at, detail=detail)
