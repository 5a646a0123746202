"""Profile reads: lookup by identifier and the 360 view."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.admin.context import AdminContext, admin_context, json_object_body
from cdp.clock import SystemClock
from cdp.identity.line_binding import NotConfigured
from cdp.ingestion.channels import LineChannels
from cdp.profiles.consent import consent_change_event, parse_consent_change
from cdp.profiles.tag_changes import tag_change_events
from cdp.profiles.tags import parse_tag_change
from cdp.profiles.views import current_profile, find_profile_id, lookup_identifier, profile_view

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    id_type = router.current_event.get_query_string_value("type")
    value = router.current_event.get_query_string_value("value")
    return _view(owner_of(id_type, value))


def owner_of(id_type: str | None, value: str | None) -> str:
    """The profile that holds the identifier (400 if unusable, 404 if nobody holds it)."""
    context = admin_context()
    providers = [context.settings.default_line_provider]
    if id_type == "line" and value and ":" not in value and context.settings.line_channels_secret_id:
        # A bare LINE user id: it can only be one provider's, so try each configured provider.
        providers += LineChannels(context.secrets, context.settings.line_channels_secret_id).providers()
    candidates = [
        lookup_identifier(context.normalizer, id_type, value, line_provider=provider)
        for provider in dict.fromkeys(providers)
    ]
    owner = next((found for found in map(context.store.owner, candidates) if found), None)
    return owner or find_profile_id(context.store, candidates[0])  # 404 names the first candidate


@router.post("/admin/v1/profiles/<profile_id>/consent")
def change_consent(profile_id: str) -> tuple[dict[str, Any], int]:
    """Opt in or out: recorded as an event on the person's timeline, applied by the processor."""
    context = admin_context()
    body = _change_body(context)
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
    (stored,) = _raw_events(context).store_once([event])
    return {
        "profileId": profile.profile_id,
        "eventId": event.event_id,
        "consent": {f"{channel}:{purpose}": granted},
        "duplicate": not stored,
    }, 202


@router.post("/admin/v1/profiles/<profile_id>/tags")
def change_tags(profile_id: str) -> tuple[dict[str, Any], int]:
    """{"add": [...], "remove": [...]}: each a "Tag Added" / "Tag Removed" event on the timeline."""
    context = admin_context()
    add, remove = parse_tag_change(_change_body(context))
    profile = current_profile(context.store, profile_id)
    events = tag_change_events(
        profile,
        add=add,
        remove=remove,
        now_ms=SystemClock().now_ms(),
        request_key=router.current_event.get_header_value("idempotency-key"),
    )
    stored = _raw_events(context).store_once(events)
    return {
        "profileId": profile.profile_id,
        "eventIds": [event.event_id for event in events],
        "add": add,
        "remove": remove,
        "duplicate": not any(stored),
    }, 202


def _change_body(context: AdminContext) -> dict[str, Any]:
    if not context.settings.raw_events_table:
        raise NotConfigured("the admin API has no raw events table configured")
    return json_object_body(router)


def _raw_events(context: AdminContext) -> DynamoRawEventStore:
    return DynamoRawEventStore(
        client("dynamodb"), context.settings.raw_events_table, context.settings.raw_event_ttl_days * 86400
    )


@router.get("/admin/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    return _view(profile_id)


def _view(profile_id: str) -> dict[str, Any]:
    """The 360 view, with the person's segments and where the rest of the timeline is."""
    context = admin_context()
    view = profile_view(context.store, profile_id, timeline_limit=context.settings.timeline_limit)
    segments = DynamoSegmentStore(client("dynamodb"), context.settings.core_table)
    view["segments"] = [
        {"segment_id": m.segment_id, "entered_at": m.entered_at, "rule_version": m.rule_version}
        for m in segments.memberships(view["profile_id"])
    ]
    view["timeline_url"] = f"/admin/v1/profiles/{view['profile_id']}/timeline"
    return view
