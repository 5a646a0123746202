"""The profile: one person's identifiers, traits, LINE follow state and activity counters.

`apply_event` is pure and order-independent for what it keeps: a trait or follow state takes
the value of the event with the latest timestamp (ties broken by event id), so replays and
out-of-order delivery converge on the same profile.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cdp.events import names
from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier
from cdp.profiles.computed import ComputedState, apply_engagement, apply_order, merge_computed
from cdp.profiles.tag_rules import is_tracked_link_click
from cdp.profiles.tags import TAG_EVENTS, tag_source, valid_tag

MAX_REJECTED_KEPT = 20
ORDER_EVENT = names.ORDER_COMPLETED
DEFAULT_CURRENCY = "TWD"
# Identify traits that are identifiers are kept as identifiers, not copied into traits.
IDENTITY_TRAIT_KEYS = frozenset({"member_id", "memberId"})
DERIVING_EVENTS = frozenset({names.MESSAGE_RECEIVED, names.POSTBACK})


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
    consent: dict[str, Stamped] = field(default_factory=dict)  # "channel:purpose" -> granted?
    # tag -> added (True) / removed (False), newest wins; source is the tag's (rule, manual, ...)
    tag_state: dict[str, Stamped] = field(default_factory=dict)
    order_count: int = 0
    revenue: dict[str, float] = field(default_factory=dict)  # currency -> total
    first_order_at: str | None = None
    last_order_at: str | None = None
    merged_into: str | None = None  # this profile was merged; reads and writes follow the pointer
    merging_into: str | None = None  # a merge of this profile is under way: new events go there
    merging_by: str | None = None  # that merge's id, so an event can ask for it to be resumed
    pending_merges: list[str] = field(default_factory=list)  # merges into this profile under way
    incoming_from: list[str] = field(default_factory=list)  # their losers: identifiers on the way here
    computed: ComputedState = field(default_factory=ComputedState)  # see cdp.profiles.computed
    # Not part of the document: tokens of the newest events folded in, oldest first, and the lowest
    # version from which every fold is listed (None: not known). A replayed event the profile lists
    # was applied even if the rest of its commit was lost (see DynamoProfileStore.commit).
    applied_recent: list[bytes] = field(default_factory=list, compare=False, repr=False)
    applied_covers_from: int | None = field(default=None, compare=False, repr=False)

    @classmethod
    def new(cls, profile_id: str, now: str) -> Profile:
        return cls(profile_id=profile_id, created_at=now, updated_at=now)

    def has_applied(self, event_id: str) -> bool:
        return applied_token(event_id) in self.applied_recent

    def lists_folds_from(self, version: int) -> bool:
        """Whether a fold that wrote `version` would still be listed in `applied_recent`."""
        return self.applied_covers_from is not None and version >= self.applied_covers_from

    def remember_applied(self, event_id: str) -> None:
        """List the fold that wrote the current version; the oldest listed drops off."""
        if self.applied_covers_from is None:
            self.applied_covers_from = self.version
        self.applied_recent.append(applied_token(event_id))
        if len(self.applied_recent) > APPLIED_RECENT_LIMIT:
            del self.applied_recent[:-APPLIED_RECENT_LIMIT]
            # The newest N folds wrote N of the newest versions at least (a merge also writes one),
            # so every fold of the last N versions is among them.
            self.applied_covers_from = max(self.applied_covers_from, self.version - APPLIED_RECENT_LIMIT + 1)

    @property
    def tags(self) -> dict[str, dict[str, str]]:
        """The current tags: tag -> {source, at} (when it was last added)."""
        return {
            tag: {"source": stamped.source, "at": stamped.at}
            for tag, stamped in sorted(self.tag_state.items())
            if stamped.value is True
        }

    @tags.setter
    def tags(self, tags: dict[str, dict[str, str]]) -> None:
        """Tags from before they were events (or set directly): each reads as added."""
        self.tag_state = {tag: legacy_tag(entry) for tag, entry in tags.items()}

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


SYSTEM_CHANNEL = "system"
# Folds listed per profile: a replay comes within seconds to minutes of a crash (stream retries), by
# which time a person rarely has 16 more events. Each costs 8 bytes of the profile item.
APPLIED_RECENT_LIMIT = 16
APPLIED_TOKEN_BYTES = 8


def applied_token(event_id: str) -> bytes:
    """A fixed-size stand-in for an event id: a new event taken for one of 16 listed by chance is
    16 in 2^64, about once in 10^9 years at a million events a day."""
    return hashlib.blake2b(event_id.encode(), digest_size=APPLIED_TOKEN_BYTES).digest()


def apply_event(profile: Profile, event: CanonicalEvent, attach: list[Identifier], now: str) -> list[str]:
    """Fold one event into the profile; return the names of what changed (for profile.updated)."""
    changes: list[str] = []
    source = f"{event.origin}:{event.source}"
    for identifier in attach:
        if identifier.key not in profile.identifiers:
            profile.identifiers[identifier.key] = {"type": identifier.type, "value": identifier.value, "added_at": now}
            changes.append(f"identifier:{identifier.type}")
    # a group's traits describe the group; LINE answers the workspace's rules read are the person's
    person_traits = {} if event.type == "group" else {**_derived_traits(event), **event.traits}
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
    for key, granted in _consent_flags(event).items():
        candidate = Stamped(value=granted, at=event.timestamp, source=source, event_id=event.event_id)
        current = profile.consent.get(key)
        if candidate.newer_than(current):
            profile.consent[key] = candidate
            if current is None or current.value != granted:
                changes.append(f"consent:{key}")
    changes.extend(_apply_tags(profile, event))
    if event.event == ORDER_EVENT and event.type == "track":
        changes.extend(_apply_order(profile, event))
    changes.extend(apply_engagement(profile.computed, event))
    for rejected in event.rejected_identifiers:
        entry = {"type": rejected.type, "value": rejected.raw, "reason": rejected.reason, "at": event.timestamp}
        if entry not in profile.rejected_identifiers:
            profile.rejected_identifiers = [*profile.rejected_identifiers, entry][-MAX_REJECTED_KEPT:]
    profile.event_count += 1
    if event.channel != SYSTEM_CHANNEL:  # scores computed about a person are not the person being seen
        mix_before = profile.channel_mix()
        profile.channels[event.channel] = profile.channels.get(event.channel, 0) + 1
        if profile.first_seen_at is None or event.timestamp < profile.first_seen_at:
            profile.first_seen_at = event.timestamp
        if profile.last_seen_at is None or event.timestamp > profile.last_seen_at:
            profile.last_seen_at = event.timestamp
        if profile.channel_mix() != mix_before:
            changes.append("channel_mix")
    profile.updated_at = now
    return changes


def _consent_flags(event: CanonicalEvent) -> dict[str, bool]:
    """`context.consent`: {"email:marketing": true, ...}; anything not a boolean is ignored."""
    flags = event.context.get("consent")
    if not isinstance(flags, dict):
        return {}
    return {key: value for key, value in flags.items() if isinstance(key, str) and isinstance(value, bool)}


def legacy_tag(entry: dict[str, Any]) -> Stamped:
    """A stored `{source, at}` tag entry from before tags were events: added, with no event."""
    return Stamped(value=True, at=str(entry.get("at", "")), source=str(entry.get("source", "")), event_id="")


def _tag_changes(event: CanonicalEvent) -> list[tuple[Any, bool, str]]:
    """(tag, added, source): a "Tag Added" / "Tag Removed" track event ({"tag", "source"}), or the
    tags the workspace's rules derived from a LINE message or postback (`event.derived`)."""
    if event.type != "track":
        return []
    added = TAG_EVENTS.get(event.event or "")
    if added is not None:
        return [(event.properties.get("tag"), added, tag_source(event.properties.get("source")))]
    derived = event.derived.tags if event.derived is not None and _derives(event) else None
    if not isinstance(derived, list):
        return []
    return [(entry.get("tag"), True, tag_source(entry.get("source"))) for entry in derived if isinstance(entry, dict)]


def _derives(event: CanonicalEvent) -> bool:
    """Only the processor writes derived tags and traits, and only into LINE events it normalised
    and tracked-link clicks the link redirect recorded."""
    return (event.origin == "line" and event.event in DERIVING_EVENTS) or is_tracked_link_click(event)


def _derived_traits(event: CanonicalEvent) -> dict[str, Any]:
    derivation = event.derived if event.type == "track" and _derives(event) else None
    traits = derivation.traits if derivation is not None else None
    return {k: v for k, v in traits.items() if isinstance(k, str)} if isinstance(traits, dict) else {}


def _apply_tags(profile: Profile, event: CanonicalEvent) -> list[str]:
    """Newest add or remove wins per tag; invalid names are ignored. Names visible changes only."""
    changes: list[str] = []
    for tag, added, source in _tag_changes(event):
        if not isinstance(tag, str) or not valid_tag(tag):
            continue
        candidate = Stamped(value=added, at=event.timestamp, source=source, event_id=event.event_id)
        current = profile.tag_state.get(tag)
        if not candidate.newer_than(current):
            continue
        profile.tag_state[tag] = candidate
        if (current is not None and current.value is True) != added:
            changes.append(f"tag:{tag}")
    return changes


def order_amount(event: CanonicalEvent) -> tuple[str, float] | None:
    """Segment e-commerce: `revenue`, else `total`; currency defaults to the workspace's (TWD)."""
    for name in ("revenue", "total"):
        value = event.properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            currency = event.properties.get("currency")
            return (currency.upper() if isinstance(currency, str) and currency else DEFAULT_CURRENCY), float(value)
    return None


def _apply_order(profile: Profile, event: CanonicalEvent) -> list[str]:
    profile.order_count += 1
    amount = order_amount(event)
    apply_order(profile.computed, event, amount)
    if amount is not None:
        currency, value = amount
        profile.revenue[currency] = round(profile.revenue.get(currency, 0.0) + value, 4)
    if profile.first_order_at is None or event.timestamp < profile.first_order_at:
        profile.first_order_at = event.timestamp
    if profile.last_order_at is None or event.timestamp > profile.last_order_at:
        profile.last_order_at = event.timestamp
    return ["orders"]


def _newest(first: dict[str, Stamped], second: dict[str, Stamped]) -> dict[str, Stamped]:
    merged = dict(first)
    for key, stamped in second.items():
        if stamped.newer_than(merged.get(key)):
            merged[key] = stamped
    return merged


def _earliest(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return min(present) if present else None


def _latest(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return max(present) if present else None


def merge_profiles(survivor: Profile, loser: Profile, now: str) -> Profile:
    """One person from two profiles, with explicit precedence:

    contact traits, follow state and consent: newest wins (by event time); money and counters:
    sums; first seen / first order / created: earliest; last seen / last order: latest;
    identifiers: union; tags: per tag, the newest add or remove wins; computed state: daily buckets and
    counts summed, last click latest (`merge_computed`).
    """
    merged = Profile(
        profile_id=survivor.profile_id,
        created_at=min(survivor.created_at, loser.created_at),
        updated_at=now,
        version=survivor.version,
        identifiers={**loser.identifiers, **survivor.identifiers},
        traits=_newest(survivor.traits, loser.traits),
        line_accounts=_newest(survivor.line_accounts, loser.line_accounts),
        event_count=survivor.event_count + loser.event_count,
        first_seen_at=_earliest(survivor.first_seen_at, loser.first_seen_at),
        last_seen_at=_latest(survivor.last_seen_at, loser.last_seen_at),
        channels={
            channel: survivor.channels.get(channel, 0) + loser.channels.get(channel, 0)
            for channel in sorted(set(survivor.channels) | set(loser.channels))
        },
        rejected_identifiers=[
            *survivor.rejected_identifiers,
            *(entry for entry in loser.rejected_identifiers if entry not in survivor.rejected_identifiers),
        ][-MAX_REJECTED_KEPT:],
        consent=_newest(survivor.consent, loser.consent),
        tag_state=_newest(survivor.tag_state, loser.tag_state),
        order_count=survivor.order_count + loser.order_count,
        revenue={
            currency: round(survivor.revenue.get(currency, 0.0) + loser.revenue.get(currency, 0.0), 4)
            for currency in sorted(set(survivor.revenue) | set(loser.revenue))
        },
        first_order_at=_earliest(survivor.first_order_at, loser.first_order_at),
        last_order_at=_latest(survivor.last_order_at, loser.last_order_at),
        merged_into=None,
        merging_into=survivor.merging_into,
        pending_merges=list(survivor.pending_merges),
        incoming_from=[pid for pid in survivor.incoming_from if pid != loser.profile_id],
        computed=merge_computed(survivor.computed, loser.computed),
        # the loser's folds are not the survivor's: a replay of one of them is recognised by its
        # APPLIED marker naming the loser
        applied_recent=list(survivor.applied_recent),
        applied_covers_from=survivor.applied_covers_from,
    )
    return merged


def rebuild_profile(
    profile_id: str, created_at: str, timeline: list[tuple[CanonicalEvent, list[Identifier], str]], now: str
) -> Profile:
    """A profile is the fold of its timeline: (event, identifiers it attached, when applied).

    Used after an unmerge, when the two timelines have been separated again.
    """
    profile = Profile.new(profile_id, created_at)
    for event, attached, applied_at in sorted(timeline, key=lambda entry: (entry[2], entry[0].event_id)):
        apply_event(profile, event, attached, applied_at)
    profile.updated_at = now
    return profile
