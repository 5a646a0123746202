"""Which route modules each admin function serves (matching infra/cdp_infra/routes.py).

The CRUD function imports a route module when a request first needs it, not at cold start: a
container answering /profiles loads the profile routes, not the template validator or the
member-import reader (`RouteModules`)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from aws_lambda_powertools.event_handler.api_gateway import Router

# Static paths first: /profiles/lookup must win over /profiles/<profile_id>.
CRUD_MODULES: tuple[str, ...] = (
    "docs",
    "profiles",
    "imports",
    "identity",
    "line",
    "segments",
    "segment_exports",
    "rich_menus",
    "tags",
    "auto_replies",
    "links",
    "ingest_rejections",
    "templates",
    "messaging",
    "campaigns",
    "journeys",
    "journey_reports",
    "retention",
    "audit",
    "privacy",
    "access",
    "erase",
)

# The modules whose routes live under each /admin/v1/<area>, in CRUD_MODULES order.
# tests/unit/test_admin_function.py keeps this equal to what the modules declare.
CRUD_AREAS: Mapping[str, tuple[str, ...]] = {
    "openapi.json": ("docs",),
    "docs": ("docs",),
    "profiles": ("profiles", "identity", "segments", "privacy", "erase"),
    "imports": ("imports",),
    "identity": ("identity",),
    "merges": ("identity",),
    "line": ("line",),
    "segments": ("segments", "segment_exports", "rich_menus"),
    "tags": ("tags",),
    "auto-replies": ("auto_replies",),
    "links": ("links",),
    "ingest": ("ingest_rejections",),
    "templates": ("templates",),
    "messaging": ("messaging", "campaigns"),
    "campaigns": ("campaigns",),
    "journeys": ("journeys", "journey_reports"),
    "privacy": ("retention",),
    "audit": ("audit",),
    # access: the caller and service tokens
    "me": ("access",),
    "tokens": ("access",),
}
ADMIN_PREFIX = "/admin/v1/"


class RouteModules:
    """Route modules by the area of the path, imported on first use."""

    def __init__(self, modules: tuple[str, ...], areas: Mapping[str, tuple[str, ...]]) -> None:
        self.modules = modules
        self.areas = areas

    def for_path(self, path: str) -> tuple[str, ...]:
        """The modules that can serve `path`; all of them for a path outside every area (so an
        unknown route is answered as before)."""
        area = path[len(ADMIN_PREFIX) :].split("/", 1)[0] if path.startswith(ADMIN_PREFIX) else ""
        return self.areas.get(area, self.modules)


def routers(modules: tuple[str, ...]) -> tuple[Router, ...]:
    return tuple(importlib.import_module(f"cdp_api.routes.{name}").router for name in modules)


CRUD_ROUTES = RouteModules(CRUD_MODULES, CRUD_AREAS)

# The archive queries (the admin_query function), the same way.
QUERY_MODULES: tuple[str, ...] = ("queries", "analytics", "campaign_reports")
QUERY_AREAS: Mapping[str, tuple[str, ...]] = {
    "segments": ("queries",),
    "profiles": ("queries",),
    "reports": ("queries", "analytics"),
    "jobs": ("queries",),
    "campaigns": ("campaign_reports",),
}
QUERY_ROUTES = RouteModules(QUERY_MODULES, QUERY_AREAS)


def crud_routers() -> tuple[Router, ...]:
    """Every CRUD route (the OpenAPI document describes them all)."""
    return routers(CRUD_MODULES)


def query_routers() -> tuple[Router, ...]:
    """The archive queries (imported on demand: the CRUD function describes them, never serves them)."""
    return routers(QUERY_MODULES)
