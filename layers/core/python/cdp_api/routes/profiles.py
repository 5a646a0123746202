"""Profile reads (lookup by identifier, the 360 view) and changes recorded as events (consent, tags)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cdp.clock import SystemClock
from cdp.profiles.consent import consent_change_event, consent_history, parse_consent_change, parse_text_version
from cdp.profiles.tag_changes import tag_change_events
from cdp.profiles.tags import parse_tag_change
from cdp.profiles.views import current_profile, find_profile_id, lookup_identifier, profile_view

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import ConsentChange, TagChange

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/profiles/lookup", responses={**ok(200, "The 360 view", "ProfileView"), **errors(404)})
def lookup_profile(
    type: Annotated[str | None, Query(description="identifier type: email, phone, line, member_id, ...")] = None,
    value: Annotated[str | None, Query(description="the identifier's value")] = None,
) -> dict[str, Any]:
    """The profile holding one identifier."""
    return _view(owner_of(type, value))


def owner_of(id_type: str | None, value: str | None) -> str:
    """The profile that holds the identifier (400 if unusable, 404 if nobody holds it)."""
    context = admin_context()
    providers = [context.settings.default_line_provider]
    if id_type == "line" and value and ":" not in value and context.settings.line_channels_secret_id:
        # A bare LINE user id: it can only be one provider's, so try each configured provider.
        providers += context.line_channels().providers()
    candidates = [
        lookup_identifier(context.normalizer, id_type, value, line_provider=provider)
        for provider in dict.fromkeys(providers)
    ]
    owner = next((found for found in map(context.store.owner, candidates) if found), None)
    return owner or find_profile_id(context.store, candidates[0])  # 404 names the first candidate


@router.post(
    "/admin/v1/profiles/<profile_id>/consent",
    status_code=202,
    responses={**ok(202, "Recorded as an event", "ConsentRecorded"), **errors(404)},
)
def change_consent(profile_id: str, change: Annotated[ConsentChange, Body()]) -> dict[str, Any]:
    """Opt in or out: recorded as an event on the person's timeline, applied by the processor;
    `textVersion` names the version of the consent text the person agreed to.
    An `Idempotency-Key` header makes a retried request the same event."""
    context = admin_context()
    raw_events = context.raw_events()
    fields = change.fields()
    channel, purpose, granted = parse_consent_change(fields)
    text_version = parse_text_version(fields)
    profile = current_profile(context.store, profile_id)
    event = consent_change_event(
        profile,
        channel=channel,
        purpose=purpose,
        granted=granted,
        now_ms=SystemClock().now_ms(),
        request_key=router.current_event.get_header_value("idempotency-key"),
        text_version=text_version,
    )
    (stored,) = raw_events.store_once([event])
    return {
        "profileId": profile.profile_id,
        "eventId": event.event_id,
        "consent": {f"{channel}:{purpose}": granted},
        "textVersion": text_version,
        "duplicate": not stored,
    }


@router.get(
    "/admin/v1/profiles/<profile_id>/consent",
    responses={**ok(200, "Every consent change, oldest first", "ConsentHistory"), **errors(404)},
)
def get_consent_history(profile_id: str) -> dict[str, Any]:
    """The person's consent history, read from their whole timeline: each change with its time,
    source, channel and purpose, and the version of the text agreed to; the last entry per key
    is the consent in force. A merged-away id answers for the person it was merged into."""
    context = admin_context()
    profile = current_profile(context.store, profile_id)
    entries = context.store.timeline(profile.profile_id)
    return {
        "profile_id": profile.profile_id,
        "requested_id": profile_id if profile_id != profile.profile_id else None,
        "history": consent_history(entry.document for entry in entries),
    }


@router.post(
    "/admin/v1/profiles/<profile_id>/tags",
    status_code=202,
    responses={**ok(202, "Recorded as events", "TagsRecorded"), **errors(404)},
)
def change_tags(profile_id: str, change: Annotated[TagChange, Body()]) -> dict[str, Any]:
    """{"add": [...], "remove": [...]}: each a "Tag Added" / "Tag Removed" event on the timeline."""
    context = admin_context()
    raw_events = context.raw_events()
    add, remove = parse_tag_change(change.fields())
    profile = current_profile(context.store, profile_id)
    events = tag_change_events(
        profile,
        add=add,
        remove=remove,
        now_ms=SystemClock().now_ms(),
        request_key=router.current_event.get_header_value("idempotency-key"),
    )
    stored = raw_events.store_once(events)
    return {
        "profileId": profile.profile_id,
        "eventIds": [event.event_id for event in events],
        "add": add,
        "remove": remove,
        "duplicate": not any(stored),
    }


@router.get("/admin/v1/profiles/<profile_id>", responses={**ok(200, "The 360 view", "ProfileView"), **errors(404)})
def get_profile(profile_id: str) -> dict[str, Any]:
    """The 360 view: identifiers, traits, consent, tags, segments and the latest events."""
    return _view(profile_id)


def _view(profile_id: str) -> dict[str, Any]:
    """The 360 view, with the person's segments and where the rest of the timeline is."""
    context = admin_context()
    view = profile_view(context.store, profile_id, timeline_limit=context.settings.timeline_limit)
    view["segments"] = [
        {"segment_id": m.segment_id, "entered_at": m.entered_at, "rule_version": m.rule_version}
        for m in context.segments().memberships(view["profile_id"])
    ]
    view["timeline_url"] = f"/admin/v1/profiles/{view['profile_id']}/timeline"
    return view
