"""Profile reads: lookup by identifier and the 360 view."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.admin.context import admin_context
from cdp.clock import SystemClock
from cdp.errors import BadRequest
from cdp.identity.line_binding import NotConfigured
from cdp.ingestion.channels import LineChannels
from cdp.profiles.consent import consent_change_event, parse_consent_change
from cdp.profiles.views import current_profile, find_profile_id, lookup_identifier, profile_view

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    context = admin_context()
    id_type = router.current_event.get_query_string_value("type")
    value = router.current_event.get_query_string_value("value")
    providers = [context.settings.default_line_provider]
    if id_type == "line" and value and ":" not in value and context.settings.line_channels_secret_id:
        # A bare LINE user id: it can only be one provider's, so try each configured provider.
        providers += LineChannels(context.secrets, context.settings.line_channels_secret_id).providers()
    candidates = [
        lookup_identifier(context.normalizer, id_type, value, line_provider=provider)
        for provider in dict.fromkeys(providers)
    ]
    owner = next((found for found in map(context.store.owner, candidates) if found), None)
    profile_id = owner or find_profile_id(context.store, candidates[0])  # 404 names the first candidate
    return profile_view(context.store, profile_id, timeline_limit=context.settings.timeline_limit)


@router.post("/admin/v1/profiles/<profile_id>/consent")
def change_consent(profile_id: str) -> tuple[dict[str, Any], int]:
    """Opt in or out: recorded as an event on the person's timeline, applied by the processor."""
    context = admin_context()
    if not context.settings.raw_events_table:
        raise NotConfigured("the admin API has no raw events table configured")
    try:
        body = router.current_event.json_body if router.current_event.body else None
    except ValueError as exc:
        raise BadRequest("the body must be JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    channel, purpose, granted = parse_consent_change(body)
    profile = current_profile(context.store, profile_id)
    event = consent_change_event(
        profile,
        channel=channel,
        purpose=purpose,
        granted=granted,
        now_ms=SystemClock().now_ms(),
        request_key=router.current_event.get_header_value("idempotency-key"),
    )
    raw_events = DynamoRawEventStore(
        client("dynamodb"), context.settings.raw_events_table, context.settings.raw_event_ttl_days * 86400
    )
    (stored,) = raw_events.store_once([event])
    return {
        "profileId": profile.profile_id,
        "eventId": event.event_id,
        "consent": {f"{channel}:{purpose}": granted},
        "duplicate": not stored,
    }, 202


@router.get("/admin/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    context = admin_context()
    return profile_view(context.store, profile_id, timeline_limit=context.settings.timeline_limit)
