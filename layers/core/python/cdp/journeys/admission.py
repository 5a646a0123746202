"""Admission: may this entry start a run (re-entry policy, concurrent runs), and as which occurrence?

Two records per journey and person (DynamoDB: `JENTRY#<journey>#<person>`, sort key `-` for the
person and the entry key for `per_key` entries; cdp.adapters.dynamodb.journey_runs):
- the person's record counts every admission, remembers the last one and the runs admitted and
  not known to have ended (`active`, pruned against the run records);
- the keyed record (per_key only) counts the admissions of one entry key.
Both remember the causes they admitted (`causes`: cause id -> occurrence), so an entry delivered
again (an SQS redelivery after a crash between admission and start) is admitted again as the
same occurrence, hence the same run id: started once, never lost. The store writes the records
with compare-and-set and asks `decide` again after a lost race.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cdp.journeys.definition import Reentry, parse_duration
from cdp.journeys.ports import EntryRequest
from cdp.journeys.runs import ACTIVE, NO_KEY

PERSON = NO_KEY  # the person's record's sort key
MAX_CAUSES = 20  # causes remembered per record: redeliveries come within minutes
# An admitted run whose record never appeared (its entry went to the dead-letter queue): after
# this long it no longer holds a concurrent-run slot.
UNWRITTEN_RUN_GRACE = timedelta(hours=1)

ADMITTED = "admitted"
READMITTED = "readmitted"  # the same cause again: the same occurrence
NEVER_AGAIN = "reentry_never"
STILL_RUNNING = "reentry_after_exit"
COOLING_DOWN = "reentry_cooldown"
KEY_SEEN = "reentry_per_key"
TOO_MANY_RUNS = "max_concurrent_runs"


@dataclass(frozen=True, slots=True)
class EntryRecord:
    """One admission record as read (`revision` 0: none stored yet)."""

    occurrences: int = 0
    causes: Mapping[str, int] = field(default_factory=dict)
    last_run_id: str | None = None
    last_entered_at: str | None = None
    active: Mapping[str, str] = field(default_factory=dict)  # run id -> admitted at (person record)
    revision: int = 0
    merged_from: frozenset[str] = frozenset()  # people whose records were merged into this one


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    reason: str
    occurrence: int = 0  # the run's occurrence (run_id_for) when admitted


def record_key(request: EntryRequest, reentry: Reentry) -> str:
    """The record whose occurrences name the run: the entry key's under per_key, else the person's."""
    if reentry.mode == "per_key":
        return request.entry_key or NO_KEY
    return PERSON


def decide(
    request: EntryRequest,
    reentry: Reentry,
    max_concurrent_runs: int,
    *,
    person: EntryRecord,
    keyed: EntryRecord | None,
    live_runs: set[str],
) -> Decision:
    """`keyed` is None unless per_key (and the key is not the person's record); `live_runs` are
    the person's admitted runs of this journey that have not ended."""
    counted = keyed if keyed is not None else person
    if request.cause_id in counted.causes:
        return Decision(True, READMITTED, counted.causes[request.cause_id])
    if reentry.mode == "never" and person.occurrences:
        return Decision(False, NEVER_AGAIN)
    if reentry.mode == "per_key" and counted.occurrences:
        return Decision(False, KEY_SEEN)
    if reentry.mode == "after_exit" and person.last_run_id is not None and person.last_run_id in live_runs:
        return Decision(False, STILL_RUNNING)
    if _cooling_down(request, reentry, person):
        return Decision(False, COOLING_DOWN)
    if len(live_runs) >= max_concurrent_runs:
        return Decision(False, TOO_MANY_RUNS)
    return Decision(True, ADMITTED, counted.occurrences + 1)


def live_runs(person: EntryRecord, statuses: Mapping[str, str | None], now: datetime) -> set[str]:
    """The person's admitted runs still holding a slot: `statuses` has each admitted run's status
    (None: no record yet). A run not written yet counts, unless admitted past the grace."""
    live = set()
    for run_id, admitted_at in person.active.items():
        status = statuses.get(run_id)
        if status == ACTIVE or (status is None and not stale(admitted_at, now)):
            live.add(run_id)
    return live


def remembered(causes: Mapping[str, int], cause_id: str, occurrence: int) -> dict[str, int]:
    """The causes map with one more, the newest MAX_CAUSES kept."""
    merged = {**causes, cause_id: occurrence}
    newest = sorted(merged.items(), key=lambda item: item[1], reverse=True)[:MAX_CAUSES]
    return dict(newest)


def merged(survivor: EntryRecord, merged_away: EntryRecord, merged_away_id: str) -> EntryRecord | None:
    """The survivor's record with the merged-away person's folded in (a merge makes one person of
    two: what either was admitted to counts for the survivor, so a keyed entry is not run twice);
    None when that person was folded in already."""
    if merged_away_id in survivor.merged_from:
        return None
    last = max(
        (survivor, merged_away), key=lambda record: (record.last_entered_at is not None, record.last_entered_at or "")
    )
    causes = dict(merged_away.causes) | dict(survivor.causes)
    return EntryRecord(
        occurrences=survivor.occurrences + merged_away.occurrences,
        causes=dict(sorted(causes.items(), key=lambda item: item[1], reverse=True)[:MAX_CAUSES]),
        last_run_id=last.last_run_id,
        last_entered_at=last.last_entered_at,
        active={**merged_away.active, **survivor.active},
        revision=survivor.revision + 1,
        merged_from=survivor.merged_from | {merged_away_id},
    )


def unmerged(
    survivor: EntryRecord, restored: EntryRecord, restored_id: str, returned_runs: Collection[str]
) -> EntryRecord | None:
    """The survivor's record with an unmerged person's history taken out again (the restored
    person's own record was never changed by the merge); None when it was not folded in, or was
    taken out already. Which of the two entered last before the merge is not kept: the survivor
    keeps the later `last_entered_at`, so a cooldown may hold from the restored person's entry."""
    if restored_id not in survivor.merged_from:
        return None
    return EntryRecord(
        occurrences=max(survivor.occurrences - restored.occurrences, 0),
        causes={cause: n for cause, n in survivor.causes.items() if restored.causes.get(cause) != n},
        last_run_id=survivor.last_run_id,
        last_entered_at=survivor.last_entered_at,
        active={
            run_id: at
            for run_id, at in survivor.active.items()
            if run_id not in restored.active and run_id not in returned_runs
        },
        revision=survivor.revision + 1,
        merged_from=survivor.merged_from - {restored_id},
    )


def _cooling_down(request: EntryRequest, reentry: Reentry, person: EntryRecord) -> bool:
    if reentry.mode != "cooldown" or person.last_entered_at is None or reentry.cooldown is None:
        return False
    return _at(request.entered_at) < _at(person.last_entered_at) + parse_duration(reentry.cooldown)


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def stale(admitted_at: str, now: datetime) -> bool:
    """An admitted run with no record after UNWRITTEN_RUN_GRACE no longer counts as running."""
    return now - _at(admitted_at) > UNWRITTEN_RUN_GRACE
