"""Real-time segment membership: re-evaluate the segments a profile change can affect.

A `profile.updated` names what changed (`changes`, from cdp.profiles.model.apply_event). Only
the active segments whose `reads()` meet one of those changes are evaluated:

| change              | segments that read                                                        |
|---------------------|---------------------------------------------------------------------------|
| `trait:<name>`      | `traits.<name>` (or a nested key under it)                                 |
| `identifier:<type>` | `identifier <type>` (and `reachable email / sms`: email / phone)          |
| `consent:<key>`     | `consent` / `reachable` with that `channel:purpose`                        |
| `line_status`       | `line_status`, `reachable line`                                           |
| `orders`            | `computed.` orders / revenue / ltv / average_order_value /                |
|                     | first_purchase_at / last_purchase_at / preferred_store; `Order Completed` |
| `line_engagement`   | `computed.line_engagement.*`; `LINE Message Received`, `LINE Postback`    |
| `channel_mix`       | `computed.channel_mix`                                                    |
| `tag:<name>`        | that tag, or its group (`<group>:...`)                                    |

Always evaluated: with no `changes` (merges, unmerges, a caller that does not know), for an
unknown change name, and segments that read something any folded event can move without a change
name: other `computed.*` keys (first / last seen) and events other than those above (a
`profile.updated` does not say which event was folded). Events that changed nothing raise no
`profile.updated` at all, so a rule on such events alone (and any relative time window drifting)
is caught up by scheduled recomputation, not here.

`in_segment`: segments are evaluated dependencies first, and a segment reading another one is
evaluated whenever that one's membership changed in the same pass (cycles: one pass).

Writes are conditional (cdp.segments.store): a replay finds the membership already as decided and
publishes nothing. `segment.entered` / `segment.exited` are published before the write, with ids
`<segment>:<profile>:<entered|exited>:<rule version>:<profile version>`, so a crash between
the two republishes the same ids on retry and consumers drop the duplicates. Whether the person
is in a segment this pass may decide is read consistently from the membership items; the
per-profile index (eventually consistent) only serves `in_segment` of the other segments.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.domain_events import SEGMENT_ENTERED, SEGMENT_EXITED, DomainEvent
from cdp.errors import BadRequest
from cdp.identity.merge import TimelineEntry
from cdp.identity.roots import MAX_POINTER_HOPS
from cdp.observability import logger
from cdp.ports import Clock, EventPublisher
from cdp.profiles.computed import CLICK_EVENTS, MESSAGE_EVENT, POSTBACK_EVENT
from cdp.profiles.model import ORDER_EVENT, Profile
from cdp.segments.evaluate import EventFact, evaluate
from cdp.segments.facts import event_fact, facts_from_profile
from cdp.segments.rules import Rule, RuleReads, reads
from cdp.segments.store import ENTERED, EXITED, STATUS_ACTIVE, SegmentDefinition, SegmentStore

DEFINITIONS_CACHE_MS = 30_000

COMPUTED_BY_CHANGE: dict[str, frozenset[str]] = {
    "orders": frozenset(
        {
            "orders",
            "revenue",
            "ltv",
            "average_order_value",
            "first_purchase_at",
            "last_purchase_at",
            "preferred_store",
        }
    ),
    "line_engagement": frozenset({"line_engagement"}),
    "channel_mix": frozenset({"channel_mix"}),
}
# Events whose folding always names a change. Link clicks are not here: a click from the web
# changes no LINE engagement, so it can be folded without any change name.
EVENTS_BY_CHANGE: dict[str, frozenset[str]] = {
    "orders": frozenset({ORDER_EVENT}),
    "line_engagement": frozenset({MESSAGE_EVENT, POSTBACK_EVENT}),
}
TRACKED_COMPUTED = frozenset().union(*COMPUTED_BY_CHANGE.values())
TRACKED_EVENTS = frozenset().union(*EVENTS_BY_CHANGE.values()) - CLICK_EVENTS


class ProfileSource(Protocol):
    def get(self, profile_id: str) -> Profile | None: ...

    def timeline(self, profile_id: str) -> list[TimelineEntry]: ...


def affected(found: RuleReads, changes: Sequence[str]) -> bool:
    """Can a profile change named `changes` change membership of a rule reading `found`?"""
    if not changes:
        return True
    computed = {name.split(".", 1)[0] for name in found.computed}
    if computed - TRACKED_COMPUTED or found.events - TRACKED_EVENTS:
        return True
    traits = {name.split(".", 1)[0] for name in found.traits}
    for change in changes:
        kind, _, name = change.partition(":")
        if kind == "trait" and name:
            hit = name in traits
        elif kind == "identifier" and name:
            hit = name in found.identifiers
        elif kind == "consent" and name:
            hit = name in found.consent
        elif kind == "tag" and name:
            hit = name in found.tags or name.split(":", 1)[0] in found.tag_groups
        elif change == "line_status":
            hit = "line_status" in found.profile_fields
        elif change in COMPUTED_BY_CHANGE:
            hit = bool(computed & COMPUTED_BY_CHANGE[change] or found.events & EVENTS_BY_CHANGE.get(change, set()))
        else:
            return True  # a change this table does not know: do not guess
        if hit:
            return True
    return False


@dataclass(frozen=True, slots=True)
class CompiledSegment:
    definition: SegmentDefinition
    rule: Rule
    reads: RuleReads

    @property
    def segment_id(self) -> str:
        return self.definition.segment_id


@dataclass(slots=True)
class EvaluationResult:
    profile_id: str | None
    evaluated: list[str] = field(default_factory=list)
    entered: list[str] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)
    exited_elsewhere: dict[str, list[str]] = field(default_factory=dict)  # merged-away profile -> segments

    def as_dict(self) -> dict[str, Any]:
        return {
            "profileId": self.profile_id,
            "evaluated": self.evaluated,
            "entered": self.entered,
            "exited": self.exited,
            "exitedElsewhere": self.exited_elsewhere,
        }


class SegmentEvaluator:
    def __init__(
        self,
        segments_store: SegmentStore,
        profile_store: ProfileSource,
        publisher: EventPublisher,
        clock: Clock,
        *,
        cache_ms: int = DEFINITIONS_CACHE_MS,
    ) -> None:
        self._segments = segments_store
        self._profiles = profile_store
        self._publisher = publisher
        self._clock = clock
        self._cache_ms = cache_ms
        self._cached: tuple[int, list[CompiledSegment]] | None = None

    # entry points -------------------------------------------------------------------------------
    def on_profile_changed(self, profile_id: str, changes: Sequence[str]) -> EvaluationResult:
        """Follow `merged_into` to the current profile, re-evaluate what `changes` can affect
        (everything when empty); memberships left on merged-away profiles on the way exit."""
        now_ms = self._clock.now_ms()
        profile, merged_away = self._current(profile_id)
        result = EvaluationResult(profile.profile_id if profile else None)
        for stale in merged_away:
            result.exited_elsewhere[stale.profile_id] = self._exit_all(stale, now_ms)
        if profile is not None:
            active = self.active_segments()
            selected = {segment.segment_id for segment in active if affected(segment.reads, changes)}
            self._evaluate(profile, selected, now_ms, result)
        return result

    def reevaluate(self, profile_id: str, segment_ids: Collection[str]) -> EvaluationResult:
        """These segments (and those reading them) for the person's live profile and timeline:
        what the scheduled recompute asks when the archive and the memberships disagree."""
        now_ms = self._clock.now_ms()
        profile, merged_away = self._current(profile_id)
        result = EvaluationResult(profile.profile_id if profile else None)
        for stale in merged_away:
            result.exited_elsewhere[stale.profile_id] = self._exit_all(stale, now_ms)
        if profile is not None:
            self._evaluate(profile, set(segment_ids), now_ms, result)
        return result

    def apply_membership(self, definition: SegmentDefinition, profile: Profile, *, inside: bool) -> None:
        """Enter or exit without evaluating: the caller decided on facts as current as the live ones."""
        self._apply(definition, profile, ENTERED if inside else EXITED, self._clock.now_ms())

    def on_profile_merged(self, survivor: str, loser: str) -> EvaluationResult:
        """The loser's memberships exit; the survivor (whoever it now is) is evaluated in full."""
        now_ms = self._clock.now_ms()
        exited: list[str] = []
        loser_profile = self._profiles.get(loser)
        if loser_profile is not None:
            exited = self._exit_all(loser_profile, now_ms)
        result = self.on_profile_changed(survivor, [])
        if exited:
            result.exited_elsewhere[loser] = exited
        return result

    def on_profile_unmerged(self, survivor: str, restored: str) -> list[EvaluationResult]:
        """Both people are evaluated in full: each got its own timeline and identifiers back."""
        return [self.on_profile_changed(survivor, []), self.on_profile_changed(restored, [])]

    # definitions --------------------------------------------------------------------------------
    def active_segments(self) -> list[CompiledSegment]:
        """Active definitions, dependencies (in_segment) first; cached for `cache_ms`."""
        now_ms = self._clock.now_ms()
        # A clock set back (the local stack's virtual clock going back to real time) ends the cache too.
        if self._cached is not None and 0 <= now_ms - self._cached[0] < self._cache_ms:
            return self._cached[1]
        compiled: list[CompiledSegment] = []
        for definition in self._segments.definitions():
            if definition.status != STATUS_ACTIVE:
                continue
            try:
                rule = definition.parsed()
            except BadRequest as exc:  # stored before a stricter parser: skip it, loudly
                logger.warning("segment rule no longer parses", extra={"segment": definition.segment_id, **_why(exc)})
                continue
            compiled.append(CompiledSegment(definition, rule, reads(rule)))
        ordered = _dependencies_first(compiled)
        self._cached = (now_ms, ordered)
        return ordered

    # internals ----------------------------------------------------------------------------------
    def _current(self, profile_id: str) -> tuple[Profile | None, list[Profile]]:
        merged_away: list[Profile] = []
        current = profile_id
        for _hop in range(MAX_POINTER_HOPS):
            profile = self._profiles.get(current)
            if profile is None or not profile.merged_into:
                return profile, merged_away
            merged_away.append(profile)
            current = profile.merged_into
        logger.warning("profile points through too many merges", extra={"profile": profile_id})
        return None, merged_away

    def _evaluate(self, profile: Profile, selected: set[str], now_ms: int, result: EvaluationResult) -> None:
        active = self.active_segments()
        if not selected:
            return
        now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        active_ids = {segment.segment_id for segment in active}
        # Segments this pass may decide: their membership is read consistently from the base table.
        # The others' (for in_segment) come from the per-profile index, which may lag slightly.
        candidates = _with_dependents(selected, active)
        indexed = {m.segment_id for m in self._segments.memberships(profile.profile_id)} & active_ids
        memberships = (indexed - candidates) | self._segments.member_of(profile.profile_id, sorted(candidates))
        facts = facts_from_profile(profile, now)
        events: list[EventFact] | None = None
        moved: set[str] = set()
        for segment in active:
            if segment.segment_id not in selected and not segment.reads.segments & moved:
                continue
            if segment.reads.events and events is None:
                events = self._events(profile.profile_id)
            result.evaluated.append(segment.segment_id)
            inside = evaluate(segment.rule, facts, events or [], now, memberships)
            if inside == (segment.segment_id in memberships):
                continue
            action = ENTERED if inside else EXITED
            self._apply(segment.definition, profile, action, now_ms)
            moved.add(segment.segment_id)
            if inside:
                memberships.add(segment.segment_id)
                result.entered.append(segment.segment_id)
            else:
                memberships.discard(segment.segment_id)
                result.exited.append(segment.segment_id)

    def _events(self, profile_id: str) -> list[EventFact]:
        facts = (event_fact(entry.event()) for entry in self._profiles.timeline(profile_id))
        return [fact for fact in facts if fact is not None]

    def _exit_all(self, profile: Profile, now_ms: int) -> list[str]:
        """A merged-away profile is nobody any more: it leaves every segment it is in (archived
        ones too), read consistently so that a membership entered a moment ago is not missed."""
        versions = {definition.segment_id: definition.version for definition in self._segments.definitions()}
        indexed = {m.segment_id: m.rule_version for m in self._segments.memberships(profile.profile_id)}
        exited: list[str] = []
        for segment_id in sorted(self._segments.member_of(profile.profile_id, sorted({*versions, *indexed}))):
            rule_version = versions.get(segment_id) or indexed.get(segment_id, 0)
            self._publish(segment_id, profile, EXITED, rule_version, now_ms, reason="merged")
            if self._segments.exit(segment_id, profile.profile_id, at=iso_from_ms(now_ms), rule_version=rule_version):
                exited.append(segment_id)
        return exited

    def _apply(self, definition: SegmentDefinition, profile: Profile, action: str, now_ms: int) -> None:
        self._publish(definition.segment_id, profile, action, definition.version, now_ms, reason="evaluated")
        write = self._segments.enter if action == ENTERED else self._segments.exit
        write(definition.segment_id, profile.profile_id, at=iso_from_ms(now_ms), rule_version=definition.version)

    def _publish(
        self, segment_id: str, profile: Profile, action: str, rule_version: int, now_ms: int, *, reason: str
    ) -> None:
        at = iso_from_ms(now_ms)
        self._publisher.publish(
            [
                DomainEvent(
                    name=SEGMENT_ENTERED if action == ENTERED else SEGMENT_EXITED,
                    id=membership_event_id(segment_id, profile.profile_id, action, rule_version, profile.version),
                    time=at,
                    correlation_id=profile.profile_id,
                    detail={
                        "segmentId": segment_id,
                        "profileId": profile.profile_id,
                        "ruleVersion": rule_version,
                        "profileVersion": profile.version,
                        "reason": reason,
                        "at": at,
                    },
                )
            ]
        )


def membership_event_id(segment_id: str, profile_id: str, action: str, rule_version: int, profile_version: int) -> str:
    return f"{segment_id}:{profile_id}:{action}:{rule_version}:{profile_version}"


def _with_dependents(selected: set[str], segments: Sequence[CompiledSegment]) -> set[str]:
    """The selected segments and every segment that reads one of them through in_segment, transitively."""
    found = set(selected)
    grew = True
    while grew:
        grew = False
        for segment in segments:
            if segment.segment_id not in found and segment.reads.segments & found:
                found.add(segment.segment_id)
                grew = True
    return found


def _dependencies_first(segments: Iterable[CompiledSegment]) -> list[CompiledSegment]:
    by_id = {segment.segment_id: segment for segment in segments}
    ordered: list[CompiledSegment] = []
    state: dict[str, str] = {}  # visiting / done

    def visit(segment_id: str) -> None:
        if segment_id in state or segment_id not in by_id:
            return  # done, a cycle (visiting), or not an active segment
        state[segment_id] = "visiting"
        for dependency in sorted(by_id[segment_id].reads.segments):
            visit(dependency)
        state[segment_id] = "done"
        ordered.append(by_id[segment_id])

    for segment_id in sorted(by_id):
        visit(segment_id)
    return ordered


def _why(exc: BadRequest) -> dict[str, Any]:
    return {"reason": exc.message, "details": exc.details}
