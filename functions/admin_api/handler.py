"""Admin API, CRUD side (Bearer token): profiles, identity, segments, exports, links, LINE
binding, imports, campaigns, and the OpenAPI document. Archive queries are the admin_query
function's. Besides API Gateway requests it takes `{"campaign_preflight": ...}`, a preflight job's
step, and `{"profile_export": <job id>}`, a person export's run, from itself
(cdp.campaigns.preflight_jobs, cdp.privacy.export_jobs).

The composition root: the adapters are built here once per warm container."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from cdp.observability import logger
from cdp_api.app import AdminFunction
from cdp_api.context import AdminContext, serving
from cdp_api.routes.groups import CRUD_ROUTES


@functools.cache
def build() -> AdminContext:
    return AdminContext.from_env()


admin = AdminFunction(CRUD_ROUTES, build)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any] | None:
    if isinstance(event, dict) and "campaign_preflight" in event:  # a preflight job's step, from itself
        from cdp_api.routes.campaigns import run_preflight_step

        with serving(build, str(getattr(context, "invoked_function_arn", "") or "")):
            outcome = run_preflight_step(event["campaign_preflight"])
        logger.info("campaign preflight step", extra={"outcome": outcome})
        return None
    if isinstance(event, dict) and "profile_export" in event:  # a person export's run, from itself
        logger.append_keys(job_id=str(event["profile_export"]))
        with serving(build, str(getattr(context, "invoked_function_arn", "") or "")):
            outcome = build().person_exports().run(str(event["profile_export"]))
        logger.info("person export run", extra={"outcome": outcome})
        return None
    return admin(event, context)
