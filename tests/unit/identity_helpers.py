"""Shared set-up for the identity tests: a processor wired to the merge workflow on the fakes,
partner events naming any identifiers, and views of the store (roots, partition, profile essence)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cdp.clock import iso_from_ms
from cdp.events.canonical import EventNormalizer
from cdp.events.raw import RawEvent, partner_event_id
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.identity.merge import MergeWorkflow
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.ports import Clock
from cdp.profiles.model import Profile
from cdp.profiles.processor import EventProcessor, ProcessResult

from tests.fakes import FakeProfileStore, FakePublisher, FixedClock, SynchronousMerges
from tests.unit.builders import NOW_MS, WRITE_KEY_SOURCE

PROVIDER_A = "2001234567"
PROVIDER_B = "2009876543"


def line_user(n: int) -> str:
    return f"U{n:032x}"


def normalizer_for(rules: IdentityRules) -> EventNormalizer:
    """What the deployed processor builds per rules version: blocked values come from the rules."""
    return EventNormalizer(IdentifierNormalizer(blocked_values=rules.blocked_values))


@dataclass
class World:
    store: FakeProfileStore
    publisher: FakePublisher
    clock: FixedClock
    workflow: MergeWorkflow
    merges: SynchronousMerges
    processor: EventProcessor
    rules: list[IdentityRules] = field(default_factory=lambda: [DEFAULT_RULES])  # [current]

    def process(self, raw: RawEvent) -> ProcessResult:
        return self.processor.process(raw)


def build_world(
    *,
    rules: IdentityRules = DEFAULT_RULES,
    eager: bool = False,
    fail_at: Callable[[str], None] | None = None,
    workflow_store: Callable[[FakeProfileStore], Any] | None = None,
    move_deadline: Callable[[], Callable[[], bool]] | None = None,
    clock: FixedClock | None = None,
    workflow_clock: Clock | None = None,  # the merge Lambda's clock, if not the processor's
) -> World:
    store = FakeProfileStore()
    publisher = FakePublisher()
    clock = clock or FixedClock()
    current = [rules]
    workflow = MergeWorkflow(
        workflow_store(store) if workflow_store else store,
        publisher,
        workflow_clock or clock,
        lambda: current[0],
        fail_at=fail_at,
    )
    merges = SynchronousMerges(workflow, eager=eager, move_deadline=move_deadline)
    processor = EventProcessor(normalizer_for, store, publisher, clock, rules=lambda: current[0], merges=merges)
    return World(store, publisher, clock, workflow, merges, processor, current)


def person_event(
    message_id: str,
    *,
    member: str | None = None,
    anon: str | None = None,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    lines: Iterable[str] = (),  # "<provider>:<userId>"
    idfas: Iterable[str] = (),
    traits: dict[str, Any] | None = None,
    timestamp: str = "2024-05-01T09:00:00.000Z",
    event: str | None = None,  # None: an identify; else a track event of that name
    properties: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
    channel: str | None = None,
    source: str = WRITE_KEY_SOURCE,
) -> RawEvent:
    """A partner call as the ingest path stores it, naming any identifiers: userId is the member id,
    anonymousId the anonymous id, and emails, phones, LINE ids and IDFAs ride in context.externalIds."""
    context: dict[str, Any] = {}
    external = [
        *({"type": "email", "id": value} for value in emails),
        *({"type": "phone", "id": value} for value in phones),
        *({"type": "line", "id": value} for value in lines),
        *({"type": "idfa", "id": value} for value in idfas),
    ]
    if external:
        context["externalIds"] = external
    if consent is not None:
        context["consent"] = consent
    if channel is not None:
        context["channel"] = channel
    payload: dict[str, Any] = {
        "type": "identify" if event is None else "track",
        "messageId": message_id,
        "timestamp": timestamp,
        "receivedAt": iso_from_ms(NOW_MS),
        "context": context,
    }
    if event is not None:
        payload["event"] = event
        payload["properties"] = dict(properties or {})
    if traits:
        payload["traits"] = traits
    if member is not None:
        payload["userId"] = member
    if anon is not None:
        payload["anonymousId"] = anon
    return RawEvent(
        event_id=partner_event_id(source, message_id),
        origin="partner",
        source=source,
        received_at=iso_from_ms(NOW_MS),
        payload=payload,
    )


# views of the store ---------------------------------------------------------------------------
def root_of(store: FakeProfileStore, profile_id: str) -> str:
    seen: list[str] = []
    current = profile_id
    while True:
        profile = store.profiles[current]
        pointer = profile.merged_into or profile.merging_into
        if not pointer:
            return current
        seen.append(current)
        assert pointer not in seen, f"pointer cycle {seen}"
        current = pointer


def roots(store: FakeProfileStore) -> dict[str, Profile]:
    return {pid: p for pid, p in store.profiles.items() if not p.merged_into and not p.merging_into}


def partition(store: FakeProfileStore) -> frozenset[frozenset[str]]:
    """Identifier keys grouped by the root profile their claim leads to."""
    groups: dict[str, set[str]] = {}
    for key, owner in store.claims.items():
        groups.setdefault(root_of(store, owner), set()).add(key)
    return frozenset(frozenset(keys) for keys in groups.values())


def timeline_event_ids(store: FakeProfileStore, profile_id: str) -> set[str]:
    return {entry.document["eventId"] for entry in store.timelines.get(profile_id, {}).values()}


def essence(profile: Profile) -> dict[str, Any]:
    """What a profile says about the person, without bookkeeping (version, updated_at, stamps' ids)."""
    return {
        "identifiers": sorted(profile.identifiers),
        "traits": {name: stamped.value for name, stamped in profile.traits.items()},
        "line_accounts": {key: stamped.value for key, stamped in profile.line_accounts.items()},
        "consent": {key: stamped.value for key, stamped in profile.consent.items()},
        "event_count": profile.event_count,
        "channels": {k: v for k, v in profile.channels.items() if v},
        "first_seen_at": profile.first_seen_at,
        "last_seen_at": profile.last_seen_at,
        "order_count": profile.order_count,
        "revenue": profile.revenue,
        "first_order_at": profile.first_order_at,
        "last_order_at": profile.last_order_at,
        "computed": profile.computed.as_dict(),
    }
