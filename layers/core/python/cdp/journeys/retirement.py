"""Retiring superseded versions: a published version's state machine is deleted once a newer
version (or the journey's archive) has superseded it for `GRACE` and no execution runs on it.

Step Functions deletes a machine with running executions too, ending them at their next state
transition, so a machine goes only when nothing runs on it. The grace leaves the entries queued
for the old version (seconds, in the starts queue) time to start; an entry arriving later for a
retired version starts nothing (the starter answers `not_live`). The versions retired are kept
on the journey (`extra.retired_versions`); their definitions stay, so reports and `GET
/versions/{n}` go on answering. The sweep runs daily and repeats safely: a machine already gone
counts as retired.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from cdp.journeys.model import ARCHIVED, Journey

if TYPE_CHECKING:
    from cdp.journeys.service import JourneyAdminStore

RETIRED_VERSIONS = "retired_versions"
GRACE = timedelta(days=1)


class RetiringMachines(Protocol):
    def running(self, state_machine_arn: str) -> bool:
        """Whether an execution of the machine is running (False when the machine is gone)."""
        ...

    def retire(self, state_machine_arn: str) -> None:
        """Delete the machine (done already = done)."""
        ...


def superseded_at(journey: Journey, number: int, published_at: dict[int, str]) -> str | None:
    """When version `number` stopped taking entries: the next version's publish, or the
    journey's archive; None for the version entries still start on."""
    later = [n for n in journey.versions if n > number and n in published_at]
    if later:
        return published_at[min(later)]
    if journey.status == ARCHIVED:
        return str(journey.extra.get("archived_at") or journey.updated_at)
    return None


def retire_superseded(
    store: JourneyAdminStore, machines: RetiringMachines, now: datetime, *, grace: timedelta = GRACE
) -> list[tuple[str, int]]:
    """Delete the machines of every version superseded for `grace` that nothing runs on; returns
    (journey, version) of each retired now."""
    retired_now: list[tuple[str, int]] = []
    for journey in store.list():
        done = set(journey.extra.get(RETIRED_VERSIONS) or ())
        versions = {n: store.version(journey.journey_id, n) for n in journey.versions if n not in done}
        published_at = {n: v.published_at for n, v in versions.items() if v is not None}
        newly: list[int] = []
        for number, version in sorted(versions.items()):
            since = superseded_at(journey, number, published_at)
            if version is None or since is None or _at(since) + grace > now:
                continue
            if version.state_machine_arn:
                if machines.running(version.state_machine_arn):
                    continue  # runs still on it: the next sweep looks again
                machines.retire(version.state_machine_arn)
            newly.append(number)
        if not newly:
            continue
        marked = replace(
            journey,
            revision=journey.revision + 1,
            extra={**journey.extra, RETIRED_VERSIONS: sorted(done | set(newly))},
        )
        # Changed meanwhile (an edit): the machines are gone all the same; the next sweep, finding
        # them gone, records them.
        if store.replace(marked, expected_revision=journey.revision):
            retired_now.extend((journey.journey_id, number) for number in newly)
    return retired_now


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
