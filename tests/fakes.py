"""In-memory fakes of the domain's ports, shared by the unit suite and the benchmarks.

They implement cdp.ports, cdp.profiles.processor.ProfileStore and cdp.profiles.views.ProfileReader
with the same observable semantics as the DynamoDB adapters: conditional writes, the order in
which a cancelled transaction's reasons are read, copies in and out.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

from cdp.domain_events import DomainEvent
from cdp.errors import StoreUnavailable
from cdp.events.canonical import CanonicalEvent
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import Identifier
from cdp.profiles.model import Profile
from cdp.profiles.processor import CommitOutcome

from tests.unit.builders import NOW_MS


class FixedClock:
    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now = now_ms

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class FakeRawEventStore:
    """RawEventStore: stores an event unless its id is already there (the adapter's conditional put)."""

    def __init__(self) -> None:
        self.events: dict[str, RawEvent] = {}
        self.calls = 0

    def store_once(self, events: Sequence[RawEvent]) -> list[bool]:
        self.calls += 1
        stored: list[bool] = []
        for event in events:
            if event.event_id in self.events:
                stored.append(False)
            else:
                self.events[event.event_id] = event
                stored.append(True)
        return stored


class FakeSecrets:
    """SecretSource: values are JSON-able objects or raw strings; an unknown id fails like the adapter."""

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(values or {})
        self.reads: list[str] = []

    def get_text(self, secret_id: str) -> str:
        self.reads.append(secret_id)
        if secret_id not in self.values:
            raise StoreUnavailable(f"secret {secret_id} not found")
        value = self.values[secret_id]
        return value if isinstance(value, str) else json.dumps(value)

    def get_json(self, secret_id: str) -> Any:
        try:
            return json.loads(self.get_text(secret_id))
        except ValueError as exc:
            raise StoreUnavailable(f"secret {secret_id} is not valid JSON") from exc


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self.calls = 0

    def publish(self, events: Sequence[DomainEvent]) -> None:
        self.calls += 1
        self.published.extend(events)

    def names(self) -> list[str]:
        return [event.name for event in self.published]

    def named(self, name: str) -> list[DomainEvent]:
        return [event for event in self.published if event.name == name]


class FakeProfileStore:
    """ProfileStore + ProfileReader in memory, with the DynamoDB adapter's conditional semantics.

    commit() is one all-or-nothing transaction; when it is refused, the reason is read in the same
    order as the adapter reads DynamoDB's cancellation reasons: the event's APPLIED marker exists
    (ALREADY_APPLIED), then the profile version moved (PROFILE_CHANGED), then an identifier is
    already claimed (CLAIM_LOST). `before_commit` hooks run one per commit, first in first out, to
    let a test play a concurrent writer that wins a race.
    """

    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self.claims: dict[str, str] = {}  # identifier key -> profile id
        self.applied: dict[str, str] = {}  # event id -> profile id
        self.applied_domain_events: dict[str, list[DomainEvent]] = {}  # kept with the marker
        self.timeline: dict[str, dict[str, dict[str, Any]]] = {}  # profile id -> sort key -> event doc
        self.outcomes: list[CommitOutcome] = []
        self.before_commit: list[Callable[[FakeProfileStore], None]] = []

    # ProfileStore ----------------------------------------------------------------------------
    def owners(self, identifiers: Sequence[Identifier]) -> dict[str, str]:
        return {i.key: self.claims[i.key] for i in identifiers if i.key in self.claims}

    def get(self, profile_id: str) -> Profile | None:
        profile = self.profiles.get(profile_id)
        return copy.deepcopy(profile) if profile is not None else None

    def was_applied(self, event_id: str) -> str | None:
        return self.applied.get(event_id)

    def commit(
        self,
        *,
        event: CanonicalEvent,
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
        events: Sequence[DomainEvent] = (),
    ) -> CommitOutcome:
        if self.before_commit:
            self.before_commit.pop(0)(self)
        outcome = self._commit(event, profile, expected_version, claims)
        if outcome is CommitOutcome.APPLIED:
            self.applied_domain_events[event.event_id] = [DomainEvent.from_record(e.to_record()) for e in events]
        self.outcomes.append(outcome)
        return outcome

    def applied_events(self, event_id: str) -> list[DomainEvent]:
        return list(self.applied_domain_events.get(event_id, []))

    def _commit(
        self, event: CanonicalEvent, profile: Profile, expected_version: int, claims: Sequence[Identifier]
    ) -> CommitOutcome:
        if event.event_id in self.applied:
            return CommitOutcome.ALREADY_APPLIED
        stored = self.profiles.get(profile.profile_id)
        if expected_version == 0:
            version_ok = stored is None  # attribute_not_exists(pk)
        else:
            version_ok = stored is not None and stored.version == expected_version
        if not version_ok:
            return CommitOutcome.PROFILE_CHANGED
        if any(identifier.key in self.claims for identifier in claims):
            return CommitOutcome.CLAIM_LOST
        self.applied[event.event_id] = profile.profile_id
        entries = self.timeline.setdefault(profile.profile_id, {})
        entries[f"EVENT#{event.timestamp}#{event.event_id}"] = copy.deepcopy(event.as_dict())
        self.profiles[profile.profile_id] = copy.deepcopy(profile)
        for identifier in claims:
            self.claims[identifier.key] = profile.profile_id
        return CommitOutcome.APPLIED

    # ProfileReader ---------------------------------------------------------------------------
    def owner(self, identifier: Identifier) -> str | None:
        return self.claims.get(identifier.key)

    def latest_events(self, profile_id: str, limit: int) -> list[dict[str, Any]]:
        entries = self.timeline.get(profile_id, {})
        return [copy.deepcopy(entries[key]) for key in sorted(entries, reverse=True)[:limit]]

    # test helpers ----------------------------------------------------------------------------
    def seed(self, profile: Profile, identifiers: Sequence[Identifier] = ()) -> Profile:
        """Put a profile and its claims directly, as if committed earlier."""
        for identifier in identifiers:
            self.claims[identifier.key] = profile.profile_id
            profile.identifiers.setdefault(
                identifier.key, {"type": identifier.type, "value": identifier.value, "added_at": profile.created_at}
            )
        self.profiles[profile.profile_id] = copy.deepcopy(profile)
        return profile
