"""What campaigns need from the outside: their store, the sender's queue, the scheduler, LINE's
quota, the frequency counters (read only) and the runner's continuation. Adapters in
cdp.adapters; in-memory fakes in tests/fakes_campaigns.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cdp.campaigns.model import Campaign, Run


class CampaignStore(Protocol):
    def create(self, campaign: Campaign) -> bool:
        """False when the id is taken."""
        ...

    def get(self, campaign_id: str) -> Campaign | None: ...

    def list(self) -> list[Campaign]: ...

    def replace(self, campaign: Campaign, *, expected_version: int) -> bool:
        """Compare-and-set on the version read: False when another writer got there first."""
        ...

    def delete(self, campaign_id: str, *, expected_version: int) -> bool:
        """Remove the campaign and its runs; False (nothing removed) when its version moved on."""
        ...

    def get_run(self, campaign_id: str, run_id: str) -> Run | None: ...

    def start_run(self, run: Run) -> bool:
        """Create the run unless it exists (a redelivered firing starts nothing new)."""
        ...

    def replace_run(self, run: Run, *, expected_version: int) -> bool: ...

    def run_status(self, campaign_id: str, run_id: str) -> tuple[str | None, str | None]:
        """(the campaign's status, the run's status): what the sender checks before a send."""
        ...


class SendQueue(Protocol):
    def enqueue(self, batches: Sequence[list[dict[str, Any]]]) -> None:
        """Hand send-request batches to the message sender (one queue message per batch)."""
        ...


class CampaignSchedules(Protocol):
    def put(self, campaign: Campaign) -> str:
        """Create or update the campaign's schedule (idempotent per name); answers its name."""
        ...

    def delete(self, campaign_id: str) -> None: ...


class Continuation(Protocol):
    def continue_run(self, campaign_id: str, run_id: str) -> None:
        """Fan out the run's next pages in a fresh invocation."""
        ...


@dataclass(frozen=True, slots=True)
class LineQuota:
    """LINE's own figures for this month: `limit` None when LINE sets none (`type: none`)."""

    limit: int | None
    consumption: int


class QuotaSource(Protocol):
    def quota(self, line_channel: str) -> LineQuota | None:
        """None when LINE is not configured for that channel."""
        ...


class CapCounts(Protocol):
    def counts(self, wanted: Mapping[str, Sequence[str]]) -> Mapping[tuple[str, str], int]:
        """How many sends each frequency-cap counter holds now, for many people at once:
        {profile id: counter keys} -> {(profile id, key): count} (absent: 0)."""
        ...
