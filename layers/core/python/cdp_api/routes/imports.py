"""Member CSV imports: upload (body or presigned PUT), status with progress, rejected rows."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from cdp.errors import BadRequest, PayloadTooLarge
from cdp.http import raw_body
from cdp.imports.uploads import (
    MAX_BODY_BYTES,
    MAX_FILE_BYTES,
    MAX_INLINE_BODY_BYTES,
    PRESIGNED_SECONDS,
    check_csv_media_type,
)
from cdp.json_input import loads as strict_json
from pydantic import ValidationError

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import validation_error
from cdp_api.models import PresignedImport

router = Router()  # type: ignore[no-untyped-call]
MAX_JSON_BYTES = 4096
# The request body is CSV or a small JSON object, read here (not by the validation layer).
CSV_OR_PRESIGNED = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"$ref": "#/components/schemas/PresignedImport"}},
    },
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        headers=headers,
    )


@router.post(
    "/admin/v1/imports/members",
    responses={
        **ok(
            201,
            "Presigned upload created: PUT the file to `upload.url`",
            "PresignedMemberImport",
            headers=("Location",),
        ),
        **ok(202, "Import accepted", "MemberImport", headers=("Location",)),
        **errors(413, 415),
    },
    openapi_extensions={"x-cdp-request-body": CSV_OR_PRESIGNED},
)
def create_member_import():  # type: ignore[no-untyped-def]  # a built Response: no annotation, or powertools documents a string
    """The CSV as the body (text/csv, optionally gzip), or `{"upload": "presigned"}` for big files."""
    event = router.current_event
    content_type = event.get_header_value("content-type") or ""
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        return _create_presigned(raw_body(event.raw_event, max_bytes=MAX_JSON_BYTES))
    check_csv_media_type(content_type)
    _check_inline_size(event.raw_event)
    uploads = admin_context().uploads()
    try:
        body = raw_body(event.raw_event, max_bytes=MAX_BODY_BYTES)
    except PayloadTooLarge as error:
        raise PayloadTooLarge(
            f'{error.message}; upload bigger files with {{"upload": "presigned"}}', code="file_too_large"
        ) from error
    record = uploads.create_from_body(body)
    view = record.view()
    return _json(202, view, {"Location": view["status_url"]})


def _check_inline_size(raw_event: dict[str, Any]) -> None:
    """413 `inline_upload_too_large` over what AWS can deliver inline, on every runtime alike."""
    body = raw_event.get("body") or ""
    size = len(body) // 4 * 3 if raw_event.get("isBase64Encoded") else len(str(body).encode("utf-8"))
    if size > MAX_INLINE_BODY_BYTES:
        raise PayloadTooLarge(
            f"an inline CSV body is at most {MAX_INLINE_BODY_BYTES} bytes as sent (Lambda's 6 MB request "
            f'limit, base64-encoded); this one is {size}. Send {{"upload": "presigned"}} as JSON and PUT the '
            f"file to the returned URL (up to {MAX_FILE_BYTES} bytes)",
            code="inline_upload_too_large",
            details={"limit_bytes": MAX_INLINE_BODY_BYTES, "presigned": {"upload": "presigned"}},
        )


def _create_presigned(body: bytes) -> Response[str]:
    request = strict_json(body or b"{}")
    if not isinstance(request, dict):
        raise BadRequest(
            'send the CSV file as the body (Content-Type text/csv), or {"upload": "presigned"} for a presigned upload',
            code="invalid_import_request",
        )
    try:
        PresignedImport.model_validate(request)
    except ValidationError as exc:
        raise validation_error([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
    record, url = admin_context().uploads().create_presigned()
    view = record.view()
    view["upload"] = {
        "method": "PUT",
        "url": url,
        "headers": {"Content-Type": "text/csv"},
        "expires_in_seconds": PRESIGNED_SECONDS,
    }
    view["start_url"] = f"{view['status_url']}/start"
    return _json(201, view, {"Location": view["status_url"]})


@router.post(
    "/admin/v1/imports/<import_id>/start", responses={**ok(202, "Import started", "MemberImport"), **errors(404, 409)}
)
def start_import(import_id: str):  # type: ignore[no-untyped-def]  # a built Response: no annotation, or powertools documents a string
    """Start an import whose file was uploaded to its presigned URL."""
    record = admin_context().uploads().start(import_id)
    return _json(202, record.view())


@router.get(
    "/admin/v1/imports/<import_id>", responses={**ok(200, "Status and progress", "MemberImport"), **errors(404)}
)
def get_import(import_id: str) -> dict[str, Any]:
    """Status and progress: rows read, imported, rejected, with warnings."""
    return admin_context().uploads().get(import_id).view()


@router.get(
    "/admin/v1/imports/<import_id>/rejected",
    responses={
        **ok(303, "See Other: the file is at `Location`", "RejectedRows", headers=("Location",)),
        **errors(404, 409),
    },
)
def get_rejected_rows(import_id: str):  # type: ignore[no-untyped-def]  # a built Response: no annotation, or powertools documents a string
    """303 to a short-lived download of the rejected-rows CSV (it can be bigger than a Lambda response)."""
    record, url = admin_context().uploads().rejected_rows_url(import_id)
    body = {
        "import_id": record.import_id,
        "rows": record.rows_rejected + record.rows_with_warnings,
        "url": url,
        "expires_in_seconds": PRESIGNED_SECONDS,
    }
    return _json(303, body, {"Location": url})
