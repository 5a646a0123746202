"""Which routers each admin function serves (matching infra/cdp_infra/routes.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp_api.routes import (
    campaigns,
    docs,
    identity,
    imports,
    ingest_rejections,
    line,
    links,
    profiles,
    segment_exports,
    segments,
    tags,
    templates,
)

# Static paths first: /profiles/lookup must win over /profiles/<profile_id>.
CRUD_ROUTERS: tuple[Router, ...] = (
    docs.router,
    profiles.router,
    imports.router,
    identity.router,
    line.router,
    segments.router,
    segment_exports.router,
    tags.router,
    links.router,
    ingest_rejections.router,
    templates.router,
    campaigns.router,
)


def query_routers() -> tuple[Router, ...]:
    """The archive queries (imported on demand: the CRUD function describes them, never serves them)."""
    from cdp_api.routes import campaign_reports, queries

    return (queries.router, campaign_reports.router)
