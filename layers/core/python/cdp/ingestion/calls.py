"""The call an ingest path names: /v1/track, or analytics.js's one-letter form /v1/t.

Segment's browser library (analytics.js / analytics-next) posts each call to `<apiHost>/<first
letter of the type>` and batches to `<apiHost>/b`, with the write key in the body and a text/plain
content type (a "simple" CORS request: no preflight). Segment's API accepts both forms; so do we.
"""

from __future__ import annotations

SHORT_CALLS = {
    "t": "track",
    "i": "identify",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
    "b": "batch",
}


def call_from_path(path: str) -> str:
    """The call of `/v1/<call>` (a one-letter alias resolved), `""` when the path names none."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return SHORT_CALLS.get(name, name)


__all__ = ["SHORT_CALLS", "call_from_path"]
