"""The retention job's and the admin API's port to where the policy and the runs are kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cdp.privacy.retention import RetentionPolicy
    from cdp.privacy.retention_job import RetentionRun


class RetentionStore(Protocol):
    def policy(self, *, raw_event_ttl_days: int) -> RetentionPolicy:
        """The stored policy (defaults when none was ever saved)."""
        ...

    def save_policy(self, policy: RetentionPolicy, *, expected_version: int) -> RetentionPolicy:
        """Compare-and-set: Conflict (409) when the stored version is not `expected_version`."""
        ...

    def save_run(self, run: RetentionRun) -> None: ...

    def recent_runs(self, limit: int) -> list[RetentionRun]:
        """Newest first."""
        ...
