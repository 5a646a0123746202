"""Process one raw event: normalise it (and keep what the tag rules derive from it), resolve the
person, apply (fold) the event to their profile, commit; then publish the domain events.

Idempotent: the store commits the event's "applied" marker, the timeline entry, the profile
(which lists the newest events folded into it) and the identifier claims, so a replayed stream
record is recognised and changes nothing (how, without a transaction for a known person: see
`DynamoProfileStore.commit`). Lost races (another event claimed an identifier first, or updated the profile)
are retried from a fresh read.
"""

from __future__ import annotations

import enum
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cdp.clock import iso_from_ms
from cdp.domain_events import (
    EVENT_RECEIVED,
    IDENTITY_CONFLICT,
    IDENTITY_LINK_REJECTED,
    MERGE_REQUESTED,
    PROFILE_UPDATED,
    DomainEvent,
)
from cdp.events import names
from cdp.events.canonical import DERIVED_KEYS, CanonicalEvent, Derivation, EventNormalizer
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import Identifier
from cdp.identity.resolver import Conflict, Resolution, owner_of, resolve
from cdp.identity.roots import BrokenPointer, follow_roots
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.ports import Clock, EventPublisher
from cdp.privacy.suppression import SuppressionCheck
from cdp.profiles.model import Profile, apply_event
from cdp.profiles.tag_rules import NO_TAG_RULES, TagRules, is_tracked_link_click, link_click_tags

if TYPE_CHECKING:
    from cdp.identity.account_link import LinkOutcome
    from cdp.messaging.auto_reply import AutoReplier

MAX_ATTEMPTS = 6
# `event.received` carries the event's properties (journeys match and correlate on them) up to
# this many bytes of JSON; beyond, they are left out and `propertiesDropped` says so.
MAX_RECEIVED_PROPERTIES_BYTES = 8 * 1024
ACCOUNT_LINKED = names.ACCOUNT_LINKED
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

    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]: ...

    def load(self, profile_ids: Sequence[str], separations: Sequence[str] = ()) -> tuple[dict[str, Profile], set[str]]:
        """Profiles, and which of the given separation keys are recorded, in one read."""
        ...

    def separated(self, keys: Sequence[str]) -> set[str]:
        """Those of the given separation keys (`separation_key`) an unmerge recorded."""
        ...

    def commit(
        self,
        *,
        event: CanonicalEvent,
        profile: Profile,
        expected_version: int,
        claims: Sequence[Identifier],
        attached: Sequence[Identifier] = (),
        applied_at: str = "",
        events: Sequence[DomainEvent] = (),
    ) -> CommitOutcome:
        """All or nothing; `events` are kept with the APPLIED marker (see applied_events)."""
        ...

    def record_timeline(
        self, *, event: CanonicalEvent, profile: Profile, attached: Sequence[Identifier], applied_at: str
    ) -> None:
        """Write an applied event's timeline entry again (idempotent: the entry's key is the event's)."""
        ...

    def was_applied(self, event_id: str) -> str | None:
        """The profile id an event was applied to, if it was."""
        ...

    def applied_events(self, event_id: str) -> list[DomainEvent]:
        """The domain events committed with the event, to republish after a failed publish."""
        ...


class MergeRequester(Protocol):
    def request(self, survivor_id: str, loser_id: str, *, requested_by: str, merge_id: str | None = None) -> None:
        """Start merging `loser_id` into `survivor_id` (or resume merge `merge_id`); a repeated
        request is a no-op while that merge runs or after it succeeded."""
        ...


class AccountLinker(Protocol):
    def consume(self, *, nonce: str, line_user_id: str, event_id: str) -> LinkOutcome: ...


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
    merge_from: list[str] = field(default_factory=list)
    # Merges under way that this event's identifiers passed through: (survivor, loser, merge id).
    # Asking again resumes one whose run failed; while it runs, the request is a no-op.
    resume: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Target:
    """One attempt's resolution: the profile to fold into, as read, and what the event claims."""

    profile: Profile
    expected_version: int
    resolution: Resolution
    attach: list[Identifier]
    resume: list[tuple[str, str, str]]


class NoMerges:
    """For deployments and tests without the merge workflow: conflicts stay recorded only."""

    def request(self, survivor_id: str, loser_id: str, *, requested_by: str, merge_id: str | None = None) -> None:
        return None


class EventProcessor:
    def __init__(
        self,
        normalizer: EventNormalizer | Callable[[IdentityRules], EventNormalizer],
        store: ProfileStore,
        publisher: EventPublisher,
        clock: Clock,
        *,
        rules: Callable[[], IdentityRules] = lambda: DEFAULT_RULES,
        merges: MergeRequester | None = None,
        account_links: AccountLinker | None = None,
        tag_rules: Callable[[], TagRules] = lambda: NO_TAG_RULES,
        received: frozenset[str] | None = None,
        auto_replies: AutoReplier | None = None,
        journey_events: Callable[[], frozenset[str]] = frozenset,
        suppression: SuppressionCheck | None = None,
    ) -> None:
        self._normalizers: dict[int, EventNormalizer] = {}
        self._normalizer_for = (
            normalizer if callable(normalizer) and not isinstance(normalizer, EventNormalizer) else None
        )
        self._fixed_normalizer = normalizer if isinstance(normalizer, EventNormalizer) else None
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._rules = rules
        self._merges = merges or NoMerges()
        self._account_links = account_links
        self._tag_rules = tag_rules
        self._received = received  # which events go on the bus as event.received; None: all
        # ... and, whatever the selection, the events live journeys listen to (cached by the caller)
        self._journey_events = journey_events
        self._auto_replies = auto_replies
        self._suppression = suppression

    def _normalizer(self, rules: IdentityRules) -> EventNormalizer:
        if self._fixed_normalizer is not None:
            return self._fixed_normalizer
        assert self._normalizer_for is not None
        if rules.version not in self._normalizers:  # blocked values change with the rules
            self._normalizers = {rules.version: self._normalizer_for(rules)}
        return self._normalizers[rules.version]

    def process(self, raw: RawEvent) -> ProcessResult:
        rules = self._rules()
        event = self._normalizer(rules).normalize(raw)
        if event.event == ACCOUNT_LINKED:
            self._bind_account_link(event)
        self._derive(event)
        if self._suppression is not None and event.identifiers:
            # An erased person's identifiers: dropped before resolution, which would rebuild them.
            erase_id = self._suppression.erase_of(i.key for i in event.identifiers)
            if erase_id is not None:
                self._suppression.drop(erase_id, event.event_id)
                return ProcessResult(event=event, profile_id=None, outcome="suppressed")
        now = iso_from_ms(self._clock.now_ms())
        if not event.identifiers:
            # Group joins, bot lifecycle: no person to attach to.
            result = ProcessResult(event=event, profile_id=None, outcome="no_identifiers")
            result.published = self._domain_events(result, now)
        else:
            result = self._apply(event, now, rules)
        self._publisher.publish(result.published)
        # After the publish: the requests are also on the APPLIED marker, so a retry re-requests
        # them, and the merge's deterministic name makes that a no-op.
        for domain_event in result.published:
            if domain_event.name == MERGE_REQUESTED:
                detail = domain_event.detail
                self._merges.request(
                    detail["profileId"],
                    detail["mergeProfileId"],
                    requested_by=detail["eventId"],
                    merge_id=detail.get("mergeId"),
                )
        if self._auto_replies is not None:
            # After the commit (the reply's send point reads the folded profile: a new friend is
            # reachable) and on replays too: a lost hand-over is made again, the send key makes a
            # repeat a no-op. A failed hand-over fails the record, which is retried.
            self._auto_replies.reply(result.event, result.profile_id, self._tag_rules())
        return result

    def _derive(self, event: CanonicalEvent) -> None:
        """Tags and traits the workspace's tag rules read from a LINE message or postback, kept
        with the event (`event.derived`) so the timeline keeps them and a rebuild does not depend
        on later rules. A tracked-link click derives its acquisition source and the link's tags
        the same way."""
        link_click = is_tracked_link_click(event)
        if (event.origin != "line" and not link_click) or event.type != "track":
            return
        for key in DERIVED_KEYS:  # a sender cannot pass its own derivation off as ours
            event.properties.pop(key, None)
        event.derived = None
        if link_click:
            tags = link_click_tags(event.properties)
            if tags:
                event.derived = Derivation(tags=tags)
            return
        rules = self._tag_rules()
        derived = rules.derive(event.event, event.properties)
        if derived:
            event.derived = Derivation(tags=derived.tags, traits=derived.traits, rules_version=rules.version)

    def _bind_account_link(self, event: CanonicalEvent) -> None:
        """`accountLink` webhook: the nonce we issued maps back to the member it was issued for."""
        if self._account_links is None or event.line_identifier is None:
            return
        nonce = event.properties.get("nonce")
        if event.properties.get("result") != "ok" or not isinstance(nonce, str):
            event.properties["linkRejectedReason"] = "link_failed"
            return
        line_user_id = event.line_identifier.value.rpartition(":")[2]
        outcome = self._account_links.consume(nonce=nonce, line_user_id=line_user_id, event_id=event.event_id)
        if outcome.member_id is None:
            event.properties["linkRejectedReason"] = outcome.reason or "link_failed"
            return
        member = Identifier("member_id", outcome.member_id)
        event.properties["memberId"] = outcome.member_id
        if member not in event.identifiers:
            event.identifiers.append(member)

    def _apply(self, event: CanonicalEvent, now: str, rules: IdentityRules) -> ProcessResult:
        """resolve -> apply -> commit, from a fresh read after each lost race."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt:  # lost a race: back off with jitter so hot profiles do not retry in lockstep
                time.sleep(random.uniform(0, RETRY_BASE_SECONDS * 2**attempt))
            target = self._resolve(event, now, rules)
            if target.profile.has_applied(event.event_id):
                # A replay after the profile was written: its timeline entry may not have been.
                self._store.record_timeline(event=event, profile=target.profile, attached=target.attach, applied_at=now)
                return self._replayed(event, now)
            result = self._fold(event, target, now)
            outcome = self._store.commit(
                event=event,
                profile=target.profile,
                expected_version=target.expected_version,
                claims=target.resolution.claim,
                attached=target.attach,
                applied_at=now,
                events=result.published,
            )
            if outcome is CommitOutcome.APPLIED:
                return result
            if outcome is CommitOutcome.ALREADY_APPLIED:
                return self._replayed(event, now)
        raise ProcessingConflict(f"event {event.event_id} lost {MAX_ATTEMPTS} races in a row")

    def _replayed(self, event: CanonicalEvent, now: str) -> ProcessResult:
        """The event was applied before: publish again what its commit kept, change nothing."""
        replay = ProcessResult(event, self._store.was_applied(event.event_id), "already_applied")
        replay.published = self._store.applied_events(event.event_id) or self._domain_events(replay, now)
        return replay

    def _resolve(self, event: CanonicalEvent, now: str, rules: IdentityRules) -> _Target:
        """The person the event is about: the owners of its identifiers, followed to their roots."""
        claims = self._store.owners(event.identifiers)
        roots, separated, resume = self._roots(set(claims.values()))
        incoming = self._incoming(roots)
        owners = {
            key: owner_of(roots[profile_id], *incoming.get(roots[profile_id].profile_id, []))
            for key, profile_id in claims.items()
        }
        resolution = resolve(event.identifiers, owners, event_id=event.event_id, rules=rules, separated=separated)
        # A loaded root was read for this attempt only, so it is safe to fold into.
        profile = Profile.new(resolution.profile_id, now) if resolution.is_new else roots[resolution.profile_id]
        # Only what this profile itself owns or claims now: identifiers of profiles being
        # merged in arrive with the merge, so an unmerge can tell them apart again.
        attach = [i for i in event.identifiers if i in resolution.claim or claims.get(i.key) == resolution.profile_id]
        return _Target(profile, profile.version, resolution, attach, resume)

    def _fold(self, event: CanonicalEvent, target: _Target, now: str) -> ProcessResult:
        """Fold the event into the resolved profile; the domain events it raises."""
        changes = apply_event(target.profile, event, target.attach, now)
        target.profile.version = target.expected_version + 1
        target.profile.remember_applied(event.event_id)
        result = ProcessResult(
            event,
            target.profile.profile_id,
            "applied",
            changes,
            target.resolution.conflicts,
            merge_from=target.resolution.merge_from,
            resume=target.resume,
        )
        # The events to publish are committed with the profile: if publishing fails, the
        # retried record finds them on the marker instead of recomputing "no change".
        result.published = self._domain_events(result, now)
        return result

    def _incoming(self, roots: dict[str, Profile]) -> dict[str, list[Profile]]:
        """Profiles being merged into a root: their identifiers count against its limits too."""
        wanted = {pid for root in roots.values() for pid in root.incoming_from}
        if not wanted:
            return {}
        loaded = self._store.get_many(sorted(wanted))
        return {
            root.profile_id: [loaded[pid] for pid in root.incoming_from if pid in loaded] for root in roots.values()
        }

    def _roots(self, profile_ids: set[str]) -> tuple[dict[str, Profile], set[str], list[tuple[str, str, str]]]:
        try:
            found = follow_roots(self._store, profile_ids)
        except BrokenPointer as exc:
            raise ProcessingConflict(str(exc)) from exc
        return found.by_owner, found.separated, found.resume

    def _domain_events(self, result: ProcessResult, now: str) -> list[DomainEvent]:
        event = result.event
        name = event.event or event.type
        published: list[DomainEvent] = []
        if self._received is None or name in self._received or name in self._journey_events():
            published.append(
                DomainEvent(
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
                        **_bounded_properties(event.properties),
                    },
                )
            )
        rejected_link = event.properties.get("linkRejectedReason") if event.event == ACCOUNT_LINKED else None
        if rejected_link:
            published.append(
                DomainEvent(
                    name=IDENTITY_LINK_REJECTED,
                    id=f"{event.event_id}:link-rejected",
                    time=now,
                    correlation_id=event.message_id,
                    detail={"profileId": result.profile_id, "eventId": event.event_id, "reason": rejected_link},
                )
            )
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
        published.extend(
            DomainEvent(
                name=MERGE_REQUESTED,
                id=f"{event.event_id}:merge:{other}",
                time=now,
                correlation_id=event.message_id,
                detail={"profileId": result.profile_id, "mergeProfileId": other, "eventId": event.event_id},
            )
            for other in result.merge_from
        )
        published.extend(
            DomainEvent(
                name=MERGE_REQUESTED,
                id=f"{event.event_id}:resume:{merge_id}",
                time=now,
                correlation_id=event.message_id,
                detail={"profileId": survivor, "mergeProfileId": loser, "eventId": event.event_id, "mergeId": merge_id},
            )
            for survivor, loser, merge_id in result.resume
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
                            {
                                "type": c.identifier.type,
                                "value": c.identifier.value,
                                "owner": c.owner,
                                "reason": c.reason,
                            }
                            for c in result.conflicts
                        ],
                    },
                )
            )
        return published


def _bounded_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """The event's properties for `event.received`, or none and a flag when they are too big."""
    size = len(json.dumps(properties, ensure_ascii=False, separators=(",", ":"), default=str).encode())
    if size > MAX_RECEIVED_PROPERTIES_BYTES:
        return {"properties": None, "propertiesDropped": True}
    return {"properties": dict(properties)}
