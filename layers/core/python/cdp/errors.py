"""Domain errors with a machine-readable code and the HTTP status they map to.

Handlers turn any `CdpError` into `{"error": code, "message": ..., "details": ...}` in one
place (cdp.http.error_response); nothing matches on message text.
"""

from __future__ import annotations

from typing import Any


class CdpError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details


class BadRequest(CdpError):
    status = 400
    code = "bad_request"


class Unauthorized(CdpError):
    status = 401
    code = "unauthorized"


class NotFound(CdpError):
    status = 404
    code = "not_found"


class Conflict(CdpError):
    """The request is valid but the resource's state does not allow it (e.g. unmerge twice)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(CdpError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(CdpError):
    status = 415
    code = "unsupported_media_type"


class StoreUnavailable(CdpError):
    """A backing store failed; the caller should retry (LINE and SDKs do on 5xx)."""

    status = 503
    code = "store_unavailable"
