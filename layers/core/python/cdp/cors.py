"""CORS for the ingest API (/v1/*), so analytics.js / RudderStack JS on a brand's site can send.

Write keys live in browser code and only allow writing events, so like Segment's own API the
default is every origin (`*`); a deploy may name its origins instead (cdk context
`ingestAllowedOrigins`, read by the function from CDP_INGEST_ALLOWED_ORIGINS). No credentials mode: the SDKs send the key in the Authorization header,
never cookies. The preflight is answered by API Gateway (infra/cdp_infra/ingestion_api.py) with
the same constants; the function adds the headers to its own answers.
"""

from __future__ import annotations

from collections.abc import Iterable

ANY_ORIGIN = "*"
ALLOW_METHODS = ("OPTIONS", "POST")
# AnonymousId: RudderStack's JavaScript SDK sends it (base64) with every event.
ALLOW_HEADERS = ("Authorization", "Content-Type", "Content-Encoding", "AnonymousId")
# Chromium caps a preflight's cache at 2 h; longer values buy nothing.
MAX_AGE_SECONDS = 7200


def parse_origins(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """`*`, or origins separated by commas/whitespace (or a list); empty means no browser access."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value or ())
    origins = tuple(dict.fromkeys(item.strip().rstrip("/") for item in items if item.strip()))
    if ANY_ORIGIN in origins:
        return (ANY_ORIGIN,)
    for origin in origins:
        scheme, separator, host = origin.partition("://")
        if scheme not in ("http", "https") or not separator or not host or "/" in host:
            raise ValueError(f"allowed origin {origin!r} is not `*` or scheme://host[:port]")
    return origins


def response_headers(allowed: tuple[str, ...], origin: str | None) -> dict[str, str]:
    """The CORS headers of an actual (non-preflight) answer to a request from `origin`."""
    if allowed == (ANY_ORIGIN,):
        return {"Access-Control-Allow-Origin": ANY_ORIGIN}
    if not allowed:
        return {}
    headers = {"Vary": "Origin"}  # the answer differs by Origin: caches must key on it
    if origin is not None and origin.strip().rstrip("/") in allowed:
        headers["Access-Control-Allow-Origin"] = origin.strip()
    return headers


__all__ = [
    "ALLOW_HEADERS",
    "ALLOW_METHODS",
    "ANY_ORIGIN",
    "MAX_AGE_SECONDS",
    "parse_origins",
    "response_headers",
]
