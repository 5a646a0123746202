"""Journey lifecycle: drafts, publishing immutable versions, pause, resume, archive.

- A draft is validated whole on every save (cdp.journeys.validation) and edited with the
  `revision` read (409 `journey_changed` when another writer got there first).
- Publishing validates the draft again (a template may have gone since), pins the newest
  version of every template a send node names, deploys the version's state machine
  (`JourneyMachines.deploy`) under a version number it claimed first, then stores the version,
  the journey and the live listing in one transaction. Publishing a draft equal to the live
  version is a no-op (a retried publish makes no second version); a publish that loses a race
  answers 409 and retires the machine it deployed.
- Pause: no new entries (the journey leaves the live listing; a cohort schedule is removed),
  runs go on. Resume puts both back. Archive ends every run (`archived`) and is final; asking
  again repeats the idempotent cleanup.

The `JOURNEYS` / `LIVE` listing (`live_doc`) is what entry points and the event processor
cache: per live journey its version, entry and the events / segments it reacts to.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.errors import Conflict, NotFound
from cdp.journeys.definition import EventEntry, JourneyDefinition, ScheduledEntry, definition_schema
from cdp.journeys.model import ARCHIVED, DRAFT, PAUSED, PUBLISHED, Journey, JourneyStore, PublishedVersion
from cdp.journeys.ports import EntrySchedules, JourneyMachines, RunEnder
from cdp.journeys.runs import ARCHIVED as REASON_ARCHIVED
from cdp.journeys.validation import (
    TemplateLookup,
    check_document,
    listened_events,
    listened_segments,
    send_templates,
    validate,
)
from cdp.ports import Clock

JOURNEY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESERVED_IDS = frozenset({"schema"})  # GET /admin/v1/journeys/schema
Runtime = tuple[JourneyMachines, EntrySchedules, RunEnder]
CLAIMED_VERSION = "claimed_version"  # Journey.extra: the last version number a publish took


def valid_journey_id(value: Any) -> bool:
    return isinstance(value, str) and value not in RESERVED_IDS and JOURNEY_ID.fullmatch(value) is not None


def new_journey_id() -> str:
    return f"jny-{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class LiveChange:
    """The journey's line in the live listing: `entry` (`live_entry`) or None to take it out."""

    journey_id: str
    entry: dict[str, Any] | None


class JourneyAdminStore(JourneyStore, Protocol):
    """The journey store with the writes the lifecycle needs (cdp.adapters.dynamodb.journeys)."""

    def list(self) -> list[Journey]: ...

    def create(self, journey: Journey) -> bool:
        """False when the id is taken."""
        ...

    def replace(
        self,
        journey: Journey,
        *,
        expected_revision: int,
        version: PublishedVersion | None = None,
        live: LiveChange | None = None,
    ) -> bool:
        """Write the journey if its stored revision is still `expected_revision`, with (all or
        nothing) a new immutable `version` and a change to the live listing; False otherwise
        (stale, or the version number taken)."""
        ...

    def delete(self, journey_id: str, *, expected_revision: int) -> bool: ...

    def live_index(self) -> dict[str, Any]:
        """The live listing document (`live_doc`) with its `revision`."""
        ...


# --- the live listing --------------------------------------------------------------------------
def live_entry(version: PublishedVersion, *, paused: bool = False) -> dict[str, Any]:
    """One live journey's line in the listing. A paused journey keeps a line (`paused`): it
    starts no run, but its running ones still wait for, exit on and convert on their events."""
    definition = version.definition
    entry = definition.entry
    described: dict[str, Any]
    if isinstance(entry, EventEntry):
        described = {"type": "event", "event": entry.event}
    else:
        described = {"type": entry.type, "segment_id": entry.segment_id}
    line = {
        "version": version.version,
        "entry": described,
        "events": listened_events(definition, entries=not paused),
        "segments": listened_segments(definition),
    }
    if paused:
        line["paused"] = True
    return line


def live_doc(journeys: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The listing of the live journeys' lines, with the union of what they react to."""
    events = sorted({name for line in journeys.values() for name in line.get("events", [])})
    segments = sorted({name for line in journeys.values() for name in line.get("segments", [])})
    return {"journeys": {key: journeys[key] for key in sorted(journeys)}, "events": events, "segments": segments}


def changed_live_doc(current: Mapping[str, Any], change: LiveChange) -> dict[str, Any]:
    lines = dict(current.get("journeys", {}))
    if change.entry is None:
        lines.pop(change.journey_id, None)
    else:
        lines[change.journey_id] = change.entry
    return live_doc(lines)


# --- views -------------------------------------------------------------------------------------
def journey_view(journey: Journey, *, with_draft: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "journey_id": journey.journey_id,
        "name": journey.draft.get("name", ""),
        "status": journey.status,
        "live_version": journey.live_version,
        "versions": list(journey.versions),
        "revision": journey.revision,
        "created_at": journey.created_at,
        "updated_at": journey.updated_at,
    }
    for key in ("published_at", "paused_at", "archived_at"):
        if journey.extra.get(key):
            view[key] = journey.extra[key]
    if with_draft:
        view["draft"] = journey.draft
    return view


def _is_scheduled(definition: JourneyDefinition) -> bool:
    return isinstance(definition.entry, ScheduledEntry)


# --- the service -------------------------------------------------------------------------------
class JourneyService:
    def __init__(
        self,
        store: JourneyAdminStore,
        templates: TemplateLookup,
        clock: Clock,
        *,
        machines: JourneyMachines | None = None,
        schedules: EntrySchedules | None = None,
        runs: RunEnder | None = None,
        runtime: Callable[[], Runtime] | None = None,
    ) -> None:
        # The runtime's ports are needed only by publish / pause / resume / archive: given, or
        # built by `runtime` when one is first needed (a 404 or a 409 never builds them).
        self.store = store
        self.templates = templates
        self.clock = clock
        self._machines = machines
        self._schedules = schedules
        self._runs = runs
        self._runtime = runtime

    @staticmethod
    def schema() -> dict[str, Any]:
        return definition_schema()

    def _now(self) -> str:
        return iso_from_ms(self.clock.now_ms())

    def get(self, journey_id: str) -> Journey:
        journey = self.store.get(journey_id) if valid_journey_id(journey_id) else None
        if journey is None:
            raise NotFound(f"no journey {journey_id}", code="journey_not_found")
        return journey

    def list(self) -> list[Journey]:
        return self.store.list()

    def version(self, journey_id: str, number: int) -> PublishedVersion:
        self.get(journey_id)
        found = self.store.version(journey_id, number) if number >= 1 else None
        if found is None:
            raise NotFound(f"journey {journey_id} has no version {number}", code="journey_version_not_found")
        return found

    # drafts -------------------------------------------------------------------------------------
    def create(self, document: Any, journey_id: str | None = None) -> Journey:
        definition = check_document(document, self.templates)
        now = self._now()
        journey = Journey(
            journey_id=journey_id or new_journey_id(),
            status=DRAFT,
            draft=definition.document(),
            created_at=now,
            updated_at=now,
        )
        if not self.store.create(journey):
            raise Conflict(f"journey {journey.journey_id} exists", code="journey_exists", details={"field": "id"})
        return journey

    def update(self, journey_id: str, document: Any, revision: int) -> Journey:
        """Replace the draft (a published journey keeps running its live version meanwhile)."""
        journey = self.get(journey_id)
        _require(journey, DRAFT, PUBLISHED, PAUSED, action="edited")
        _require_revision(journey, revision)
        definition = check_document(document, self.templates)
        edited = replace(journey, draft=definition.document(), updated_at=self._now(), revision=journey.revision + 1)
        return self._save(edited, journey.revision)

    def delete(self, journey_id: str) -> None:
        """Only a draft never published: a published journey has runs and a history (archive it)."""
        journey = self.get(journey_id)
        if journey.status != DRAFT or journey.versions:
            raise _state_conflict(journey, [DRAFT], action="deleted (archive it)")
        if not self.store.delete(journey_id, expected_revision=journey.revision):
            raise _changed(journey_id)

    # lifecycle ----------------------------------------------------------------------------------
    def publish(self, journey_id: str) -> tuple[Journey, PublishedVersion]:
        journey = self.get(journey_id)
        _require(journey, DRAFT, PUBLISHED, PAUSED, action="published")
        definition = check_document(journey.draft, self.templates)
        current = self.store.version(journey_id, journey.live_version) if journey.live_version else None
        if current is not None and current.document == definition.document():
            if journey.status == PAUSED:
                return self.resume(journey_id), current  # nothing new to publish: back to live
            # A retried publish: nothing new. Make sure the cohort schedule is there.
            if _is_scheduled(definition):
                self._schedule_ports().put(current)
            return journey, current
        pinned = self._pin(definition)
        machines = self._machine_ports()
        # Claim the version number first (compare-and-set): no two attempts ever deploy a machine
        # under the same number, so the machine of a number is its version's. An attempt that
        # died after its claim leaves a gap in the numbers, never a machine running another draft.
        claimed = int(journey.extra.get(CLAIMED_VERSION) or 0)
        number = max(max(journey.versions, default=0), claimed) + 1
        claim = replace(journey, revision=journey.revision + 1, extra={**journey.extra, CLAIMED_VERSION: number})
        self._save(claim, journey.revision)
        now = self._now()
        version = PublishedVersion(
            journey_id=journey_id, version=number, document=definition.document(), templates=pinned, published_at=now
        )
        arn = machines.deploy(version)
        version = replace(version, state_machine_arn=arn)
        published = replace(
            claim,
            status=PUBLISHED,
            live_version=number,
            versions=(*journey.versions, number),
            updated_at=now,
            revision=claim.revision + 1,
            extra={**claim.extra, "published_at": now, "paused_at": None},
        )
        saved = self.store.replace(
            published,
            expected_revision=claim.revision,
            version=version,
            live=LiveChange(journey_id, live_entry(version)),
        )
        if not saved:
            machines.retire(arn)  # the journey changed meanwhile (an edit, an archive): the machine is ours alone
            raise _changed(journey_id)
        previous = current.definition if current is not None else None
        if _is_scheduled(definition):
            self._schedule_ports().put(version)
        elif previous is not None and _is_scheduled(previous):
            self._schedule_ports().remove(journey_id)
        return published, version

    def pause(self, journey_id: str) -> Journey:
        journey = self.get(journey_id)
        if journey.status == PAUSED:
            return journey
        _require(journey, PUBLISHED, action="paused")
        now = self._now()
        paused = replace(
            journey,
            status=PAUSED,
            updated_at=now,
            revision=journey.revision + 1,
            extra={**journey.extra, "paused_at": now},
        )
        live = LiveChange(journey_id, live_entry(self._live_version(journey), paused=True))
        saved = self._save(paused, journey.revision, live=live)
        if self._live_is_scheduled(journey):
            self._schedule_ports().remove(journey_id)
        return saved

    def resume(self, journey_id: str) -> Journey:
        journey = self.get(journey_id)
        if journey.status == PUBLISHED:
            return journey
        _require(journey, PAUSED, action="resumed")
        live = self._live_version(journey)
        resumed = replace(
            journey,
            status=PUBLISHED,
            updated_at=self._now(),
            revision=journey.revision + 1,
            extra={**journey.extra, "paused_at": None},
        )
        saved = self._save(resumed, journey.revision, live=LiveChange(journey_id, live_entry(live)))
        if _is_scheduled(live.definition):
            self._schedule_ports().put(live)
        return saved

    def archive(self, journey_id: str) -> tuple[Journey, int]:
        """Final: no entries, every run ends (`archived`); returns the journey and the runs ended.
        Archiving again repeats the cleanup (a crash half-way is finished by asking again)."""
        journey = self.get(journey_id)
        archived = journey
        if journey.status != ARCHIVED:
            now = self._now()
            archived = self._save(
                replace(
                    journey,
                    status=ARCHIVED,
                    updated_at=now,
                    revision=journey.revision + 1,
                    extra={**journey.extra, "archived_at": now},
                ),
                journey.revision,
                live=LiveChange(journey_id, None) if journey.versions else None,
            )
        if not journey.versions:
            return archived, 0  # never published: nothing ran
        if self._live_is_scheduled(journey):
            self._schedule_ports().remove(journey_id)
        return archived, self._run_ports().end_all(journey_id, REASON_ARCHIVED)

    # internals ----------------------------------------------------------------------------------
    def _pin(self, definition: JourneyDefinition) -> dict[str, int]:
        pinned: dict[str, int] = {}
        for template_id in send_templates(definition):
            template = self.templates.get(template_id)
            if template is None or template.status != "active":
                validate(definition, self.templates)  # changed since the check: answered as the check does
                raise NotFound(f"no template {template_id}", code="template_not_found")
            pinned[template_id] = template.latest_version
        return pinned

    def _live_version(self, journey: Journey) -> PublishedVersion:
        found = self.store.version(journey.journey_id, journey.live_version) if journey.live_version else None
        if found is None:
            raise Conflict(
                f"journey {journey.journey_id} has no published version to resume",
                code="invalid_journey_state",
                details={"status": journey.status, "allowed": [PAUSED]},
            )
        return found

    def _live_is_scheduled(self, journey: Journey) -> bool:
        found = self.store.version(journey.journey_id, journey.live_version) if journey.live_version else None
        return found is not None and _is_scheduled(found.definition)

    def _save(self, journey: Journey, expected_revision: int, *, live: LiveChange | None = None) -> Journey:
        if not self.store.replace(journey, expected_revision=expected_revision, live=live):
            raise _changed(journey.journey_id)
        return journey

    def _load_runtime(self) -> None:
        if self._runtime is not None:
            machines, schedules, runs = self._runtime()
            self._runtime = None
            self._machines = self._machines or machines
            self._schedules = self._schedules or schedules
            self._runs = self._runs or runs

    def _machine_ports(self) -> JourneyMachines:
        self._load_runtime()
        if self._machines is None:
            raise RuntimeError("publishing needs the JourneyMachines port")
        return self._machines

    def _schedule_ports(self) -> EntrySchedules:
        self._load_runtime()
        if self._schedules is None:
            raise RuntimeError("scheduled entries need the EntrySchedules port")
        return self._schedules

    def _run_ports(self) -> RunEnder:
        self._load_runtime()
        if self._runs is None:
            raise RuntimeError("archiving needs the RunEnder port")
        return self._runs


def _require(journey: Journey, *allowed: str, action: str) -> None:
    if journey.status not in allowed:
        raise _state_conflict(journey, list(allowed), action=action)


def _state_conflict(journey: Journey, allowed: list[str], *, action: str) -> Conflict:
    return Conflict(
        f"journey {journey.journey_id} is {journey.status}: it cannot be {action}",
        code="invalid_journey_state",
        details={"status": journey.status, "allowed": allowed},
    )


def _require_revision(journey: Journey, revision: int) -> None:
    if revision != journey.revision:
        raise Conflict(
            f"journey {journey.journey_id} is at revision {journey.revision}, not {revision}; read it again",
            code="journey_changed",
            details={"revision": journey.revision},
        )


def _changed(journey_id: str) -> Conflict:
    return Conflict(f"journey {journey_id} changed meanwhile; read it again", code="journey_changed")
