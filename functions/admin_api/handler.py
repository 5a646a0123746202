"""Admin API, CRUD side (Bearer token): profiles, identity, segments, exports, links, LINE
binding, imports, and the OpenAPI document. Archive queries are the admin_query function's.

The composition root: the adapters are built here once per warm container."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from cdp.observability import logger
from cdp_api.app import AdminFunction
from cdp_api.context import AdminContext
from cdp_api.routes.groups import CRUD_ROUTES


@functools.cache
def build() -> AdminContext:
    return AdminContext.from_env()


admin = AdminFunction(CRUD_ROUTES, build)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return admin(event, context)
