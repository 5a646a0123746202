"""GET /r/{code} in HTTP terms: the click request read from API Gateway's event, and the 302, the
404 page and the error answers written back. The click itself is the domain's
(`cdp.links.redirect.LinkRedirector`); this module only speaks HTTP, and stays light for the
redirect's cold start (no powertools resolver, no pydantic)."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from cdp.errors import CdpError
from cdp.http import error_response, header, json_response
from cdp.links.redirect import ANONYMOUS_ID_COOKIE, ClickOutcome, ClickRequest, LinkRedirector
from cdp.observability import logger

COOKIE_MAX_AGE_SECONDS = 365 * 86400
NO_STORE = {"Cache-Control": "no-store"}  # every click must reach us; nothing may cache a redirect


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


def click_request(event: dict[str, Any]) -> ClickRequest:
    return ClickRequest(
        code=str((event.get("pathParameters") or {}).get("code") or ""),
        query={k: str(v) for k, v in (event.get("queryStringParameters") or {}).items() if v is not None},
        cookies=cookies(event),
        request_key=header(event, "idempotency-key") or header(event, "x-request-id"),
        user_agent=header(event, "user-agent"),
    )


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


def answer_click(event: dict[str, Any], redirector: Callable[[], LinkRedirector]) -> dict[str, Any]:
    """The whole redirect: read the click, let the domain record it, answer 302 / 404 / 503.
    `redirector` is the function's composition root, called inside the error handling so that a
    missing setting is answered (503, logged) like any other failure."""
    request = click_request(event)
    code = request.code
    try:
        outcome = redirector().click(request)
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
