"""Admin API (Bearer token): profile reads. Errors map to one JSON shape in one place."""

from __future__ import annotations

import functools
import hmac
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.secrets import CachedSecrets
from cdp.errors import CdpError, Unauthorized
from cdp.http import error_body
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.observability import logger
from cdp.profiles.views import find_profile_id, lookup_identifier, profile_view
from cdp.settings import AdminApiSettings

app = APIGatewayRestResolver()


@functools.cache
def build() -> tuple[AdminApiSettings, CachedSecrets, DynamoProfileStore, IdentifierNormalizer]:
    settings = AdminApiSettings.from_env()
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    store = DynamoProfileStore(client("dynamodb"), settings.core_table)
    return settings, secrets, store, IdentifierNormalizer(settings.default_phone_region)


def require_admin() -> None:
    settings, secrets, _, _ = build()
    scheme, _, token = (app.current_event.get_header_value("authorization") or "").partition(" ")
    expected = secrets.get_text(settings.admin_token_secret_id).strip()
    if scheme.lower() != "bearer" or not token or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("a valid admin Bearer token is required", code="invalid_admin_token")


@app.get("/admin/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    require_admin()
    settings, _, store, normalizer = build()
    identifier = lookup_identifier(
        normalizer,
        app.current_event.get_query_string_value("type"),
        app.current_event.get_query_string_value("value"),
        line_provider=settings.default_line_provider,
    )
    return profile_view(store, find_profile_id(store, identifier), timeline_limit=settings.timeline_limit)


@app.get("/admin/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    require_admin()
    settings, _, store, _ = build()
    return profile_view(store, profile_id, timeline_limit=settings.timeline_limit)


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
