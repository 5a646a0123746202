"""A person's data on request (right of access): the export job and its files (cdp.privacy)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/admin/v1/profiles/<profile_id>/export",
    status_code=202,
    responses={
        **ok(202, "The export job, started", "PersonExportJob"),
        **ok(200, "The job a request with the same Idempotency-Key started", "PersonExportJob"),
        **errors(404, 503),
    },
)
def start_export(profile_id: str) -> tuple[dict[str, Any], int]:
    """Export everything held about the person (profile, identifiers, traits, consent history,
    timeline, raw events within their TTL, segments, messages, clicks, merges) as one JSON
    document and a CSV of the timeline. 202 with the job; poll `status_url`. A merged-away id
    exports the person it was merged into. An `Idempotency-Key` header makes a retried request
    answer the same job (200)."""
    key = router.current_event.get_header_value("idempotency-key")
    job, created = admin_context().person_exports().start(profile_id, request_key=key)
    return job, 202 if created else 200


@router.get(
    "/admin/v1/profiles/<profile_id>/export/<job_id>",
    responses={**ok(200, "The export job", "PersonExportJob"), **errors(404)},
)
def get_export(profile_id: str, job_id: str) -> dict[str, Any]:
    """The job: `running` with its stage, then `done` with links to the files (valid 15
    minutes; ask again for fresh ones while the files are kept, 7 days), or `failed`."""
    return admin_context().person_exports().view(profile_id, job_id)
