"""Profile reads: lookup by identifier and the 360 view."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.admin.context import admin_context
from cdp.profiles.views import find_profile_id, lookup_identifier, profile_view

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/profiles/lookup")
def lookup_profile() -> dict[str, Any]:
    context = admin_context()
    identifier = lookup_identifier(
        context.normalizer,
        router.current_event.get_query_string_value("type"),
        router.current_event.get_query_string_value("value"),
        line_provider=context.settings.default_line_provider,
    )
    return profile_view(
        context.store, find_profile_id(context.store, identifier), timeline_limit=context.settings.timeline_limit
    )


@router.get("/admin/v1/profiles/<profile_id>")
def get_profile(profile_id: str) -> dict[str, Any]:
    context = admin_context()
    return profile_view(context.store, profile_id, timeline_limit=context.settings.timeline_limit)
