"""Merging two profiles of one person, and undoing it.

Each step is idempotent and resumable, so the Step Functions workflow can retry any of them
after a failure and nothing is lost or done twice:

plan      ledger written, loser marked `merging_into` (new events for it go to the survivor),
          survivor marked as receiving (it cannot itself be merged away meanwhile)
move      identifier claims, then timeline entries, move in transactions of <= 100 items; a
          retry re-reads what is still on the loser, so it continues where it stopped
finalize  one transaction: the merged profile (explicit precedence, `merge_profiles`), the
          loser's `merged_into` pointer and the ledger's status; then `profile.merged`

Unmerge replays the ledger backwards: claims move back, entries moved by this merge move back,
entries that arrived after the merge move back when their identifiers say they are the
loser's, and both profiles are rebuilt from their timelines. A separation record stops the
resolver from gluing the two together again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.domain_events import IDENTITY_CONFLICT, PROFILE_MERGED, PROFILE_UNMERGED, DomainEvent
from cdp.errors import Conflict, NotFound
from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier
from cdp.identity.resolver import choose_survivor, owner_of, separation_key
from cdp.identity.roots import MAX_POINTER_HOPS
from cdp.identity.rules import IdentityRules
from cdp.ports import Clock, EventPublisher
from cdp.profiles.model import Profile, merge_profiles, rebuild_profile

TRANSACTION_ITEMS = 100  # DynamoDB TransactWriteItems limit
TIMELINE_CHUNK = (TRANSACTION_ITEMS - 2) // 2  # a delete and a put per entry, plus the ledger update
CLAIMS_CHUNK = TRANSACTION_ITEMS - 1
MAX_RACES = 8
MAX_SEPARATION_CHECKS = 100  # one BatchGetItem

STATUS_MERGING = "merging"
STATUS_MERGED = "merged"
STATUS_REJECTED = "rejected"
STATUS_UNMERGING = "unmerging"
STATUS_UNMERGED = "unmerged"
STATUS_NOOP = "noop"  # already one profile; nothing to do


class MergeBusy(RuntimeError):
    """A profile involved is in another merge; the workflow retries this step with backoff."""


class MergeRace(RuntimeError):
    """A concurrent writer won too many times in a row; the workflow retries this step."""


def merge_id_for(survivor_id: str, loser_id: str) -> str:
    """Deterministic from the requested pair: the execution name, so a duplicate request is a no-op."""
    return "m_" + hashlib.sha256(f"{survivor_id}>{loser_id}".encode()).hexdigest()[:30]


@dataclass(slots=True)
class MergeLedger:
    merge_id: str
    survivor: str
    loser: str
    status: str
    requested_by: str  # the event (or admin action) that proved the two are one person
    planned_at: str
    survivor_created_at: str = ""
    loser_created_at: str = ""
    identifiers: list[str] = field(default_factory=list)  # loser's identifier keys at plan time
    events_moved: int = 0
    reason: str | None = None
    finalized_at: str | None = None
    unmerge_started_at: str | None = None
    unmerged_at: str | None = None
    events_returned: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "merge_id": self.merge_id,
            "survivor": self.survivor,
            "loser": self.loser,
            "status": self.status,
            "requested_by": self.requested_by,
            "planned_at": self.planned_at,
            "survivor_created_at": self.survivor_created_at,
            "loser_created_at": self.loser_created_at,
            "identifiers": self.identifiers,
            "events_moved": self.events_moved,
            "reason": self.reason,
            "finalized_at": self.finalized_at,
            "unmerge_started_at": self.unmerge_started_at,
            "unmerged_at": self.unmerged_at,
            "events_returned": self.events_returned,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MergeLedger:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    profile_id: str
    sort_key: str
    document: dict[str, Any]  # the canonical event
    applied_at: str
    claimed: tuple[str, ...] = ()  # identifier keys this event claimed
    attached: tuple[str, ...] | None = None  # identifier keys it attached; None on old entries
    moved_by: tuple[str, ...] = ()  # merges that moved it, oldest first

    def event(self) -> CanonicalEvent:
        return CanonicalEvent.from_dict(self.document)

    def attached_identifiers(self) -> list[Identifier]:
        keys = (
            self.attached
            if self.attached is not None
            else tuple(f"{i['type']}#{i['value']}" for i in self.document.get("identifiers", []))
        )
        return [Identifier(*key.split("#", 1)) for key in keys]


class MergeStore(Protocol):
    def get(self, profile_id: str) -> Profile | None: ...

    def claim_owners(self, keys: Sequence[str]) -> dict[str, str]:
        """identifier key -> profile id, for claimed keys."""
        ...

    def separated(self, keys: Sequence[str]) -> set[str]:
        """Those of the given separation keys that are recorded."""
        ...

    def get_ledger(self, merge_id: str) -> MergeLedger | None: ...

    def merges_into(self, profile_id: str, limit: int = 100) -> list[MergeLedger]:
        """Ledgers of the merges whose survivor is `profile_id`, oldest first."""
        ...

    def put_ledger(self, ledger: MergeLedger, *, expected_status: str | None) -> bool:
        """Write the ledger if its stored status is `expected_status` (None: must not exist)."""
        ...

    def begin(
        self, ledger: MergeLedger, *, expected_status: str | None, profiles: Sequence[tuple[Profile, int]]
    ) -> bool:
        """Ledger (conditional on status) and profiles (conditional on version) in one transaction."""
        ...

    def move_claims(self, keys: Sequence[str], *, source: str, target: str) -> None:
        """Re-point claims owned by `source` (or already by `target`) to `target`, atomically."""
        ...

    def timeline_page(self, profile_id: str, *, limit: int, after: str | None = None) -> list[TimelineEntry]:
        """Up to `limit` entries, oldest first; fewer does not mean the end (a page stops at 1 MB)."""
        ...

    def timeline(self, profile_id: str) -> list[TimelineEntry]:
        """Every entry of the profile, following the store's pagination to the end."""
        ...

    def move_timeline(
        self,
        entries: Sequence[TimelineEntry],
        *,
        target: str,
        moved_by: Sequence[Sequence[str]],
        merge_id: str,
        counter: str,
    ) -> None:
        """Delete each entry from its profile and put it on `target` with its new `moved_by`, and
        add len(entries) to the ledger's `counter`, in one transaction."""
        ...

    def finish(
        self,
        ledger: MergeLedger,
        *,
        expected_status: str,
        profiles: Sequence[tuple[Profile, int]],
        separation: str | None = None,
    ) -> bool:
        """Ledger, profiles (conditional on version) and an optional separation record, atomically."""
        ...


RulesProvider = Callable[[], IdentityRules]


@dataclass(slots=True)
class StepResult:
    merge_id: str
    status: str
    done: bool = True
    survivor: str | None = None
    loser: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "mergeId": self.merge_id,
            "status": self.status,
            "done": self.done,
            "survivor": self.survivor,
            "loser": self.loser,
        }


class MergeWorkflow:
    def __init__(
        self,
        store: MergeStore,
        publisher: EventPublisher,
        clock: Clock,
        rules: RulesProvider,
        *,
        fail_at: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._clock = clock
        self._rules = rules
        self._fail_at = fail_at or (lambda _step: None)  # failure injection point for tests

    def _now(self) -> str:
        return iso_from_ms(self._clock.now_ms())

    # merge -----------------------------------------------------------------------------------
    def plan(self, survivor_id: str, loser_id: str, *, requested_by: str, merge_id: str | None = None) -> StepResult:
        """`merge_id` is given when an earlier run of this merge is resumed."""
        merge_id = merge_id or merge_id_for(survivor_id, loser_id)
        for _attempt in range(MAX_RACES):
            ledger = self._store.get_ledger(merge_id)
            if ledger is not None:
                if ledger.status == STATUS_REJECTED:
                    self._publish_refusal(ledger)  # again: the run that refused may have died before it
                return StepResult(merge_id, ledger.status, True, ledger.survivor, ledger.loser)
            first, second = self._root(survivor_id), self._root(loser_id)
            if first.profile_id == second.profile_id:
                return StepResult(merge_id, STATUS_NOOP, True, first.profile_id, first.profile_id)
            survivor_owner = choose_survivor([owner_of(first), owner_of(second)])
            survivor, loser = (first, second) if survivor_owner.profile_id == first.profile_id else (second, first)
            ledger = MergeLedger(
                merge_id=merge_id,
                survivor=survivor.profile_id,
                loser=loser.profile_id,
                status=STATUS_MERGING,
                requested_by=requested_by,
                planned_at=self._now(),
                survivor_created_at=survivor.created_at,
                loser_created_at=loser.created_at,
                identifiers=sorted(loser.identifiers),
            )
            reason = self._refusal(survivor, loser)
            if reason is not None:
                ledger.status, ledger.reason = STATUS_REJECTED, reason
                if self._store.put_ledger(ledger, expected_status=None):
                    self._publish_refusal(ledger)
                    return StepResult(merge_id, STATUS_REJECTED, True, survivor.profile_id, loser.profile_id)
                continue
            if loser.pending_merges:
                raise MergeBusy(f"{loser.profile_id} is receiving merges {loser.pending_merges}")
            if any(pending.startswith("unmerge:") for pending in survivor.pending_merges):
                # Its unmerge rebuilds it from its timeline: entries moved in now would count twice.
                raise MergeBusy(f"{survivor.profile_id} is being unmerged")
            # New versions: a processor that read either profile before this commit must re-read.
            marked_survivor = replace(
                survivor,
                pending_merges=[*survivor.pending_merges, merge_id],
                incoming_from=[*survivor.incoming_from, loser.profile_id],
                version=survivor.version + 1,
            )
            marked_loser = replace(
                loser, merging_into=survivor.profile_id, merging_by=merge_id, version=loser.version + 1
            )
            if self._store.begin(
                ledger,
                expected_status=None,
                profiles=[(marked_survivor, survivor.version), (marked_loser, loser.version)],
            ):
                return StepResult(merge_id, STATUS_MERGING, False, survivor.profile_id, loser.profile_id)
        raise MergeRace(f"planning {merge_id} lost {MAX_RACES} races")

    def move(self, merge_id: str, *, deadline: Callable[[], bool] = lambda: False) -> StepResult:
        """Move claims, then timeline entries, until done or `deadline()` says to hand back."""
        ledger = self._ledger(merge_id)
        if ledger.status != STATUS_MERGING:
            return StepResult(merge_id, ledger.status, True, ledger.survivor, ledger.loser)
        self._move_claims(ledger.identifiers, source=ledger.loser, target=ledger.survivor)
        while True:
            page = self._store.timeline_page(ledger.loser, limit=TIMELINE_CHUNK)
            if not page:
                return StepResult(merge_id, STATUS_MERGING, True, ledger.survivor, ledger.loser)
            self._fail_at("move")
            self._store.move_timeline(
                page,
                target=ledger.survivor,
                moved_by=[[*entry.moved_by, merge_id] for entry in page],
                merge_id=merge_id,
                counter="events_moved",
            )
            if deadline():
                return StepResult(merge_id, STATUS_MERGING, False, ledger.survivor, ledger.loser)

    def finalize(self, merge_id: str) -> StepResult:
        ledger = self._ledger(merge_id)
        if ledger.status == STATUS_MERGING:
            self._fail_at("finalize")
            for _attempt in range(MAX_RACES):
                survivor, loser = self._profile(ledger.survivor), self._profile(ledger.loser)
                merged = merge_profiles(survivor, loser, self._now())
                merged.pending_merges = [m for m in merged.pending_merges if m != merge_id]
                merged.incoming_from = [p for p in merged.incoming_from if p != loser.profile_id]
                merged.version = survivor.version + 1
                closed = replace(
                    loser,
                    merging_into=None,
                    merging_by=None,
                    merged_into=survivor.profile_id,
                    version=loser.version + 1,
                )
                latest = self._ledger(merge_id)
                done = replace(latest, status=STATUS_MERGED, finalized_at=self._now())
                if self._store.finish(
                    done, expected_status=STATUS_MERGING, profiles=[(merged, survivor.version), (closed, loser.version)]
                ):
                    ledger = done
                    break
                if self._ledger(merge_id).status != STATUS_MERGING:
                    ledger = self._ledger(merge_id)
                    break
            else:
                raise MergeRace(f"finalizing {merge_id} lost {MAX_RACES} races")
        if ledger.status == STATUS_MERGED:
            # Republished on a retry with the same id: consumers dedup.
            self._publisher.publish([self._merged_event(ledger)])
        return StepResult(merge_id, ledger.status, True, ledger.survivor, ledger.loser)

    # unmerge ---------------------------------------------------------------------------------
    def begin_unmerge(self, merge_id: str) -> StepResult:
        ledger = self._store.get_ledger(merge_id)
        if ledger is None:
            raise NotFound(f"no merge {merge_id}", code="merge_not_found")
        if ledger.status in (STATUS_UNMERGING, STATUS_UNMERGED):
            return StepResult(merge_id, ledger.status, ledger.status == STATUS_UNMERGED, ledger.survivor, ledger.loser)
        if ledger.status != STATUS_MERGED:
            raise Conflict(
                f"merge {merge_id} is {ledger.status}; only a finished merge can be undone", code="merge_not_finished"
            )
        survivor = self._profile(ledger.survivor)
        if survivor.merged_into or survivor.merging_into:
            raise Conflict(
                f"{survivor.profile_id} was since merged into {survivor.merged_into or survivor.merging_into}; "
                "undo that merge first",
                code="survivor_merged_since",
            )
        if survivor.pending_merges:
            raise MergeBusy(f"{survivor.profile_id} is receiving merges {survivor.pending_merges}")
        started = replace(ledger, status=STATUS_UNMERGING, unmerge_started_at=self._now())
        locked = replace(survivor, pending_merges=[f"unmerge:{merge_id}"], version=survivor.version + 1)
        if not self._store.begin(started, expected_status=STATUS_MERGED, profiles=[(locked, survivor.version)]):
            raise MergeRace(f"starting the unmerge of {merge_id} lost a race")
        return StepResult(merge_id, STATUS_UNMERGING, False, ledger.survivor, ledger.loser)

    def move_back(self, merge_id: str, *, deadline: Callable[[], bool] = lambda: False) -> StepResult:
        ledger = self._ledger(merge_id)
        if ledger.status != STATUS_UNMERGING:
            return StepResult(merge_id, ledger.status, True, ledger.survivor, ledger.loser)
        self._move_claims(ledger.identifiers, source=ledger.survivor, target=ledger.loser)
        loser = self._profile(ledger.loser)
        if loser.merged_into:
            # From here on, events for the loser's identifiers land on the loser again.
            # Locked like the survivor until the unmerge ends: no merge may move its entries meanwhile.
            reopened = replace(
                loser, merged_into=None, pending_merges=[f"unmerge:{merge_id}"], version=loser.version + 1
            )
            if not self._store.begin(ledger, expected_status=STATUS_UNMERGING, profiles=[(reopened, loser.version)]):
                raise MergeRace(f"reopening {ledger.loser} lost a race")
        done = self._return_entries(ledger, deadline)
        return StepResult(merge_id, STATUS_UNMERGING, done, ledger.survivor, ledger.loser)

    def finalize_unmerge(self, merge_id: str) -> StepResult:
        ledger = self._ledger(merge_id)
        if ledger.status == STATUS_UNMERGING:
            self._fail_at("finalize_unmerge")
            for _attempt in range(MAX_RACES):
                self._return_entries(ledger, lambda: False)  # events that slipped in meanwhile
                survivor, loser = self._profile(ledger.survivor), self._profile(ledger.loser)
                now = self._now()
                rebuilt_survivor = self._rebuild(survivor, ledger.survivor_created_at or survivor.created_at, now)
                rebuilt_survivor.pending_merges = [m for m in survivor.pending_merges if m != f"unmerge:{merge_id}"]
                rebuilt_loser = self._rebuild(loser, ledger.loser_created_at or loser.created_at, now)
                rebuilt_loser.merged_into = rebuilt_loser.merging_into = None
                done = replace(self._ledger(merge_id), status=STATUS_UNMERGED, unmerged_at=now)
                if self._store.finish(
                    done,
                    expected_status=STATUS_UNMERGING,
                    profiles=[(rebuilt_survivor, survivor.version), (rebuilt_loser, loser.version)],
                    separation=separation_key(ledger.survivor, ledger.loser),
                ):
                    ledger = done
                    break
                if self._ledger(merge_id).status != STATUS_UNMERGING:
                    ledger = self._ledger(merge_id)
                    break
            else:
                raise MergeRace(f"finishing the unmerge of {merge_id} lost {MAX_RACES} races")
        if ledger.status == STATUS_UNMERGED:
            self._publisher.publish([self._unmerged_event(ledger)])
        return StepResult(merge_id, ledger.status, True, ledger.survivor, ledger.loser)

    # helpers ---------------------------------------------------------------------------------
    def _return_entries(self, ledger: MergeLedger, deadline: Callable[[], bool]) -> bool:
        """Move back what this merge moved, and what arrived since and belongs to the loser."""
        entries = self._store.timeline(ledger.survivor)
        loser_keys = set(ledger.identifiers)
        returning: list[TimelineEntry] = []
        moved_by: list[list[str]] = []
        claims_back: list[str] = []
        for entry in sorted(entries, key=lambda e: (e.applied_at, e.sort_key)):
            if entry.moved_by and entry.moved_by[-1] == ledger.merge_id:
                returning.append(entry)
                moved_by.append(list(entry.moved_by[:-1]))
                continue
            if ledger.merge_id in entry.moved_by:
                continue
            # Not moved here by this merge: the loser's if the identifiers it came with (other
            # than the ones it claimed itself) are all the loser's. Before the plan such an event
            # resolved to the loser itself, so no clock comparison is needed (clocks may skew).
            known = {f"{i['type']}#{i['value']}" for i in entry.document.get("identifiers", [])} - set(entry.claimed)
            if known and known <= loser_keys:
                returning.append(entry)
                moved_by.append(list(entry.moved_by))
                loser_keys |= set(entry.claimed)
                claims_back.extend(entry.claimed)
        self._move_claims(claims_back, source=ledger.survivor, target=ledger.loser)
        for start in range(0, len(returning), TIMELINE_CHUNK):
            self._store.move_timeline(
                returning[start : start + TIMELINE_CHUNK],
                target=ledger.loser,
                moved_by=moved_by[start : start + TIMELINE_CHUNK],
                merge_id=ledger.merge_id,
                counter="events_returned",
            )
            if deadline():
                return False
        return True

    def _rebuild(self, profile: Profile, created_at: str, now: str) -> Profile:
        entries = self._store.timeline(profile.profile_id)
        # An entry may have attached an identifier this profile owned only through the merge
        # (claims have moved back by now): the profile keeps the identifiers it owns.
        attached = [entry.attached_identifiers() for entry in entries]
        owners = self._store.claim_owners(sorted({i.key for identifiers in attached for i in identifiers}))
        rebuilt = rebuild_profile(
            profile.profile_id,
            created_at,
            [
                (entry.event(), [i for i in identifiers if owners.get(i.key) == profile.profile_id], entry.applied_at)
                for entry, identifiers in zip(entries, attached, strict=True)
            ],
            now,
        )
        # Tags are events and come back with the timeline; tags from before that (no event) stay.
        legacy = {tag: stamped for tag, stamped in profile.tag_state.items() if not stamped.event_id}
        rebuilt.tag_state = {**legacy, **rebuilt.tag_state}
        rebuilt.version = profile.version + 1
        return rebuilt

    def _move_claims(self, keys: Sequence[str], *, source: str, target: str) -> None:
        owners = self._store.claim_owners(keys)
        pending = [key for key in keys if owners.get(key) == source]
        for start in range(0, len(pending), CLAIMS_CHUNK):
            self._fail_at("move_claims")
            self._store.move_claims(pending[start : start + CLAIMS_CHUNK], source=source, target=target)

    def _refusal(self, survivor: Profile, loser: Profile) -> str | None:
        # Profiles an admin split stay split even after either side was merged into another.
        pairs = [
            separation_key(first, second)
            for first in self._members(survivor.profile_id)
            for second in self._members(loser.profile_id)
        ]
        if self._store.separated(pairs[:MAX_SEPARATION_CHECKS]):
            return "unmerged_before"
        # Merges already under way into the survivor bring identifiers too: count them.
        incoming = [p for p in (self._store.get(pid) for pid in survivor.incoming_from) if p is not None]
        broken = self._rules().added_violations(owner_of(survivor, *incoming).identifiers, owner_of(loser).identifiers)
        return broken[0] if broken else None

    def _members(self, profile_id: str) -> list[str]:
        """The profile and every profile merged into it, directly or through others."""
        members, pending = [profile_id], [profile_id]
        while pending and len(members) < MAX_SEPARATION_CHECKS:
            for ledger in self._store.merges_into(pending.pop()):
                if ledger.status == STATUS_MERGED and ledger.loser not in members:
                    members.append(ledger.loser)
                    pending.append(ledger.loser)
        return members

    def _root(self, profile_id: str) -> Profile:
        current = profile_id
        for _hop in range(MAX_POINTER_HOPS):
            profile = self._profile(current)
            pointer = profile.merged_into or profile.merging_into
            if not pointer:
                return profile
            current = pointer
        raise Conflict(f"profile {profile_id} points through too many merges", code="merge_chain_too_long")

    def _profile(self, profile_id: str) -> Profile:
        profile = self._store.get(profile_id)
        if profile is None:
            raise NotFound(f"no profile {profile_id}", code="profile_not_found")
        return profile

    def _ledger(self, merge_id: str) -> MergeLedger:
        ledger = self._store.get_ledger(merge_id)
        if ledger is None:
            raise NotFound(f"no merge {merge_id}", code="merge_not_found")
        return ledger

    def _merged_event(self, ledger: MergeLedger) -> DomainEvent:
        return DomainEvent(
            name=PROFILE_MERGED,
            id=f"{ledger.merge_id}:merged",
            time=ledger.finalized_at or self._now(),
            correlation_id=ledger.requested_by,
            detail={
                "mergeId": ledger.merge_id,
                "profileId": ledger.survivor,
                "mergedProfileId": ledger.loser,
                "identifiersMoved": len(ledger.identifiers),
                "eventsMoved": ledger.events_moved,
                "requestedBy": ledger.requested_by,
            },
        )

    def _unmerged_event(self, ledger: MergeLedger) -> DomainEvent:
        return DomainEvent(
            name=PROFILE_UNMERGED,
            id=f"{ledger.merge_id}:unmerged",
            time=ledger.unmerged_at or self._now(),
            correlation_id=ledger.merge_id,
            detail={
                "mergeId": ledger.merge_id,
                "profileId": ledger.survivor,
                "restoredProfileId": ledger.loser,
                "eventsReturned": ledger.events_returned,
            },
        )

    def _publish_refusal(self, ledger: MergeLedger) -> None:
        self._publisher.publish(
            [
                DomainEvent(
                    name=IDENTITY_CONFLICT,
                    id=f"{ledger.merge_id}:refused",
                    time=ledger.planned_at,
                    correlation_id=ledger.requested_by,
                    detail={
                        "profileId": ledger.survivor,
                        "otherProfileId": ledger.loser,
                        "mergeId": ledger.merge_id,
                        "reason": ledger.reason,
                    },
                )
            ]
        )


def deadline_after(seconds: float) -> Callable[[], bool]:
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end
