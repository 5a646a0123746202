"""A campaign's report, from the timeline in the archive (cdp.campaigns.report, DuckDB): served by
the query function, like the other archive reports."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from cdp.adapters.aws import client
from cdp.adapters.campaigns import LineQuotaSource
from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore, DynamoPricing
from cdp.campaigns.model import valid_campaign_id
from cdp.campaigns.report import ATTRIBUTION_DAYS, campaign_report
from cdp.errors import NotFound

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.routes.queries import _now, _open

router = Router()  # type: ignore[no-untyped-call]

RunQuery = Annotated[str, coded("invalid_run", "`run` is one of the campaign's run ids")]
WindowQuery = Annotated[int, coded("invalid_window", "`attribution_days` is 1 to 90")]


@router.get(
    "/admin/v1/campaigns/<campaign_id>/report",
    responses={**ok(200, "The campaign's figures from the archive", "CampaignReport"), **errors(404)},
)
def campaign_report_route(
    campaign_id: str,
    run: Annotated[RunQuery | None, Query(description="one run of a recurring campaign; all runs if absent")] = None,
    attribution_days: Annotated[WindowQuery, Query(ge=1, le=90, description="conversion window")] = ATTRIBUTION_DAYS,
) -> dict[str, Any]:
    """Targeted, suppressed by reason, sent per channel, failed by reason, email delivered and
    bounced, clicks, unique clicks and CTR, conversions (`Order Completed` within the window) and
    revenue, block rate (LINE unfollows within 48 h), LINE messages and their cost."""
    context = admin_context()
    store = DynamoCampaignStore(client("dynamodb"), context.settings.core_table)
    campaign = store.get(campaign_id) if valid_campaign_id(campaign_id) else None
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id}", code="campaign_not_found")
    if run is not None and run not in campaign.runs:
        raise NotFound(f"campaign {campaign_id} has no run {run}", code="campaign_run_not_found")
    now = _now()
    db, as_of = _open(None, now)
    try:
        report = campaign_report(db, campaign_id, run_id=run, attribution_days=attribution_days)
    finally:
        db.close()
    pricing = DynamoPricing(client("dynamodb"), context.settings.core_table).read()[0]
    channels = context.line_channels() if context.settings.line_channels_secret_id else None
    quota = (
        LineQuotaSource(channels, context.line_api()).quota(campaign.line_channel)
        if "line" in campaign.channels
        else None
    )
    messages = report["line"]["messages"]
    # The cost of this campaign's messages on top of what the month had consumed before them.
    before = max(0, (quota.consumption if quota else messages) - messages)
    report["cost"] = pricing.estimate(
        line_messages=messages,
        consumption=before,
        emails=report["sent"].get("email", 0),
        sms_segments=report["sms_segments"],
    )
    return {**report, "status": campaign.status, "runs": list(campaign.runs), "archive_as_of": as_of}
