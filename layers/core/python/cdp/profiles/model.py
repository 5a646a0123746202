"""The profile: one person's identifiers, traits, LINE follow state and activity counters.

`apply_event` is pure and order-independent for what it keeps: a trait or follow state takes
the value of the event with the latest timestamp (ties broken by event id), so replays and
out-of-order delivery converge on the same profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier

MAX_REJECTED_KEPT = 20
# Identify traits that are identifiers are kept as identifiers, not copied into traits.
IDENTITY_TRAIT_KEYS = frozenset({"member_id", "memberId"})


@dataclass(slots=True)
class Stamped:
    """A value with when and from where it was set."""

    value: Any
    at: str  # event timestamp, ISO-8601 UTC
    source: str  # e.g. "partner:web-shop", "line:default"
    event_id: str

    def newer_than(self, other: Stamped | None) -> bool:
        return other is None or (self.at, self.event_id) > (other.at, other.event_id)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "at": self.at, "source": self.source, "event_id": self.event_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stamped:
        return cls(value=data.get("value"), at=data["at"], source=data["source"], event_id=data["event_id"])


@dataclass(slots=True)
class Profile:
    profile_id: str
    created_at: str
    updated_at: str
    version: int = 0
    identifiers: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> {type, value, added_at}
    traits: dict[str, Stamped] = field(default_factory=dict)
    line_accounts: dict[str, Stamped] = field(default_factory=dict)  # line identifier value -> follow status
    event_count: int = 0
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    channels: dict[str, int] = field(default_factory=dict)
    rejected_identifiers: list[dict[str, str]] = field(default_factory=list)
    merged_into: str | None = None

    @classmethod
    def new(cls, profile_id: str, now: str) -> Profile:
        return cls(profile_id=profile_id, created_at=now, updated_at=now)

    @property
    def line_status(self) -> str:
        """friend if any LINE account of this person follows the OA, blocked if all blocked."""
        if not self.line_accounts:
            return "never_followed"
        statuses = {stamped.value for stamped in self.line_accounts.values()}
        return "friend" if "friend" in statuses else "blocked"

    def channel_mix(self) -> str | None:
        online = any(self.channels.get(channel) for channel in ("web", "app"))
        offline = bool(self.channels.get("pos"))
        if online and offline:
            return "omnichannel"
        if offline:
            return "offline_only"
        if online:
            return "online_only"
        return None


def apply_event(profile: Profile, event: CanonicalEvent, attach: list[Identifier], now: str) -> list[str]:
    """Fold one event into the profile; return the names of what changed (for profile.updated)."""
    changes: list[str] = []
    source = f"{event.origin}:{event.source}"
    for identifier in attach:
        if identifier.key not in profile.identifiers:
            profile.identifiers[identifier.key] = {"type": identifier.type, "value": identifier.value, "added_at": now}
            changes.append(f"identifier:{identifier.type}")
    person_traits = {} if event.type == "group" else event.traits  # a group's traits describe the group
    for name, value in person_traits.items():
        if name in IDENTITY_TRAIT_KEYS:
            continue
        candidate = Stamped(value=value, at=event.timestamp, source=source, event_id=event.event_id)
        current = profile.traits.get(name)
        if candidate.newer_than(current) and (current is None or current.value != value):
            profile.traits[name] = candidate
            changes.append(f"trait:{name}")
        elif candidate.newer_than(current) and current is not None:
            profile.traits[name] = candidate  # same value, fresher stamp; not a visible change
    if event.line_follow and event.line_identifier is not None:
        candidate = Stamped(value=event.line_follow, at=event.timestamp, source=source, event_id=event.event_id)
        current = profile.line_accounts.get(event.line_identifier.value)
        if candidate.newer_than(current):
            before = profile.line_status
            profile.line_accounts[event.line_identifier.value] = candidate
            if profile.line_status != before:
                changes.append("line_status")
    for rejected in event.rejected_identifiers:
        entry = {"type": rejected.type, "value": rejected.raw, "reason": rejected.reason, "at": event.timestamp}
        if entry not in profile.rejected_identifiers:
            profile.rejected_identifiers = [*profile.rejected_identifiers, entry][-MAX_REJECTED_KEPT:]
    mix_before = profile.channel_mix()
    profile.event_count += 1
    profile.channels[event.channel] = profile.channels.get(event.channel, 0) + 1
    if profile.first_seen_at is None or event.timestamp < profile.first_seen_at:
        profile.first_seen_at = event.timestamp
    if profile.last_seen_at is None or event.timestamp > profile.last_seen_at:
        profile.last_seen_at = event.timestamp
    if profile.channel_mix() != mix_before:
        changes.append("channel_mix")
    profile.updated_at = now
    return changes
