"""Segment definitions and memberships: the model and the storage port.

Item layout in the core table (cdp.adapters.dynamodb.segment_store):
  SEGMENT#<id> / DEF                        the definition; gsi1 SEGMENTS / <id> lists them
  SEGMENT#<id> / MEMBER#<profile id>        a membership {entered_at, rule_version};
                                            gsi1 MEMBERSHIPS#<profile id> / <id>: a person's segments
  SEGMENT#<id> / HIST#<ts>#<profile>#<act>  history: entered / exited;
                                            gsi1 SEGMENT-HISTORY#<profile> / <ts>#<id>#<act>
  SEGMENT#<id> / SIZE#<ts>                  the segment's size after a scheduled recompute

Entering and exiting are conditional (the membership must not exist / must exist) and written in
one transaction with the history item, so a replayed evaluation changes and records nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp.errors import BadRequest
from cdp.segments.rules import Rule, RuleReads, parse_rule, reads

SEGMENT_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DEFAULT_REFRESH_MINUTES = 60
MIN_REFRESH_MINUTES = 15
MAX_REFRESH_MINUTES = 7 * 24 * 60
MAX_NAME = 200
RESERVED_SEGMENT_IDS = frozenset({"schema"})  # GET /admin/v1/segments/schema
STATUS_ACTIVE = "active"
STATUS_ARCHIVED = "archived"
ENTERED = "entered"
EXITED = "exited"


def validate_segment_id(value: Any) -> str:
    if not isinstance(value, str) or not SEGMENT_ID_PATTERN.fullmatch(value):
        raise BadRequest(f"a segment id is a slug matching {SEGMENT_ID_PATTERN.pattern}", code="invalid_segment_id")
    if value in RESERVED_SEGMENT_IDS:
        raise BadRequest(f"`{value}` is reserved; choose another segment id", code="invalid_segment_id")
    return value


def validate_refresh(value: Any) -> int:
    """How often the scheduled recompute runs for the segment, in minutes (default hourly)."""
    if value is None:
        return DEFAULT_REFRESH_MINUTES
    if not isinstance(value, int) or isinstance(value, bool) or not MIN_REFRESH_MINUTES <= value <= MAX_REFRESH_MINUTES:
        raise BadRequest(
            f"`refresh_minutes` is a whole number from {MIN_REFRESH_MINUTES} to {MAX_REFRESH_MINUTES}",
            code="invalid_refresh",
        )
    return value


def validate_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise BadRequest(f"`name` is a non-empty string of at most {MAX_NAME} characters", code="invalid_segment_name")
    return value.strip()


def reads_as_dict(found: RuleReads) -> dict[str, Any]:
    return {
        "traits": sorted(found.traits),
        "computed": sorted(found.computed),
        "profile_fields": sorted(found.profile_fields),
        "events": sorted(found.events),
        "tags": sorted(found.tags),
        "tag_groups": sorted(found.tag_groups),
        "consent": sorted(found.consent),
        "identifiers": sorted(found.identifiers),
        "segments": sorted(found.segments),
        "time": found.time,
    }


@dataclass(frozen=True, slots=True)
class SegmentDefinition:
    segment_id: str
    name: str
    rule: dict[str, Any]  # the JSON rule as submitted (validated)
    status: str
    created_at: str
    updated_at: str
    version: int = 1
    reads: dict[str, Any] = field(default_factory=dict)  # reads_as_dict(reads(rule)), stored for queries
    refresh_minutes: int = DEFAULT_REFRESH_MINUTES  # the scheduled recompute's cadence

    @classmethod
    def create(cls, segment_id: Any, name: Any, rule: Any, now: str, refresh_minutes: Any = None) -> SegmentDefinition:
        """A new, validated definition (version 1); raises BadRequest."""
        parsed = parse_rule(rule)
        return cls(
            segment_id=validate_segment_id(segment_id),
            name=validate_name(name),
            rule=rule,
            status=STATUS_ACTIVE,
            created_at=now,
            updated_at=now,
            version=1,
            reads=reads_as_dict(reads(parsed)),
            refresh_minutes=validate_refresh(refresh_minutes),
        )

    def revised(self, name: Any, rule: Any, now: str, refresh_minutes: Any = None) -> SegmentDefinition:
        """The next version with a new name and rule (validated); an archived segment stays archived."""
        parsed = parse_rule(rule)
        return SegmentDefinition(
            segment_id=self.segment_id,
            name=validate_name(name),
            rule=rule,
            status=self.status,
            created_at=self.created_at,
            updated_at=now,
            version=self.version + 1,
            reads=reads_as_dict(reads(parsed)),
            refresh_minutes=self.refresh_minutes if refresh_minutes is None else validate_refresh(refresh_minutes),
        )

    def archived(self, now: str) -> SegmentDefinition:
        return SegmentDefinition(
            segment_id=self.segment_id,
            name=self.name,
            rule=self.rule,
            status=STATUS_ARCHIVED,
            created_at=self.created_at,
            updated_at=now,
            version=self.version + 1,
            reads=self.reads,
            refresh_minutes=self.refresh_minutes,
        )

    def parsed(self) -> Rule:
        return parse_rule(self.rule)

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "name": self.name,
            "rule": self.rule,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
            "reads": self.reads,
            "refresh_minutes": self.refresh_minutes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentDefinition:
        return cls(
            segment_id=data["segment_id"],
            name=data["name"],
            rule=data["rule"],
            status=data["status"],
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            version=int(data["version"]),
            reads=data.get("reads", {}),
            refresh_minutes=int(data.get("refresh_minutes", DEFAULT_REFRESH_MINUTES)),
        )


@dataclass(frozen=True, slots=True)
class Membership:
    segment_id: str
    profile_id: str
    entered_at: str
    rule_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "profile_id": self.profile_id,
            "entered_at": self.entered_at,
            "rule_version": self.rule_version,
        }


@dataclass(frozen=True, slots=True)
class MembershipChange:
    segment_id: str
    profile_id: str
    action: str  # entered / exited
    at: str
    rule_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "profile_id": self.profile_id,
            "action": self.action,
            "at": self.at,
            "rule_version": self.rule_version,
        }


@dataclass(frozen=True, slots=True)
class SizeSample:
    """The segment's size when a scheduled recompute finished, and what that run changed."""

    segment_id: str
    at: str
    members: int
    entered: int
    exited: int
    rule_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "members": self.members,
            "entered": self.entered,
            "exited": self.exited,
            "rule_version": self.rule_version,
        }


class SegmentStore(Protocol):
    def create(self, definition: SegmentDefinition) -> bool:
        """Store a new definition; False if the id is taken."""
        ...

    def replace(self, definition: SegmentDefinition, *, expected_version: int) -> bool:
        """Overwrite the definition if the stored version is `expected_version`; False otherwise."""
        ...

    def get(self, segment_id: str) -> SegmentDefinition | None: ...

    def definitions(self) -> list[SegmentDefinition]:
        """Every definition (active and archived), by id."""
        ...

    def memberships(self, profile_id: str) -> list[Membership]:
        """The segments a profile is in (the per-profile index), by segment id."""
        ...

    def member_of(self, profile_id: str, segment_ids: Sequence[str]) -> set[str]:
        """Which of these segments the profile is in, read consistently from the membership items
        (the per-profile index may lag a just-written membership)."""
        ...

    def members(self, segment_id: str, *, limit: int, after: str | None = None) -> tuple[list[Membership], str | None]:
        """A page of members by profile id, and the cursor of the next page (None at the end)."""
        ...

    def count_members(self, segment_id: str) -> int: ...

    def enter(self, segment_id: str, profile_id: str, *, at: str, rule_version: int) -> bool:
        """Add the membership and an `entered` history item, unless already a member: True if added."""
        ...

    def exit(self, segment_id: str, profile_id: str, *, at: str, rule_version: int) -> bool:
        """Remove the membership and add an `exited` history item, if a member: True if removed."""
        ...

    def changes(self, segment_id: str, *, limit: int) -> list[MembershipChange]:
        """The segment's latest entries and exits, newest first."""
        ...

    def profile_changes(self, profile_id: str, *, limit: int) -> list[MembershipChange]:
        """A person's latest entries and exits across segments, newest first."""
        ...

    def record_size(self, sample: SizeSample) -> None: ...

    def sizes(self, segment_id: str, *, limit: int) -> list[SizeSample]:
        """The latest size samples, newest first."""
        ...


def member_ids(store: SegmentStore, segment_id: str, *, page_size: int = 1000) -> Iterator[str]:
    """Every member's profile id, read a page of memberships at a time."""
    after: str | None = None
    while True:
        page, after = store.members(segment_id, limit=page_size, after=after)
        yield from (membership.profile_id for membership in page)
        if after is None:
            return
