"""The journey event consumer: what bus events and cohort firings do to journeys.

Per `event.received` (the processor publishes the events live journeys listen to, with their
properties): resume the person's runs waiting for it (SendTaskSuccess with `{"event": {...}}`; a
token that is gone removes its wait), end the runs an exit rule of their version names (the run is
finished first, so the step function answers `stop` at its next task, then its execution is
stopped and `journey.exited` is told), record a click on a journey's message (`Link Clicked` with
`journey_id` / `node_id`) and a conversion (the goal event within the window of entry, for the
same entry key when asked), and queue the entries it makes (event entry: name, `where`, key).
Per `segment.entered` / `segment.exited`: segment entries, and `left_segment` exit rules.
Per `profile.merged`: the merged-away person's runs and waits move to the survivor; of two active
runs of one journey and entry key, the merged-away one ends (reason `merged`).
Per `profile.unmerged`: the runs the restored person entered (`entered_as`), ended or not, and
their waits go back to them, and their admissions leave the survivor's records.
Per cohort firing (`{"cohort": {...}}`, from the journey's schedule): the segment's members,
a page at a time, into the queue. Per `{"end_runs": {...}}` (archive): every active run ends.

Everything here repeats safely (EventBridge and Lambda retry): finishing a run, recording a click
or a conversion happen once; the exit's bus event and timeline event have stable ids; queued
entries are admitted once per cause by the starter. A handled envelope id is remembered, so a
redelivery is skipped without reading anything else.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cdp.clock import iso_from_ms, ms_from_datetime
from cdp.domain_events import (
    EVENT_RECEIVED,
    PROFILE_MERGED,
    PROFILE_UNMERGED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
)
from cdp.errors import CdpError
from cdp.events.canonical import CanonicalEvent
from cdp.identity.identifiers import Identifier
from cdp.journeys.definition import (
    EventEntry,
    EventExitRule,
    JourneyDefinition,
    LeftSegmentExitRule,
    PropertyFilter,
    ScheduledEntry,
    SegmentEntry,
    parse_duration,
)
from cdp.journeys.model import PUBLISHED, JourneyStore, PublishedVersion
from cdp.journeys.ports import EntryQueue, EntryRequest, Wait, WaitStore
from cdp.journeys.runs import ACTIVE, EXIT_EVENT, EXITED, LEFT_SEGMENT, MERGED, NO_KEY, Run, RunStore
from cdp.journeys.starter import Executions
from cdp.journeys.steps import Happening
from cdp.ports import Clock, EventPublisher
from cdp.profiles.model import Profile

LINK_CLICKED = "Link Clicked"
STOP_ERROR = "JourneyExited"
COHORT_PAGE = 500  # members per page of a cohort
COHORT_PAGES_PER_INVOCATION = 40  # then the firing continues in a fresh invocation


class Marks(Protocol):
    """Bus events handled already (by envelope id)."""

    def seen(self, event_id: str) -> bool: ...

    def mark(self, event_id: str) -> None: ...


class Members(Protocol):
    """A segment's members a page at a time (cdp.adapters.dynamodb.segment_store)."""

    def members(self, segment_id: str, *, limit: int, after: str | None = None) -> tuple[list[Any], str | None]: ...


class Profiles(Protocol):
    def get(self, profile_id: str) -> Profile | None: ...

    def record_timeline(
        self, *, event: CanonicalEvent, profile: Profile, attached: Sequence[Identifier], applied_at: str
    ) -> None:
        """Write a timeline entry once (its key is the event's)."""
        ...


class AdmissionMerges(Protocol):
    def merge(self, journey_id: str, from_profile: str, to_profile: str) -> int:
        """Fold the merged-away person's admission records of the journey into the survivor's."""
        ...

    def unmerge(self, journey_id: str, survivor: str, restored: str, returned_runs: Collection[str]) -> int:
        """Take an unmerged person's records out of the survivor's again (cdp.journeys.admission.unmerged)."""
        ...


class Continuation(Protocol):
    def continue_cohort(self, cohort: dict[str, Any]) -> None:
        """Go on with a cohort firing's next pages in a fresh invocation."""
        ...

    def continue_ending(self, journey_id: str, reason: str) -> None:
        """Go on ending an archived journey's runs in a fresh invocation."""
        ...


# Matching ------------------------------------------------------------------------------------
_MISSING = object()


def property_value(properties: Mapping[str, Any], name: str) -> Any:
    """A property by its (dotted) name; `_MISSING` when absent."""
    value: Any = properties
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    numbers = (int, float)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        a, b = float(actual), float(expected)
    elif isinstance(actual, str) and isinstance(expected, str):
        a, b = actual, expected  # type: ignore[assignment]
    else:
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return math.isclose(float(actual), float(expected))
    return bool(actual == expected)


def filter_holds(rule: PropertyFilter, properties: Mapping[str, Any]) -> bool:
    actual = property_value(properties, rule.property)
    if rule.op == "exists":
        return actual is not _MISSING and actual is not None
    if actual is _MISSING:
        return rule.op == "neq"
    if rule.op == "eq":
        return _equal(actual, rule.value)
    if rule.op == "neq":
        return not _equal(actual, rule.value)
    if rule.op == "in":
        return any(_equal(actual, value) for value in rule.value or [])  # type: ignore[union-attr]
    return _compare(rule.op, actual, rule.value)


def matches(where: Iterable[PropertyFilter | Mapping[str, Any]], properties: Mapping[str, Any]) -> bool:
    """Every filter holds (documents are validated as PropertyFilter)."""
    return all(
        filter_holds(rule if isinstance(rule, PropertyFilter) else PropertyFilter.model_validate(rule), properties)
        for rule in where
    )


def key_text(value: Any) -> str | None:
    """An entry key's value as the run keeps it (text), or None when it cannot key a run."""
    if value is _MISSING or value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def correlated(definition: JourneyDefinition, run: Run, properties: Mapping[str, Any]) -> bool:
    """The event carries the run's entry key in the entry key's property."""
    entry = definition.entry
    if not isinstance(entry, EventEntry) or entry.key is None or run.entry_key == NO_KEY:
        return False
    return key_text(property_value(properties, entry.key)) == run.entry_key


def wait_correlation_holds(wait: Wait, properties: Mapping[str, Any]) -> bool:
    if wait.correlation is None:
        return True
    name, _, value = wait.correlation.partition("=")
    return key_text(property_value(properties, name)) == value


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


# Recording exits -----------------------------------------------------------------------------
class ExitRecorder:
    """`journey.exited` on the bus and `Journey Exited` on the person's timeline, in the same shape
    and under the same ids as an exit node's (cdp.journeys.steps.Happening): consumers and reports
    see one kind of exit, and a repeat is the same event."""

    def __init__(self, publisher: EventPublisher, profiles: Profiles) -> None:
        self._publisher = publisher
        self._profiles = profiles

    def exited(self, run: Run, reason: str, at: str) -> None:
        happening = Happening("exited", run, ms_from_datetime(_at(at)), node=run.node, reason=reason)
        profile = self._profiles.get(run.profile_id)
        if profile is not None and profile.identifiers:
            with contextlib.suppress(CdpError):  # no usable identifier: no timeline to write to
                # Straight onto the timeline, like the exit node's (a run's progress changes nothing
                # on the profile: no pass through the event pipeline).
                entry = happening.timeline_entry(profile)
                self._profiles.record_timeline(event=entry, profile=profile, attached=(), applied_at=entry.timestamp)
        self._publisher.publish([happening.domain_event(at)])


# The consumer --------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one input did (the handler's log line)."""

    resumed: int = 0
    exited: int = 0
    clicks: int = 0
    conversions: int = 0
    entries: int = 0
    moved_runs: int = 0
    skipped: str | None = None
    continued: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value}


class JourneyFlow:
    def __init__(
        self,
        *,
        journeys: JourneyStore,
        live: Callable[[], list[PublishedVersion]],
        runs: RunStore,
        waits: WaitStore,
        executions: Executions,
        queue: EntryQueue,
        marks: Marks,
        members: Members,
        exits: ExitRecorder,
        clock: Clock,
        continuation: Continuation | None = None,
        listened: Callable[[], frozenset[str]] | None = None,
        admissions: AdmissionMerges | None = None,
    ) -> None:
        self._journeys = journeys
        self._live = live  # cached by the caller (a few seconds)
        self._runs = runs
        self._waits = waits
        self._executions = executions
        self._queue = queue
        self._marks = marks
        self._members = members
        self._exits = exits
        self._clock = clock
        self._continuation = continuation
        # The events live journeys listen to (the live listing, cached); None: every event is read.
        self._listened = listened
        self._admissions = admissions
        # Published versions are immutable: kept, parsed, while the container is warm.
        self._versions: dict[tuple[str, int], PublishedVersion | None] = {}
        self._definitions: dict[tuple[str, int], JourneyDefinition] = {}

    # Bus events ------------------------------------------------------------------------------
    def on_bus_event(self, detail_type: str, envelope: Mapping[str, Any]) -> Outcome:
        envelope_id = str(envelope.get("id") or "")
        data = envelope.get("data")
        if not envelope_id or not isinstance(data, Mapping):
            return Outcome(skipped="malformed")
        if detail_type == EVENT_RECEIVED and self._listened is not None and data.get("event") not in self._listened():
            # Most events concern no journey (a deployment may publish every event): no reads.
            # The same listing decides what the processor publishes, so nothing is lost here.
            return Outcome(skipped="not_listened")
        if self._marks.seen(envelope_id):
            return Outcome(skipped="duplicate")
        if detail_type == EVENT_RECEIVED:
            outcome = self.on_event(data)
        elif detail_type in (SEGMENT_ENTERED, SEGMENT_EXITED):
            outcome = self.on_segment(detail_type, data, envelope_id)
        elif detail_type == PROFILE_MERGED:
            outcome = self.on_merged(str(data.get("profileId") or ""), str(data.get("mergedProfileId") or ""))
        elif detail_type == PROFILE_UNMERGED:
            outcome = self.on_unmerged(str(data.get("profileId") or ""), str(data.get("restoredProfileId") or ""))
        else:
            return Outcome(skipped="not_for_journeys")
        self._marks.mark(envelope_id)
        return outcome

    def on_event(self, data: Mapping[str, Any]) -> Outcome:
        outcome = Outcome()
        profile_id, name = data.get("profileId"), data.get("event")
        if not isinstance(profile_id, str) or not profile_id or not isinstance(name, str) or not name:
            outcome.skipped = "no_person_or_name"
            return outcome
        properties = data.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        at = str(data.get("timestamp") or self._now())
        event = {"name": name, "properties": dict(properties), "timestamp": at, "eventId": data.get("eventId")}
        runs = self._runs.recent_for(profile_id)
        for run in runs:
            definition = self._definition(run)
            if definition is None:
                continue
            if self._exit_rule_hit(definition, run, name, properties, at) and self._end(run, EXIT_EVENT, at):
                outcome.exited += 1
            if self._converts(definition, run, name, properties, at) and self._runs.record_conversion(
                run.run_id, at, _value(definition, properties)
            ):
                outcome.conversions += 1
        # After the exit rules: a run this event ended is not resumed (its wait was removed).
        outcome.resumed = self._resume(profile_id, name, properties, event)
        if name == LINK_CLICKED:
            outcome.clicks = self._click(runs, properties, at)
        entries = [
            request
            for version in self._live()
            if (request := self._event_entry(version, profile_id, name, properties, at, data)) is not None
        ]
        if entries:
            self._queue.enqueue(entries)
            outcome.entries = len(entries)
        return outcome

    def on_segment(self, detail_type: str, data: Mapping[str, Any], envelope_id: str) -> Outcome:
        outcome = Outcome()
        profile_id, segment_id = data.get("profileId"), data.get("segmentId")
        if not isinstance(profile_id, str) or not isinstance(segment_id, str):
            outcome.skipped = "no_person_or_segment"
            return outcome
        at = str(data.get("at") or self._now())
        if detail_type == SEGMENT_EXITED:
            for run in self._runs.active_for(profile_id):
                definition = self._definition(run)
                if definition is not None and segment_id in _left_segments(definition):
                    outcome.exited += int(self._end(run, LEFT_SEGMENT, at))
            return outcome
        entries = [
            EntryRequest(
                journey_id=version.journey_id,
                version=version.version,
                profile_id=profile_id,
                entry_key=None,
                cause_id=f"segment:{envelope_id}",
                entered_at=at,
                entry={"segment_id": segment_id},
            )
            for version in self._live()
            if isinstance(entry := self._parsed(version).entry, SegmentEntry) and entry.segment_id == segment_id
        ]
        if entries:
            self._queue.enqueue(entries)
            outcome.entries = len(entries)
        return outcome

    def on_merged(self, survivor: str, merged_away: str) -> Outcome:
        outcome = Outcome()
        if not survivor or not merged_away or survivor == merged_away:
            outcome.skipped = "no_merge"
            return outcome
        moved_runs = self._runs.reassign(merged_away, survivor)
        moved = {run.run_id for run in moved_runs}
        self._waits.reassign(merged_away, survivor)
        outcome.moved_runs = len(moved)
        if self._admissions is not None:
            # What the merged-away person was admitted to counts for the survivor: a later entry
            # with the same key is refused, the concurrent-run cap counts the moved runs.
            for journey_id in sorted({run.journey_id for run in moved_runs}):
                self._admissions.merge(journey_id, merged_away, survivor)
        by_entry: dict[tuple[str, str], list[Run]] = defaultdict(list)
        for run in self._runs.active_for(survivor):
            by_entry[(run.journey_id, run.entry_key)].append(run)
        at = self._now()
        for same in by_entry.values():
            if len(same) < 2:
                continue
            # The survivor's own run goes on; of runs that all came from the merge, the oldest.
            kept = min(same, key=lambda run: (run.run_id in moved, run.entered_at, run.run_id))
            for run in same:
                if run is not kept and run.run_id in moved:
                    outcome.exited += int(self._end(run, MERGED, at))
        return outcome

    def on_unmerged(self, survivor: str, restored: str) -> Outcome:
        outcome = Outcome()
        if not survivor or not restored or survivor == restored:
            outcome.skipped = "no_unmerge"
            return outcome
        theirs = [run for run in self._runs.recent_for(survivor) if run.entered_as == restored]
        returned = {run.run_id for run in theirs}
        if returned:
            self._runs.reassign(survivor, restored, returned)
            self._waits.reassign(survivor, restored, returned)
        outcome.moved_runs = len(returned)
        if self._admissions is not None:
            # Every admission started a run, so their runs name every journey whose records the
            # merge folded into the survivor's.
            for journey_id in sorted({run.journey_id for run in theirs}):
                self._admissions.unmerge(journey_id, survivor, restored, returned)
        return outcome

    # Cohorts and archive -------------------------------------------------------------------
    def on_cohort(self, journey_id: str, version_number: int, scheduled_time: str | None, after: str | None) -> Outcome:
        outcome = Outcome()
        journey = self._journeys.get(journey_id)
        if journey is None or journey.status != PUBLISHED or journey.live_version is None:
            outcome.skipped = "not_live"
            return outcome
        # A schedule outliving a republish fires the live version.
        version = self._journeys.version(journey_id, journey.live_version)
        entry = self._parsed(version).entry if version is not None else None
        if version is None or not isinstance(entry, ScheduledEntry):
            outcome.skipped = "not_a_cohort"
            return outcome
        firing = scheduled_time or f"v{version_number}"
        at = scheduled_time or self._now()
        for _page in range(COHORT_PAGES_PER_INVOCATION):
            members, after = self._members.members(entry.segment_id, limit=COHORT_PAGE, after=after)
            requests = [
                EntryRequest(
                    journey_id=journey_id,
                    version=version.version,
                    profile_id=member.profile_id,
                    entry_key=None,
                    cause_id=f"cohort:{journey_id}:{firing}",
                    entered_at=at,
                    entry={"segment_id": entry.segment_id, "scheduled_time": scheduled_time},
                )
                for member in members
            ]
            if requests:
                self._queue.enqueue(requests)
                outcome.entries += len(requests)
            if after is None:
                return outcome
        if self._continuation is None:
            raise RuntimeError("a cohort larger than one invocation needs a continuation")
        self._continuation.continue_cohort(
            {"journey_id": journey_id, "version": version_number, "scheduled_time": scheduled_time, "after": after}
        )
        outcome.continued = True
        return outcome

    def end_all(self, journey_id: str, reason: str) -> int:
        """cdp.journeys.ports.RunEnder: every active run of the journey ends with `reason`."""
        return self.end_runs(journey_id, reason)[0]

    def end_person(self, profile_id: str, reason: str) -> int:
        """Every active run of the person ends with `reason` (an erase: `erased`); how many did."""
        at = self._now()
        return sum(int(self._end(run, reason, at)) for run in self._runs.active_for(profile_id))

    def end_runs(self, journey_id: str, reason: str, more_time: Callable[[], bool] = lambda: True) -> tuple[int, bool]:
        """End the journey's active runs while `more_time()`; (how many ended, whether all did).
        When time runs out the rest continue in a fresh invocation (runs ended already are skipped)."""
        at, ended = self._now(), 0
        for run in self._runs.of_journey(journey_id):
            if run.status != ACTIVE:
                continue
            if not more_time():
                if self._continuation is None:
                    raise RuntimeError("ending more runs than one invocation can needs a continuation")
                self._continuation.continue_ending(journey_id, reason)
                return ended, False
            ended += int(self._end(run, reason, at))
        return ended, True

    # Parts ---------------------------------------------------------------------------------
    def _resume(self, profile_id: str, name: str, properties: Mapping[str, Any], event: dict[str, Any]) -> int:
        resumed = 0
        for wait in self._waits.waiting_for(profile_id, name):
            if not wait_correlation_holds(wait, properties) or not matches(wait.where, properties):
                continue
            if self._executions.resume(wait.task_token, {"event": event}):
                resumed += 1
            self._waits.remove(wait)  # resumed, or its task is gone (timed out, stopped)
        return resumed

    def _exit_rule_hit(
        self, definition: JourneyDefinition, run: Run, name: str, properties: Mapping[str, Any], at: str
    ) -> bool:
        ended_by_this = run.status == EXITED and run.exit_reason == EXIT_EVENT and run.exited_at == at
        if run.status != ACTIVE and not ended_by_this:  # (ended by this event: a retry finishes telling it)
            return False
        return any(
            isinstance(rule, EventExitRule)
            and rule.event == name
            and matches(rule.where, properties)
            and (not rule.correlate or correlated(definition, run, properties))
            for rule in definition.exit_rules
        )

    def _converts(
        self, definition: JourneyDefinition, run: Run, name: str, properties: Mapping[str, Any], at: str
    ) -> bool:
        goal = definition.goal
        if goal is None or goal.event != name or run.converted_at is not None:
            return False
        if not _at(run.entered_at) <= _at(at) <= _at(run.entered_at) + parse_duration(goal.within):
            return False
        return matches(goal.where, properties) and (not goal.correlate or correlated(definition, run, properties))

    def _click(self, runs: Sequence[Run], properties: Mapping[str, Any], at: str) -> int:
        journey_id, node = properties.get("journey_id"), properties.get("node_id")
        if not isinstance(journey_id, str) or not isinstance(node, str):
            return 0
        mine = [run for run in runs if run.journey_id == journey_id]  # newest first
        run = next((run for run in mine if node in run.sent), None)
        if run is None:
            return 0
        return int(self._runs.record_click(run.run_id, node, at))

    def _event_entry(
        self,
        version: PublishedVersion,
        profile_id: str,
        name: str,
        properties: Mapping[str, Any],
        at: str,
        data: Mapping[str, Any],
    ) -> EntryRequest | None:
        entry = self._parsed(version).entry
        if not isinstance(entry, EventEntry) or entry.event != name or not matches(entry.where, properties):
            return None
        key = None
        if entry.key is not None:
            key = key_text(property_value(properties, entry.key))
            if key is None:
                return None  # a keyed entry without its key cannot be told apart from the next
        return EntryRequest(
            journey_id=version.journey_id,
            version=version.version,
            profile_id=profile_id,
            entry_key=key,
            cause_id=str(data.get("eventId") or f"{profile_id}:{name}:{at}"),
            entered_at=at,
            entry={"event": name, "properties": dict(properties)},
        )

    def _end(self, run: Run, reason: str, at: str) -> bool:
        """Finish the run (once), stop its execution, remove its wait, tell its exit. A retry after a
        crash past the finish finds the run ended for this reason at this time, and completes the rest
        (stopping and telling again are no-ops: stable ids). True when this call ended it."""
        finished = self._runs.finish(run.run_id, reason, at)
        if not finished:
            now = self._runs.get(run.run_id)
            if now is None or now.status != EXITED or now.exit_reason != reason or now.exited_at != at:
                return False
        arn = run.execution_arn or self._execution_arn(run)
        if arn:
            self._executions.stop(arn, error=STOP_ERROR, cause=reason)
        waiting_for = (run.waiting or {}).get("event")
        if isinstance(waiting_for, str):
            for wait in self._waits.waiting_for(run.profile_id, waiting_for):
                if wait.run_id == run.run_id:
                    self._waits.remove(wait)
        self._exits.exited(run, reason, at)
        return finished  # counted once, by the call that ended it

    def _execution_arn(self, run: Run) -> str | None:
        version = self._version(run.journey_id, run.version)
        if version is None or not version.state_machine_arn:
            return None
        return version.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + run.run_id

    def _version(self, journey_id: str, number: int) -> PublishedVersion | None:
        key = (journey_id, number)
        if key not in self._versions:
            self._versions[key] = self._journeys.version(journey_id, number)
        return self._versions[key]

    def _definition(self, run: Run) -> JourneyDefinition | None:
        version = self._version(run.journey_id, run.version)
        return self._parsed(version) if version is not None else None

    def _parsed(self, version: PublishedVersion) -> JourneyDefinition:
        key = (version.journey_id, version.version)
        if key not in self._definitions:
            self._definitions[key] = version.definition
        return self._definitions[key]

    def _now(self) -> str:
        return iso_from_ms(self._clock.now_ms())


def _left_segments(definition: JourneyDefinition) -> set[str]:
    entry = definition.entry
    entry_segment = entry.segment_id if isinstance(entry, SegmentEntry | ScheduledEntry) else None
    found = set()
    for rule in definition.exit_rules:
        if isinstance(rule, LeftSegmentExitRule):
            segment = rule.segment_id or entry_segment
            if segment:
                found.add(segment)
    return found


def _value(definition: JourneyDefinition, properties: Mapping[str, Any]) -> float | None:
    goal = definition.goal
    if goal is None or goal.value_property is None:
        return None
    value = property_value(properties, goal.value_property)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        return None
    return float(value)
