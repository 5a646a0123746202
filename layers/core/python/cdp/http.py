"""API Gateway (REST, proxy integration) request/response helpers without framework imports.

The webhook and ingest Lambdas stay off heavier routers to keep their cold start small; the
admin API uses powertools' resolver and the same error body shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from typing import Any

from cdp.errors import BadRequest, CdpError, PayloadTooLarge, UnsupportedMediaType

JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def header(event: Mapping[str, Any], name: str) -> str | None:
    """Case-insensitive header lookup (API Gateway keeps the client's casing)."""
    headers = event.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value) if value is not None else None
    return None


def raw_body(event: Mapping[str, Any], *, max_bytes: int) -> bytes:
    """The exact bytes the client sent, decoded from base64 and gzip/deflate when flagged.

    Size is checked on the wire body and again after decompression, so a small gzip bomb
    cannot expand past the limit.
    """
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("body is flagged base64 but is not valid base64", code="invalid_body") from exc
    else:
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"body is {len(data)} bytes, the limit is {max_bytes}")
    encoding = (header(event, "content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _decompress(data, encoding, max_bytes)
    raise UnsupportedMediaType(f"content-encoding {encoding!r} is not supported", code="unsupported_encoding")


def _decompress(data: bytes, encoding: str, max_bytes: int) -> bytes:
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    decompressor = zlib.decompressobj(wbits)
    try:
        out = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {encoding}", code="invalid_body") from exc
    if len(out) > max_bytes or decompressor.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body exceeds {max_bytes} bytes")
    if not decompressor.eof:  # truncated: the stream's end (and its checksum) never arrived
        raise BadRequest(f"body is not valid {encoding}: the stream is truncated", code="invalid_body")
    return out


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_body(error: CdpError) -> dict[str, Any]:
    """The one error shape every route answers: a machine-readable code, a message, details."""
    body: dict[str, Any] = {"error": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    return body


def error_response(error: CdpError, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return json_response(error.status, error_body(error), headers)


__all__ = ["error_body", "error_response", "header", "json_response", "raw_body"]
