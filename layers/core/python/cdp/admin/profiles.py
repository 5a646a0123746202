"""Profile reads: lookup by identifier and the 360 view."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.admin.context import admin_context
from cdp.ingestion.channels import LineChannels
from cdp.profiles.views import find_profile_id, lookup_identifier, profile_view

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


@router.get("/admin/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    context = admin_context()
    return profile_view(context.store, profile_id, timeline_limit=context.settings.timeline_limit)
