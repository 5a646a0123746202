"""GET and POST /u/{token} in HTTP terms (RFC 8058 one-click unsubscribe; the domain is
cdp.messaging.unsubscribe). POST unsubscribes: mail providers send `List-Unsubscribe=One-Click`
there. GET only shows a page with the button, because mail scanners follow links they see."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from cdp.errors import CdpError
from cdp.http import error_response, json_response
from cdp.messaging.unsubscribe import Unsubscriber
from cdp.observability import logger

NO_STORE = {"Cache-Control": "no-store"}
CHANNEL_NAMES = {"email": "email", "sms": "text messages"}


def _page(title: str, body: str) -> dict[str, Any]:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return {
        "statusCode": 200,
        "headers": {**NO_STORE, "Content-Type": "text/html; charset=utf-8", "Referrer-Policy": "no-referrer"},
        "body": document,
        "isBase64Encoded": False,
    }


def answer_unsubscribe(event: dict[str, Any], unsubscriber: Callable[[], Unsubscriber]) -> dict[str, Any]:
    token = str((event.get("pathParameters") or {}).get("token") or "")
    method = str(event.get("httpMethod") or "GET").upper()
    try:
        if method != "POST":
            channel = unsubscriber().check(token)
            what = CHANNEL_NAMES.get(channel, channel)
            return _page(
                "Unsubscribe",
                f"<p>Stop receiving marketing {html.escape(what)} from us?</p>"
                '<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">'
                "Unsubscribe</button></form>",
            )
        outcome = unsubscriber().unsubscribe(token)
    except CdpError as error:
        logger.warning("unsubscribe refused", extra={"error": error.code, "status": error.status})
        retry = {"Retry-After": "1"} if error.status >= 500 else {}
        return error_response(error, {**NO_STORE, **retry})
    except Exception:  # never a bare 500: the person must be able to try again
        logger.exception("unsubscribe failed")
        body = {"error": "unsubscribe_failed", "message": "try again"}
        return json_response(503, body, {**NO_STORE, "Retry-After": "1"})
    logger.info("unsubscribed", extra={"channel": outcome.channel, "recorded": outcome.recorded})
    what = CHANNEL_NAMES.get(outcome.channel, outcome.channel)
    return _page("Unsubscribed", f"<p>You will not receive marketing {html.escape(what)} from us any more.</p>")
