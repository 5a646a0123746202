"""Erase a person (the right to erasure), read the erase's record, lift its suppression."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from cdp.access.principal import current_principal
from cdp.errors import NotFound
from cdp.privacy.erase import STATUS_INCOMPLETE

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok

router = Router()  # type: ignore[no-untyped-call]


@router.post(
    "/admin/v1/profiles/<profile_id>/erase",
    status_code=202,
    responses={
        **ok(200, "Erased or being erased already: the first request's record", "EraseRecord"),
        **ok(202, "Erasing: follow the record with GET on the same path", "EraseRecord"),
        **errors(404, 409),
    },
)
def erase_profile(profile_id: str) -> tuple[dict[str, Any], int]:
    """Erase the person everywhere (any of their profile ids: a merged-away id is the whole person).
    Their identifiers are suppressed at once (later events about them are dropped and counted);
    a workflow removes their data and verifies it is gone. 409 while a merge involving them runs."""
    context = admin_context()
    workflow = context.erase_workflow()
    principal = current_principal()
    record, created = workflow.request(profile_id, requested_by=principal.subject if principal else "unknown")
    if created:
        context.erase_runs().start(record.erase_id)
        return record.as_dict(), 202
    if record.status == STATUS_INCOMPLETE:  # verification found data left: go round again
        record = workflow.restart(record.erase_id)
        context.erase_runs().start(record.erase_id, round_number=record.rounds)
        return record.as_dict(), 202
    return record.as_dict(), 200


@router.get(
    "/admin/v1/profiles/<profile_id>/erase", responses={**ok(200, "The erase's record", "EraseRecord"), **errors(404)}
)
def get_erase(profile_id: str) -> dict[str, Any]:
    """The record of the erase that covers this profile id (counts per store, the verification)."""
    record = admin_context().erase_workflow().find(profile_id)
    if record is None:
        raise NotFound(f"no erase of profile {profile_id}", code="erase_not_found")
    return record.as_dict()


@router.delete(
    "/admin/v1/profiles/<profile_id>/erase/suppression",
    responses={
        **ok(200, "Lifted: later events about the person are used again", "SuppressionLifted"),
        **errors(404, 409),
    },
)
def lift_suppression(profile_id: str) -> dict[str, Any]:
    """Stop dropping events about the erased person (e.g. they signed up again): their next
    events build a new profile. 409 while the erase runs."""
    record, lifted = admin_context().erase_workflow().lift_suppression(profile_id)
    return {"erase_id": record.erase_id, "lifted": lifted, "suppression_lifted_at": record.suppression_lifted_at}
