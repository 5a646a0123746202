"""Archive queries that may outlast a synchronous answer (API Gateway cuts requests at 29 s):
they run as jobs, stored with their result and polled by id.

A job is created `running`, then finished once with `done` and its result or `failed` and an
error; both stay readable until the item's TTL. Small archives still answer at once: the query
runs synchronously while the archive is at most the configured size (see `runs_async`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUS_RUNNING = "running"
STATUS_DONE = "done"
STATUS_FAILED = "failed"
REPORT_JOB_KINDS = (
    "report_overview",
    "report_trend",
    "report_funnel",
    "report_retention",
    "report_distribution",
    "report_friends",
    "report_messaging",
)  # cdp_api.routes.analytics
JOB_KINDS = (
    "segment_preview",
    "profile_search",
    "data_health",
    "customer_groups",
    "campaign_preflight",
    *REPORT_JOB_KINDS,
)
JOB_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class QueryJob:
    job_id: str
    kind: str
    request: dict[str, Any]
    status: str
    created_at: str
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = field(default=None)

    def view(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "error": self.error,
            "status_url": job_url(self.job_id),
        }


def job_url(job_id: str) -> str:
    return f"/admin/v1/jobs/{job_id}"


def runs_async(archive_bytes: int, *, sync_max_bytes: int, requested: bool) -> bool:
    """A job when the caller asks for one (`Prefer: respond-async`) or the archive is too big to
    answer within the gateway's limit."""
    return requested or archive_bytes > sync_max_bytes
