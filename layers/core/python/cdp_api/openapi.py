"""One OpenAPI document for both admin functions: their routers in one resolver, built only to
describe them (never to serve), then finished with the shared error answers."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from cdp.access.masking import PII_ROUTES

from cdp_api import docs
from cdp_api.app import PUBLIC_PATHS, ROLES_BY_ROUTE
from cdp_api.models import PresignedImport
from cdp_api.routes.groups import crud_routers, query_routers

TITLE = "CDP admin API"
VERSION = "1"
DESCRIPTION = (
    "Profiles, identity, segments, exports, links, LINE binding, imports (the admin_api function) and "
    "archive queries (the admin_query function). Every route but this document needs a Bearer "
    "credential (a service token, a user's ID token or the bootstrap admin token) whose role reaches "
    "the route's `x-required-role` (viewer < marketer < admin; 403 `forbidden` otherwise). Errors "
    "answer `{error, message, request_id, details?}`."
)


def admin_openapi() -> dict[str, Any]:
    resolver = APIGatewayRestResolver(enable_validation=True)
    for router in (*crud_routers(), *query_routers()):
        resolver.include_router(router)
    document: dict[str, Any] = resolver.get_openapi_schema(
        title=TITLE, version=VERSION, description=DESCRIPTION
    ).model_dump(mode="json", by_alias=True, exclude_none=True)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["PresignedImport"] = PresignedImport.model_json_schema(ref_template="#/components/schemas/{model}")
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            body = operation.pop("x-cdp-request-body", None)
            if body is not None:
                operation["requestBody"] = body
    _document_reveal(document)
    from cdp_api.responses import schemas as answers  # the success answers: only the document needs them

    return docs.finish(
        document,
        public_paths=PUBLIC_PATHS,
        answers=answers(),
        roles=lambda method, path: ROLES_BY_ROUTE.required(method, path, path),
    )


_PARAMETER = re.compile(r"\{[^}]*\}")
REVEAL_PARAMETER = {
    "name": "reveal",
    "in": "query",
    "required": False,
    "description": (
        "true: phones and emails unmasked (marketer or admin role; recorded in the audit log). "
        "Viewers always get them masked, and users of the other roles unless they ask."
    ),
    "schema": {"type": "boolean"},
}


def _document_reveal(document: dict[str, Any]) -> None:
    """The answers that carry phones and emails take `reveal` (cdp.access.masking, cdp_api.audit)."""
    masked = {_PARAMETER.sub("{}", route) for route in PII_ROUTES}
    for path, operations in document.get("paths", {}).items():
        if _PARAMETER.sub("{}", path) not in masked:
            continue
        for operation in operations.values():
            operation.setdefault("parameters", []).append(dict(REVEAL_PARAMETER))
