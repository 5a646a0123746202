"""Erase a person everywhere the product keeps data (the right to erasure), with proof.

A request names any profile id of the person (a merged-away id resolves to the whole person:
the root profile and every profile merged into it). It is answered at once with the erase's
record; a Step Functions workflow then runs the steps below, each idempotent and resumable:

1. `erase`: every store in order removes the person's items in bounded chunks (a retry after a
   crash finds fewer items and carries on). Counts removed per store go on the record.
2. `archive`: the Parquet archive's files holding the person are rewritten without them and the
   snapshot refreshed. It runs after the core table's stream has settled, because deleting the
   person's items writes removal rows (with their ids) into the archive.
3. `verify`: every store is asked how many items of the person remain; zero everywhere is the
   proof, kept on the record. Anything left sends the workflow round again (bounded).
4. `finish`: the record is closed, and the person's ids and identifiers, held only while the
   erase runs (the record itself holds no personal data), are forgotten.

Before any of that, the request stores the person's hashed identifiers as suppressions
(cdp.privacy.suppression), so an event arriving during or after the erase cannot rebuild them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.errors import Conflict, NotFound
from cdp.identity.merge import STATUS_MERGED, STATUS_MERGING, STATUS_UNMERGING, MergeLedger
from cdp.ports import Clock
from cdp.privacy.suppression import Suppressions, identifier_digest, profile_digest
from cdp.profiles.model import Profile

STATUS_RUNNING = "running"
STATUS_ERASED = "erased"
STATUS_INCOMPLETE = "incomplete"  # verification still found items after the last round
JOURNEY_EXIT_REASON = "erased"
MAX_ROUNDS = 3  # erase -> archive -> verify rounds before the record says incomplete
MAX_POINTER_HOPS = 8
MAX_PROFILES = 500  # merged profiles of one person: more means corrupt pointers
CHUNK = 100  # items one store removes per call: a deadline is checked between chunks


@dataclass(frozen=True, slots=True)
class Person:
    """Whom an erase removes: its profile ids and identifier keys (`type#value`). Personal data:
    held only while the erase runs."""

    root_id: str
    profile_ids: tuple[str, ...]
    identifiers: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"root_id": self.root_id, "profile_ids": list(self.profile_ids), "identifiers": list(self.identifiers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Person:
        return cls(data["root_id"], tuple(data["profile_ids"]), tuple(data["identifiers"]))


@dataclass(slots=True)
class EraseRecord:
    """The proof kept after an erase: counts only, no personal data."""

    erase_id: str
    status: str
    requested_at: str
    requested_by: str
    profiles: int  # how many profile ids the person had (root and merged-away)
    identifiers: int  # how many identifiers were suppressed
    removed: dict[str, int] = field(default_factory=dict)  # store -> items removed
    done_stores: list[str] = field(default_factory=list)  # this round's finished stores
    rounds: int = 1
    remaining: dict[str, int] | None = None  # the verification pass: store -> items still found
    verified_at: str | None = None
    finished_at: str | None = None
    suppression_lifted_at: str | None = None
    suppressed_events: int = 0  # later events dropped by this erase's suppression

    def as_dict(self) -> dict[str, Any]:
        return {
            "erase_id": self.erase_id,
            "status": self.status,
            "requested_at": self.requested_at,
            "requested_by": self.requested_by,
            "profiles": self.profiles,
            "identifiers": self.identifiers,
            "removed": dict(self.removed),
            "done_stores": list(self.done_stores),
            "rounds": self.rounds,
            "remaining": dict(self.remaining) if self.remaining is not None else None,
            "verified_at": self.verified_at,
            "finished_at": self.finished_at,
            "suppression_lifted_at": self.suppression_lifted_at,
            "suppressed_events": self.suppressed_events,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EraseRecord:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


class PersonSource(Protocol):
    """Reads of the profile store an erase needs to find the whole person."""

    def get(self, profile_id: str) -> Profile | None: ...

    def merges_into(self, profile_id: str, limit: int = 100) -> list[MergeLedger]: ...


class EraseLedger(Protocol):
    """Erase records, the pointers from (hashed) profile ids to them, and the person while erased."""

    def erase_for(self, profile_digests: Sequence[str]) -> str | None:
        """The erase that covers any of these hashed profile ids."""
        ...

    def create(self, record: EraseRecord, person: Person, pointers: Sequence[str]) -> bool:
        """Record, person and pointers at once; False when the erase exists already."""
        ...

    def get(self, erase_id: str) -> EraseRecord | None: ...

    def save(self, record: EraseRecord) -> None: ...

    def person(self, erase_id: str) -> Person | None: ...

    def forget_person(self, erase_id: str) -> None: ...


class ErasureStore(Protocol):
    """One place that keeps data about people. `erase` removes at most `limit` of the person's
    items per call and says when none are left; `remaining` counts what is still there."""

    name: str

    def erase(self, person: Person, *, limit: int) -> tuple[int, bool]: ...

    def remaining(self, person: Person) -> int: ...


@dataclass(frozen=True, slots=True)
class StepResult:
    erase_id: str
    status: str
    done: bool = True
    clean: bool = False
    rounds: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "eraseId": self.erase_id,
            "status": self.status,
            "done": self.done,
            "clean": self.clean,
            "rounds": self.rounds,
        }


def erase_id_for(root_id: str) -> str:
    """Deterministic: the workflow's execution name, so a repeated start is a no-op."""
    return "erase-" + hashlib.sha256(f"erase\x00{root_id}".encode()).hexdigest()[:24]


class EraseWorkflow:
    def __init__(
        self,
        *,
        people: PersonSource,
        ledger: EraseLedger,
        suppressions: Suppressions,
        stores: Sequence[ErasureStore],
        archive: Sequence[ErasureStore] = (),
        clock: Clock,
    ) -> None:
        self._people = people
        self._ledger = ledger
        self._suppressions = suppressions
        self._stores = list(stores)
        self._archive = list(archive)
        self._clock = clock

    # --- the request (admin API) -----------------------------------------------------------
    def find(self, profile_id: str) -> EraseRecord | None:
        erase_id = self._ledger.erase_for([profile_digest(profile_id)])
        return self._ledger.get(erase_id) if erase_id else None

    def request(self, profile_id: str, *, requested_by: str) -> tuple[EraseRecord, bool]:
        """The person's erase record and whether this request created it. 404 for an id never
        known (or erased by no erase), 409 while a merge involving the person runs."""
        earlier = self.find(profile_id)
        if earlier is not None:
            return earlier, False
        profile = self._people.get(profile_id)
        if profile is None:
            raise NotFound(f"profile {profile_id} not found", code="profile_not_found")
        root = self._root(profile)
        earlier = self.find(root.profile_id)
        if earlier is not None:
            return earlier, False
        person = self._person(root)
        erase_id = erase_id_for(root.profile_id)
        now = iso_from_ms(self._clock.now_ms())
        record = EraseRecord(
            erase_id=erase_id,
            status=STATUS_RUNNING,
            requested_at=now,
            requested_by=requested_by,
            profiles=len(person.profile_ids),
            identifiers=len(person.identifiers),
        )
        # Suppress first: from here on no event can rebuild the person while the erase runs.
        self._suppressions.add([identifier_digest(key) for key in person.identifiers], erase_id, now)
        if not self._ledger.create(record, person, [profile_digest(pid) for pid in person.profile_ids]):
            existing = self._ledger.get(erase_id)
            if existing is None:  # pragma: no cover - create said it exists
                raise Conflict("the erase record could not be written", code="erase_conflict")
            return existing, False
        return record, True

    def restart(self, erase_id: str) -> EraseRecord:
        """An incomplete erase goes round again (a new request for the same person)."""
        record = self._require(erase_id)
        if record.status == STATUS_INCOMPLETE:
            record.status = STATUS_RUNNING
            record.rounds += 1
            record.done_stores = []
            self._ledger.save(record)
        return record

    def lift_suppression(self, profile_id: str) -> tuple[EraseRecord, int]:
        """Later events about the erased person are used again (e.g. they signed up again)."""
        record = self.find(profile_id)
        if record is None:
            raise NotFound(f"no erase of profile {profile_id}", code="erase_not_found")
        if record.status == STATUS_RUNNING:
            raise Conflict("the erase is still running", code="erase_running")
        lifted = self._suppressions.lift(record.erase_id)
        if record.suppression_lifted_at is None:
            record.suppression_lifted_at = iso_from_ms(self._clock.now_ms())
            self._ledger.save(record)
        return record, lifted

    def _root(self, profile: Profile) -> Profile:
        current = profile
        for _hop in range(MAX_POINTER_HOPS):
            pointer = current.merged_into or current.merging_into
            if pointer is None:
                return current
            if current.merging_into:
                raise Conflict("a merge involving this person is running", code="merge_in_progress")
            following = self._people.get(pointer)
            if following is None:
                raise Conflict("the person's merge pointers are being changed", code="merge_in_progress")
            current = following
        raise Conflict("the person's merge pointers are too long", code="merge_in_progress")

    def _person(self, root: Profile) -> Person:
        """The root and every profile merged into it, transitively; their identifiers."""
        profiles = {root.profile_id: root}
        identifiers: dict[str, None] = dict.fromkeys(root.identifiers)
        pending = [root.profile_id]
        while pending:
            survivor = pending.pop()
            for ledger in self._people.merges_into(survivor):
                if ledger.status in (STATUS_MERGING, STATUS_UNMERGING):
                    raise Conflict("a merge involving this person is running", code="merge_in_progress")
                if ledger.status != STATUS_MERGED or ledger.loser in profiles:
                    continue
                loser = self._people.get(ledger.loser)
                if loser is None:
                    continue
                profiles[loser.profile_id] = loser
                identifiers.update(dict.fromkeys(ledger.identifiers))
                identifiers.update(dict.fromkeys(loser.identifiers))
                pending.append(loser.profile_id)
                if len(profiles) > MAX_PROFILES:
                    raise Conflict("too many merged profiles to erase at once", code="erase_too_large")
        for profile in profiles.values():
            if profile.merging_into or profile.merging_by or profile.pending_merges or profile.incoming_from:
                raise Conflict("a merge involving this person is running", code="merge_in_progress")
        return Person(root.profile_id, tuple(profiles), tuple(identifiers))

    # --- the workflow's steps ----------------------------------------------------------------
    def erase(self, erase_id: str, *, deadline: Callable[[], bool]) -> StepResult:
        return self._run(erase_id, self._stores, deadline)

    def erase_archive(self, erase_id: str, *, deadline: Callable[[], bool]) -> StepResult:
        return self._run(erase_id, self._archive, deadline)

    def _run(self, erase_id: str, stores: Sequence[ErasureStore], deadline: Callable[[], bool]) -> StepResult:
        record = self._require(erase_id)
        person = self._ledger.person(erase_id)
        if record.status != STATUS_RUNNING or person is None:
            return StepResult(erase_id, record.status, True, rounds=record.rounds)
        for store in stores:
            if store.name in record.done_stores:
                continue
            while True:
                removed, finished = store.erase(person, limit=CHUNK)
                if removed:
                    record.removed[store.name] = record.removed.get(store.name, 0) + removed
                if finished:
                    record.done_stores.append(store.name)
                if removed or finished:
                    self._ledger.save(record)  # resumable: a retry skips what is saved here
                if finished:
                    break
                if deadline():
                    return StepResult(erase_id, record.status, False, rounds=record.rounds)
        return StepResult(erase_id, record.status, True, rounds=record.rounds)

    def verify(self, erase_id: str) -> StepResult:
        """Ask every store what is left; clean means zero everywhere. Not clean: another round,
        up to MAX_ROUNDS, then the record says incomplete (and keeps what was found)."""
        record = self._require(erase_id)
        person = self._ledger.person(erase_id)
        if record.status != STATUS_RUNNING or person is None:
            return StepResult(erase_id, record.status, True, record.status == STATUS_ERASED, record.rounds)
        remaining = {store.name: store.remaining(person) for store in [*self._stores, *self._archive]}
        record.remaining = remaining
        record.verified_at = iso_from_ms(self._clock.now_ms())
        clean = not any(remaining.values())
        if not clean:
            if record.rounds >= MAX_ROUNDS:
                record.status = STATUS_INCOMPLETE
            else:
                record.rounds += 1
                record.done_stores = []
        self._ledger.save(record)
        return StepResult(erase_id, record.status, True, clean, record.rounds)

    def finish(self, erase_id: str) -> StepResult:
        """Close a verified erase: the record keeps the counts, the person is forgotten."""
        record = self._require(erase_id)
        if record.status == STATUS_RUNNING and record.remaining is not None and not any(record.remaining.values()):
            record.status = STATUS_ERASED
            record.finished_at = iso_from_ms(self._clock.now_ms())
            self._ledger.save(record)
        if record.status == STATUS_ERASED:
            self._ledger.forget_person(erase_id)
        return StepResult(erase_id, record.status, True, record.status == STATUS_ERASED, record.rounds)

    def _require(self, erase_id: str) -> EraseRecord:
        record = self._ledger.get(erase_id)
        if record is None:
            raise NotFound(f"erase {erase_id} not found", code="erase_not_found")
        return record
