"""GET /r/{code}: the public tracked-link redirect (no auth). 302 to the destination with the
visitor's anonymous id, one "Link Clicked" raw event per click (cdp.links.redirect)."""

from __future__ import annotations

import functools
import html
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.secrets import CachedSecrets
from cdp.clock import SystemClock
from cdp.errors import CdpError
from cdp.http import error_response, header, json_response
from cdp.links.redirect import ANONYMOUS_ID_COOKIE, CachedLinks, ClickOutcome, ClickRequest, LinkRedirector
from cdp.observability import logger
from cdp.settings import LinkRedirectSettings

COOKIE_MAX_AGE_SECONDS = 365 * 86400
NO_STORE = {"Cache-Control": "no-store"}  # every click must reach us; nothing may cache a redirect


@functools.cache
def build() -> LinkRedirector:
    settings = LinkRedirectSettings.from_env()
    dynamodb = client("dynamodb")
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    links = DynamoLinkStore(dynamodb, settings.core_table)
    return LinkRedirector(
        links=CachedLinks(links, settings.link_cache_seconds),
        events=DynamoRawEventStore(dynamodb, settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        counter=links,
        signing_key=lambda: secrets.get_text(settings.link_signing_secret_id).strip().encode("utf-8"),
        clock=SystemClock(),
    )


def cookies(event: dict[str, Any]) -> dict[str, str]:
    """The request's cookies (every Cookie header, API Gateway may keep them apart)."""
    multi = [v for k, vs in (event.get("multiValueHeaders") or {}).items() if k.lower() == "cookie" for v in vs or []]
    values = [*multi, header(event, "cookie") or ""]
    found: dict[str, str] = {}
    for value in values:
        for pair in str(value).split(";"):
            name, separator, content = pair.strip().partition("=")
            if separator and name:
                found.setdefault(name, content.strip().strip('"'))
    return found


def redirect_response(outcome: ClickOutcome, *, https: bool) -> dict[str, Any]:
    assert outcome.location is not None and outcome.anonymous_id is not None
    cookie = f"{ANONYMOUS_ID_COOKIE}={outcome.anonymous_id}; Max-Age={COOKIE_MAX_AGE_SECONDS}; Path=/; SameSite=Lax; HttpOnly"
    return {
        "statusCode": 302,
        "headers": {
            **NO_STORE,
            "Location": outcome.location,
            "Set-Cookie": cookie + ("; Secure" if https else ""),
            "Referrer-Policy": "no-referrer",
            "Content-Type": "text/plain; charset=utf-8",
        },
        "body": "",
        "isBase64Encoded": False,
    }


def not_found_response(event: dict[str, Any], code: str) -> dict[str, Any]:
    """404 `link_not_found`: a page for browsers, JSON for everyone else."""
    if "text/html" in (header(event, "accept") or ""):
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Link not found</title></head>'
            f'<body><h1>Link not found</h1><p data-error="link_not_found">There is no link '
            f"<code>{html.escape(code[:64])}</code>.</p></body></html>"
        )
        return {
            "statusCode": 404,
            "headers": {**NO_STORE, "Content-Type": "text/html; charset=utf-8", "X-Error": "link_not_found"},
            "body": page,
            "isBase64Encoded": False,
        }
    body = {"error": "link_not_found", "message": "there is no such link"}
    return json_response(404, body, {**NO_STORE, "X-Error": "link_not_found"})


# The request id is every log line's correlation_id: API Gateway answers it in x-amzn-RequestId.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    code = str((event.get("pathParameters") or {}).get("code") or "")
    request = ClickRequest(
        code=code,
        query={k: str(v) for k, v in (event.get("queryStringParameters") or {}).items() if v is not None},
        cookies=cookies(event),
        request_key=header(event, "idempotency-key") or header(event, "x-request-id"),
        user_agent=header(event, "user-agent"),
    )
    try:
        outcome = build().click(request)
    except CdpError as error:  # the link could not be read: the visitor may retry
        logger.warning("redirect refused", extra={"code": code[:64], "error": error.code, "status": error.status})
        return error_response(error, {**NO_STORE, "Retry-After": "1"})
    except Exception:  # never a bare 500: answer 503 with a reason; the error is logged with its trace
        logger.exception("redirect failed")
        return json_response(
            503, {"error": "redirect_failed", "message": "try again"}, {**NO_STORE, "Retry-After": "1"}
        )
    if outcome.status == 404:
        logger.info("link not found", extra={"code": code[:64]})
        return not_found_response(event, code)
    log = logger.warning if outcome.problems else logger.info
    log(
        "link clicked",
        extra={
            "code": code,
            "known": outcome.known,
            "recorded": outcome.recorded,
            "duplicate": outcome.duplicate,
            "preview": outcome.preview,
            "problems": outcome.problems,
            "event_id": outcome.event.event_id if outcome.event else None,
        },
    )
    https = (header(event, "x-forwarded-proto") or "").split(",")[0].strip().lower() == "https"
    return redirect_response(outcome, https=https)
