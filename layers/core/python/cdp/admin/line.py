"""LINE account link and LINE Login binding, server to server for the brand's site."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.link_nonces import DynamoLinkNonceStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.line_api import LineApiClient
from cdp.admin.context import admin_context
from cdp.clock import SystemClock
from cdp.errors import BadRequest
from cdp.http import raw_body
from cdp.identity.account_link import AccountLinks
from cdp.identity.line_binding import LineBinding, NotConfigured
from cdp.ingestion.channels import LineChannels
from cdp.json_input import loads as strict_json

MAX_BODY_BYTES = 16 * 1024  # an ID token is about 1 KB

router = Router()  # type: ignore[no-untyped-call]


@router.post("/admin/v1/line/link-token")
def issue_link_token() -> Response[str]:
    issued = line_binding().start_account_link(_json_object(router.current_event.raw_event))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=json.dumps(issued.as_dict()))


@router.post("/admin/v1/line/login")
def bind_line_login() -> dict[str, Any]:
    return line_binding().bind_login(_json_object(router.current_event.raw_event)).as_dict()


def line_binding() -> LineBinding:
    """Thin wrappers over the container's cached clients and secrets: cheap to build per request."""
    context = admin_context()
    settings = context.settings
    if not settings.line_channels_secret_id or not settings.raw_events_table:
        raise NotConfigured("the admin API has no LINE channels secret or raw events table configured")
    clock = SystemClock()
    return LineBinding(
        channels=LineChannels(context.secrets, settings.line_channels_secret_id),
        line_api=LineApiClient(settings.line_api_base_url),
        links=AccountLinks(
            DynamoLinkNonceStore(client("dynamodb"), settings.core_table), clock, settings.link_nonce_ttl_seconds
        ),
        raw_events=DynamoRawEventStore(
            client("dynamodb"), settings.raw_events_table, settings.raw_event_ttl_days * 86400
        ),
        normalizer=context.normalizer,
        clock=clock,
    )


def _json_object(event: dict[str, Any]) -> dict[str, Any]:
    body = raw_body(event, max_bytes=MAX_BODY_BYTES)
    document = strict_json(body)
    if not isinstance(document, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return document
