"""Which routers each admin function serves (matching infra/cdp_infra/routes.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp_api.routes import (
    auto_replies,
    docs,
    identity,
    imports,
    ingest_rejections,
    line,
    links,
    messaging,
    profiles,
    rich_menus,
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
    rich_menus.router,
    tags.router,
    auto_replies.router,
    links.router,
    ingest_rejections.router,
    templates.router,
    messaging.router,
)


def query_routers() -> tuple[Router, ...]:
    """The archive queries (imported on demand: the CRUD function describes them, never serves them)."""
    from cdp_api.routes import queries

    return (queries.router,)
