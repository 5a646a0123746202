"""Admin API (Bearer token). Routes live in cdp.admin.* routers; errors map to one JSON shape here."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from cdp.admin import analytics, identity, ingest_rejections, line, links, profiles, segment_exports, segments, tags
from cdp.admin import imports as member_imports
from cdp.admin.context import admin_auth_middleware
from cdp.errors import CdpError
from cdp.http import error_body
from cdp.json_input import loads as strict_json
from cdp.observability import logger

# Every route's `json_body` goes through the one strict reader: NaN/Infinity, integers past 64
# bits, lone surrogates and deep nesting answer 400 with a code and the field's JSON pointer.
app = APIGatewayRestResolver(json_body_deserializer=strict_json)
app.use(middlewares=[admin_auth_middleware])
# Before profiles: its static /profiles/search must win over /profiles/<profile_id>.
app.include_router(analytics.router)
app.include_router(profiles.router)
app.include_router(member_imports.router)
app.include_router(identity.router)
app.include_router(line.router)
app.include_router(segments.router)
app.include_router(segment_exports.router)
app.include_router(tags.router)
app.include_router(links.router)
app.include_router(ingest_rejections.router)


@app.exception_handler(CdpError)
def handle_domain_error(error: CdpError) -> Response[str]:
    return Response(
        status_code=error.status, content_type=content_types.APPLICATION_JSON, body=json.dumps(error_body(error))
    )


@app.not_found
def handle_not_found(_error: Exception) -> Response[str]:
    body = {"error": "route_not_found", "message": f"no route {app.current_event.http_method} {app.current_event.path}"}
    return Response(status_code=404, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
