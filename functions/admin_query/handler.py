"""Admin API, archive side (Bearer token): segment preview, profile search, reports and their
jobs, answered with DuckDB over the Parquet archive; sized for it (memory, /tmp, timeout).

Two kinds of invocation: API Gateway requests, and `{"query_job": <id>}` from this function
itself when a query runs as a job (cdp_api.routes.queries). The composition root: the adapters
are built here once per warm container."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from cdp.observability import logger
from cdp_api.app import AdminFunction
from cdp_api.context import AdminContext, serving
from cdp_api.routes import analytics as _analytics  # noqa: F401 (registers the report jobs' kinds)
from cdp_api.routes.groups import QUERY_ROUTES
from cdp_api.routes.queries import run_job


@functools.cache
def build() -> AdminContext:
    return AdminContext.from_env()


admin = AdminFunction(QUERY_ROUTES, build)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    job_id = event.get("query_job")
    if isinstance(job_id, str) and job_id:
        logger.append_keys(job_id=job_id)
        with serving(build):
            run_job(job_id)
        return None
    return admin(event, context)
