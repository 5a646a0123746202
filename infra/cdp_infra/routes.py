"""The HTTP surface, declared once: the CDK API construct and the local HTTP server both read it.

Each route maps an API Gateway resource path (REST API syntax) to a function folder under
functions/. Keeping a single table is what stops the cloud and local routing from drifting.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdp.access.principal import Role
from cdp.ingestion.calls import SHORT_CALLS


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. "/line/webhook/{channel}"
    function: str  # folder under functions/
    role: Role = "admin"  # the least role an admin route needs (viewer < marketer < admin)


# The least role of each admin route (docs/access.md): viewers read (masked PII), marketers work on
# segments, campaigns, journeys, templates, links and hashed exports, admins change settings,
# import members, unmerge, and manage users and tokens. The admin functions enforce it from
# cdp_api/route_roles.py, generated from this table (`python -m infra.cdp_infra.route_roles`).
VIEWER: Role = "viewer"
MARKETER: Role = "marketer"
ADMIN: Role = "admin"


# Function folder names (also the logical ids of the Lambda functions).
LINE_WEBHOOK = "line_webhook"
INGEST = "ingest"
EVENT_PROCESSOR = "event_processor"
ADMIN_API = "admin_api"  # admin CRUD: small and quick to start, narrow grants
ADMIN_QUERY = "admin_query"  # admin archive queries (DuckDB): preview, search, reports, their jobs
MEMBER_IMPORT = "member_import"  # started asynchronously by the admin API, no route
IDENTITY_MERGE = "identity_merge"
SEGMENT_EVALUATOR = "segment_evaluator"
ARCHIVE_WRITER = "archive_writer"  # the core table's stream -> the Parquet archive, no route
SEGMENT_RECOMPUTE = "segment_recompute"  # EventBridge Scheduler / the admin API, no route
RFM_SCORING = "rfm_scoring"  # EventBridge Scheduler, daily, no route
ARCHIVE_COMPACTOR = "archive_compactor"  # EventBridge Scheduler, daily, no route
DLQ_ARCHIVER = "dlq_archiver"  # the processor's on-failure queue -> replayable dead letters, no route
LINK_REDIRECT = "link_redirect"  # public: tracked-link clicks, no authentication
MESSAGE_SENDER = "message_sender"  # the send point: invoked by senders and release schedules, no route
RICH_MENU_SYNC = "rich_menu_sync"  # segment entries/exits -> LINE per-user rich menus, no route
JOURNEY_STEP = "journey_step"  # each node of a running journey: called by the versions' state machines, no route
CAMPAIGN_RUNNER = "campaign_runner"  # campaign fan-out: EventBridge Scheduler / the admin API / itself, no route
JOURNEY_STARTER = "journey_starter"  # the journey starts queue -> runs and executions, no route
JOURNEY_EVENTS = "journey_events"  # bus events, cohort schedules and archive -> journey runs, no route
PRIVACY_RETENTION = "privacy_retention"  # EventBridge Scheduler, daily, and itself (continuations), no route
PRIVACY_ERASE = "privacy_erase"  # the erase workflow's steps: called by its state machine, no route

HTTP_FUNCTIONS = (LINE_WEBHOOK, INGEST, ADMIN_API, ADMIN_QUERY, LINK_REDIRECT)
SEGMENT_CALLS = ("batch", "track", "identify", "page", "screen", "group", "alias")

ROUTES: tuple[Route, ...] = (
    Route("POST", "/line/webhook/{channel}", LINE_WEBHOOK),
    *(Route("POST", f"/v1/{call}", INGEST) for call in SEGMENT_CALLS),
    # Some SDKs (segment-analytics-python with `sync_mode`, rudder with retries) send the same
    # payload to /v1/import; accept it as an alias of /v1/batch.
    Route("POST", "/v1/import", INGEST),
    # analytics.js (Segment's browser library) posts to one-letter paths: /v1/t, /v1/b, ...
    *(Route("POST", f"/v1/{short}", INGEST) for short in SHORT_CALLS),
    # The admin API's own description (no token needed): OpenAPI 3.1 and a Swagger UI page.
    Route("GET", "/admin/v1/openapi.json", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/docs", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/profiles/lookup", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/profiles/{id}", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/profiles/{id}/merges", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/profiles/{id}/consent", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/profiles/{id}/tags", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/profiles/{id}/unmerge", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/merges/{id}", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/identity/rules", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/identity/rules", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/messaging/policy", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/messaging/policy", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/tags/rules", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/tags/rules", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/auto-replies", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/auto-replies", ADMIN_API, ADMIN),
    Route("POST", "/admin/v1/imports/members", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/imports/{id}", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/imports/{id}/start", ADMIN_API, ADMIN),
    # The rejected rows are a raw CSV download (phones, emails): masking cannot apply, so admins only.
    Route("GET", "/admin/v1/imports/{id}/rejected", ADMIN_API, ADMIN),
    Route("POST", "/admin/v1/line/link-token", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/line/login", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/profiles/{id}/segments", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/segments", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/segments", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/segments/schema", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/segments/{id}", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/segments/{id}", ADMIN_API, MARKETER),
    Route("DELETE", "/admin/v1/segments/{id}", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/segments/{id}/members", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/segments/{id}/exports/line-audience", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/segments/{id}/exports/hashed-csv", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/segments/preview", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/segments/{id}/history", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/segments/{id}/recompute", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/segments/{id}/rich-menu", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/segments/{id}/rich-menu", ADMIN_API, MARKETER),
    Route("DELETE", "/admin/v1/segments/{id}/rich-menu", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/segments/{id}/rich-menu/sync", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/profiles/search", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/profiles/{id}/timeline", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/reports/data-health", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/customer-groups", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/overview", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/trend", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/funnel", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/retention", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/distribution", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/friends", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/reports/messaging", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/jobs/{id}", ADMIN_QUERY, VIEWER),
    Route("POST", "/admin/v1/links", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/links", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/links/{code}", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/links/{code}/qr.svg", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/links/{code}/personal", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/ingest/rejections", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/templates", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/templates", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/templates/{id}", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/templates/{id}", ADMIN_API, MARKETER),
    Route("DELETE", "/admin/v1/templates/{id}", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/templates/{id}/restore", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/templates/{id}/render", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/campaigns", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/campaigns", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/campaigns/{id}", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/campaigns/{id}", ADMIN_API, MARKETER),
    Route("DELETE", "/admin/v1/campaigns/{id}", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/campaigns/{id}/preflight", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/campaigns/{id}/send", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/campaigns/{id}/pause", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/campaigns/{id}/resume", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/campaigns/{id}/cancel", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/campaigns/{id}/report", ADMIN_QUERY, VIEWER),
    Route("GET", "/admin/v1/journeys/schema", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/journeys", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/journeys", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/journeys/{id}", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/journeys/{id}", ADMIN_API, MARKETER),
    Route("DELETE", "/admin/v1/journeys/{id}", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/journeys/{id}/publish", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/journeys/{id}/pause", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/journeys/{id}/resume", ADMIN_API, MARKETER),
    Route("POST", "/admin/v1/journeys/{id}/archive", ADMIN_API, MARKETER),
    Route("GET", "/admin/v1/journeys/{id}/versions/{version}", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/messaging/pricing", ADMIN_API, VIEWER),
    Route("PUT", "/admin/v1/messaging/pricing", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/journeys/{id}/report", ADMIN_API, VIEWER),
    Route("GET", "/admin/v1/journeys/{id}/runs", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/journeys/{id}/test", ADMIN_API, MARKETER),
    # Access (docs/access.md): the caller's own principal, and service tokens (admins only).
    Route("GET", "/admin/v1/me", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/tokens", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/tokens", ADMIN_API, ADMIN),
    Route("DELETE", "/admin/v1/tokens/{id}", ADMIN_API, ADMIN),
    # Privacy: retention per data kind and the daily job's runs (cdp.privacy.retention).
    Route("GET", "/admin/v1/privacy/retention", ADMIN_API, ADMIN),
    Route("PUT", "/admin/v1/privacy/retention", ADMIN_API, ADMIN),
    # The audit log (who changed what, downloads and PII reveals): admins only.
    Route("GET", "/admin/v1/audit", ADMIN_API, ADMIN),
    # The one public data route: anyone with a link or a QR code follows it (cdp.links.redirect).
    Route("GET", "/r/{code}", LINK_REDIRECT),
    # One-click unsubscribe from marketing email (RFC 8058): public, the token is signed.
    Route("GET", "/u/{token}", LINK_REDIRECT),
    Route("POST", "/u/{token}", LINK_REDIRECT),
    # Privacy: a person's consent history (no contact details in it), and the export of everything
    # held about them (right of access; the files hold all their personal data, so admins only).
    Route("GET", "/admin/v1/profiles/{id}/consent", ADMIN_API, VIEWER),
    Route("POST", "/admin/v1/profiles/{id}/export", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/profiles/{id}/export/{job}", ADMIN_API, ADMIN),
    # Erase (docs/privacy.md): start, read the record, lift the suppression; admins only.
    Route("POST", "/admin/v1/profiles/{id}/erase", ADMIN_API, ADMIN),
    Route("GET", "/admin/v1/profiles/{id}/erase", ADMIN_API, ADMIN),
    Route("DELETE", "/admin/v1/profiles/{id}/erase/suppression", ADMIN_API, ADMIN),
)
