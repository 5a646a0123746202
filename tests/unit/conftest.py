"""Unit suite: pure logic on in-memory fakes, no network.

The fakes implement the domain's ports (cdp.ports, cdp.profiles.processor.ProfileStore,
cdp.profiles.views.ProfileReader) with the same observable semantics as the DynamoDB adapters:
conditional writes, the order in which a cancelled transaction's reasons are read, copies in and
out (a caller mutating what it read never changes the store without a commit).
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cdp.domain_events import DomainEvent
from cdp.errors import StoreUnavailable
from cdp.events.canonical import CanonicalEvent, EventNormalizer
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import Identifier, IdentifierNormalizer
from cdp.ingestion.channels import LineChannels, WriteKeys
from cdp.profiles.model import Profile
from cdp.profiles.processor import CommitOutcome, EventProcessor

from tests.fixtures.line_events import CHANNEL_SECRET
from tests.unit.builders import (
    LINE_CHANNEL,
    LINE_CHANNELS_SECRET_ID,
    LINE_PROVIDER,
    NOW_MS,
    POS_SOURCE,
    POS_WRITE_KEY,
    WRITE_KEY,
    WRITE_KEY_SOURCE,
    WRITE_KEYS_SECRET_ID,
)


# no network ---------------------------------------------------------------------------------
class _NoNetworkSocket(socket.socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unit tests must not open sockets; use a fake or move the test to tests/integration")


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _NoNetworkSocket)


# fakes --------------------------------------------------------------------------------------
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
        self, *, event: CanonicalEvent, profile: Profile, expected_version: int, claims: Sequence[Identifier]
    ) -> CommitOutcome:
        if self.before_commit:
            self.before_commit.pop(0)(self)
        outcome = self._commit(event, profile, expected_version, claims)
        self.outcomes.append(outcome)
        return outcome

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


# fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def raw_store() -> FakeRawEventStore:
    return FakeRawEventStore()


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def profile_store() -> FakeProfileStore:
    return FakeProfileStore()


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets(
        {
            LINE_CHANNELS_SECRET_ID: {
                LINE_CHANNEL: {
                    "channelSecret": CHANNEL_SECRET,
                    "channelAccessToken": "eyJhbGciOiJIUzI1NiJ9.fake-token",
                    "providerId": LINE_PROVIDER,
                },
                "no-provider-oa": {"channelSecret": "f" * 32, "channelAccessToken": "t"},
            },
            WRITE_KEYS_SECRET_ID: {"keys": {WRITE_KEY: WRITE_KEY_SOURCE, POS_WRITE_KEY: POS_SOURCE}},
        }
    )


@pytest.fixture
def line_channels(secrets: FakeSecrets) -> LineChannels:
    return LineChannels(secrets, LINE_CHANNELS_SECRET_ID)


@pytest.fixture
def write_keys(secrets: FakeSecrets) -> WriteKeys:
    return WriteKeys(secrets, WRITE_KEYS_SECRET_ID)


@pytest.fixture
def identifier_normalizer() -> IdentifierNormalizer:
    return IdentifierNormalizer()


@pytest.fixture
def event_normalizer(identifier_normalizer: IdentifierNormalizer) -> EventNormalizer:
    return EventNormalizer(identifier_normalizer)


@pytest.fixture
def processor(
    event_normalizer: EventNormalizer, profile_store: FakeProfileStore, publisher: FakePublisher, clock: FixedClock
) -> EventProcessor:
    return EventProcessor(event_normalizer, profile_store, publisher, clock)


@pytest.fixture
def make_secrets() -> type[FakeSecrets]:
    """FakeSecrets itself, for tests that need a secret layout of their own."""
    return FakeSecrets


@pytest.fixture
def concurrent_processor(
    event_normalizer: EventNormalizer, profile_store: FakeProfileStore, clock: FixedClock
) -> EventProcessor:
    """A second processor on the same store (another Lambda instance), publishing elsewhere."""
    return EventProcessor(event_normalizer, profile_store, FakePublisher(), clock)
