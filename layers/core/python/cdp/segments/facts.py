"""What a segment rule sees of a stored profile and of its events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cdp.events.canonical import CanonicalEvent
from cdp.profiles.computed import computed_traits
from cdp.profiles.model import Profile
from cdp.segments.evaluate import EventFact, ProfileFacts


def facts_from_profile(profile: Profile, now: datetime) -> ProfileFacts:
    """Trait values without their stamps, computed traits as of `now`, tag names, LINE status,
    consent flags and the identifier types present."""
    at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return ProfileFacts(
        profile_id=profile.profile_id,
        traits={name: stamped.value for name, stamped in profile.traits.items()},
        computed=computed_traits(profile, at),
        tags=frozenset(profile.tags),
        line_status=profile.line_status,
        consent={key: stamped.value for key, stamped in profile.consent.items() if isinstance(stamped.value, bool)},
        identifier_types=frozenset(entry["type"] for entry in profile.identifiers.values()),
    )


def event_fact(event: CanonicalEvent) -> EventFact | None:
    """A track event as rules see it: its name, time and properties, plus `context.channel`
    (line / web / app / pos / crm / system). Other event types have no name and are skipped."""
    if event.type != "track" or not event.event:
        return None
    moment = datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    properties: dict[str, Any] = {**event.stored_properties(), "context": {"channel": event.channel}}
    return EventFact(event.event, moment, properties)
