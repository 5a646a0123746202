"""Process one raw event: normalise, resolve the person, fold the event into the profile.

Idempotent: the store commits the event's "applied" marker, the timeline entry, the profile
and the identifier claims in one transaction, so a replayed stream record is recognised and
changes nothing. Lost races (another event claimed an identifier first, or updated the profile)
are retried from a fresh read.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cdp.clock import iso_from_ms
from cdp.domain_events import EVENT_RECEIVED, IDENTITY_CONFLICT, PROFILE_UPDATED, DomainEvent
from cdp.events.canonical import CanonicalEvent, EventNormalizer
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import Identifier
from cdp.identity.resolver import Conflict, Resolution, resolve
from cdp.ports import Clock, EventPublisher
from cdp.profiles.model import Profile, apply_event

MAX_ATTEMPTS = 6
RETRY_BASE_SECONDS = 0.01


class CommitOutcome(enum.Enum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    CLAIM_LOST = "claim_lost"  # an identifier was claimed by someone else meanwhile
    PROFILE_CHANGED = "profile_changed"  # the profile's version moved meanwhile


class ProfileStore(Protocol):
    def owners(self, identifiers: Sequence[Identifier]) -> dict[str, str]:
        """identifier key -> owning profile id, for those that are claimed."""
        ...

    def get(self, profile_id: str) -> Profile | None: ...

    def commit(
        self,
        *,
        event: CanonicalEvent,
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
        events: Sequence[DomainEvent] = (),
    ) -> CommitOutcome:
        """All or nothing; `events` are kept with the APPLIED marker (see applied_events)."""
        ...

    def was_applied(self, event_id: str) -> str | None:
        """The profile id an event was applied to, if it was."""
        ...

    def applied_events(self, event_id: str) -> list[DomainEvent]:
        """The domain events committed with the event, to republish after a failed publish."""
        ...


class ProcessingConflict(RuntimeError):
    """Could not commit after several fresh attempts; the record fails and is retried."""


@dataclass(slots=True)
class ProcessResult:
    event: CanonicalEvent
    profile_id: str | None
    outcome: str  # applied / already_applied / no_identifiers
    changes: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    published: list[DomainEvent] = field(default_factory=list)


class EventProcessor:
    def __init__(
        self, normalizer: EventNormalizer, store: ProfileStore, publisher: EventPublisher, clock: Clock
    ) -> None:
        self._normalizer = normalizer
        self._store = store
        self._publisher = publisher
        self._clock = clock

    def process(self, raw: RawEvent) -> ProcessResult:
        event = self._normalizer.normalize(raw)
        now = iso_from_ms(self._clock.now_ms())
        if not event.identifiers:
            # Group joins, bot lifecycle, failed account links: no person to attach to.
            result = ProcessResult(event=event, profile_id=None, outcome="no_identifiers")
            result.published = self._domain_events(result, now)
        else:
            result = self._apply(event, now)
        self._publisher.publish(result.published)
        return result

    def _apply(self, event: CanonicalEvent, now: str) -> ProcessResult:
        for attempt in range(MAX_ATTEMPTS):
            if attempt:  # lost a race: back off with jitter so hot profiles do not retry in lockstep
                time.sleep(random.uniform(0, RETRY_BASE_SECONDS * 2**attempt))
            resolution = resolve(event.identifiers, self._store.owners(event.identifiers), event_id=event.event_id)
            profile = self._load(resolution, now)
            expected_version = profile.version
            changes = apply_event(profile, event, resolution.claim + self._owned_by(resolution, event), now)
            profile.version = expected_version + 1
            result = ProcessResult(event, profile.profile_id, "applied", changes, resolution.conflicts)
            # The events to publish are committed with the profile: if publishing fails, the
            # retried record finds them on the marker instead of recomputing "no change".
            result.published = self._domain_events(result, now)
            outcome = self._store.commit(
                event=event,
                profile=profile,
                expected_version=expected_version,
                claims=resolution.claim,
                events=result.published,
            )
            if outcome is CommitOutcome.APPLIED:
                return result
            if outcome is CommitOutcome.ALREADY_APPLIED:
                replay = ProcessResult(event, self._store.was_applied(event.event_id), "already_applied")
                replay.published = self._store.applied_events(event.event_id) or self._domain_events(replay, now)
                return replay
        raise ProcessingConflict(f"event {event.event_id} lost {MAX_ATTEMPTS} races in a row")

    def _load(self, resolution: Resolution, now: str) -> Profile:
        if resolution.is_new:
            # A replay of the event that created the person finds the profile it created.
            return self._store.get(resolution.profile_id) or Profile.new(resolution.profile_id, now)
        profile = self._store.get(resolution.profile_id)
        if profile is None:
            raise ProcessingConflict(f"identifier points at missing profile {resolution.profile_id}")
        return profile

    @staticmethod
    def _owned_by(resolution: Resolution, event: CanonicalEvent) -> list[Identifier]:
        conflicting = {conflict.identifier for conflict in resolution.conflicts}
        return [i for i in event.identifiers if i not in resolution.claim and i not in conflicting]

    def _domain_events(self, result: ProcessResult, now: str) -> list[DomainEvent]:
        event = result.event
        received = DomainEvent(
            name=EVENT_RECEIVED,
            id=f"{event.event_id}:received",
            time=now,
            correlation_id=event.message_id,
            detail={
                "eventId": event.event_id,
                "messageId": event.message_id,
                "profileId": result.profile_id,
                "type": event.type,
                "event": event.event,
                "channel": event.channel,
                "timestamp": event.timestamp,
                "origin": event.origin,
                "source": event.source,
            },
        )
        published = [received]
        if result.outcome == "applied" and result.changes:
            published.append(
                DomainEvent(
                    name=PROFILE_UPDATED,
                    id=f"{result.profile_id}:{event.event_id}",
                    time=now,
                    correlation_id=event.message_id,
                    detail={"profileId": result.profile_id, "eventId": event.event_id, "changes": result.changes},
                )
            )
        if result.outcome == "applied" and result.conflicts:
            published.append(
                DomainEvent(
                    name=IDENTITY_CONFLICT,
                    id=f"{event.event_id}:conflict",
                    time=now,
                    correlation_id=event.message_id,
                    detail={
                        "profileId": result.profile_id,
                        "eventId": event.event_id,
                        "conflicts": [
                            {"type": c.identifier.type, "value": c.identifier.value, "owner": c.owner}
                            for c in result.conflicts
                        ],
                    },
                )
            )
        return published
