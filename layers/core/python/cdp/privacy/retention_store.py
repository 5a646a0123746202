"""The retention job's and the admin API's port to where the policy and the runs are kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from cdp.errors import Conflict

if TYPE_CHECKING:
    from cdp.privacy.retention import RetentionPolicy
    from cdp.privacy.retention_job import RetentionRun


class RunTaken(Conflict):
    """The run was saved by another invocation since this one read it."""

    code = "retention_run_taken"


class RetentionStore(Protocol):
    def policy(self, *, raw_event_ttl_days: int) -> RetentionPolicy:
        """The stored policy (defaults when none was ever saved)."""
        ...

    def save_policy(self, policy: RetentionPolicy, *, expected_version: int) -> RetentionPolicy:
        """Compare-and-set: Conflict (409) when the stored version is not `expected_version`."""
        ...

    def save_run(self, run: RetentionRun, *, expected_revision: int) -> None:
        """Store the run if the stored one is at `expected_revision` (0: none yet), else RunTaken."""
        ...

    def get_run(self, run_id: str) -> RetentionRun | None: ...

    def recent_runs(self, limit: int) -> list[RetentionRun]:
        """Newest first."""
        ...
