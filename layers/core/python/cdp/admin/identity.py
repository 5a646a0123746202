"""Identity administration: the workspace's rules, merge ledgers, and undoing a merge."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules
from cdp.adapters.stepfunctions import StepFunctionsIdentityWorkflows
from cdp.admin.context import admin_context
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.identity.merge import STATUS_MERGED, STATUS_REJECTED, STATUS_UNMERGED, STATUS_UNMERGING, MergeLedger
from cdp.identity.rules import IdentityRules

router = Router()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class IdentityAdmin:
    rules: DynamoIdentityRules
    workflows: StepFunctionsIdentityWorkflows


@functools.cache
def identity_admin() -> IdentityAdmin:
    settings = admin_context().settings
    return IdentityAdmin(
        rules=DynamoIdentityRules(client("dynamodb"), settings.core_table),
        workflows=StepFunctionsIdentityWorkflows(
            client("stepfunctions"), unmerge_arn=settings.unmerge_state_machine_arn
        ),
    )


def _json_body() -> dict[str, Any]:
    try:
        body = router.current_event.json_body
    except ValueError as exc:
        raise BadRequest("the body must be JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    return body


@router.get("/admin/v1/identity/rules")
def get_rules() -> dict[str, Any]:
    return identity_admin().rules.get().as_dict()


@router.put("/admin/v1/identity/rules")
def put_rules() -> dict[str, Any]:
    """Replace the rules; `version` must be the version read (compare-and-set, 409 if stale)."""
    body = _json_body()
    expected = body.get("version", 0)
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise BadRequest("`version` must be the rules version you read (0 for none)", code="invalid_version")
    rules = IdentityRules.from_dict(body)
    return identity_admin().rules.put(rules, expected_version=expected).as_dict()


@router.get("/admin/v1/merges/<merge_id>")
def get_merge(merge_id: str) -> dict[str, Any]:
    return _ledger(merge_id).as_dict()


@router.get("/admin/v1/profiles/<profile_id>/merges")
def list_merges(profile_id: str) -> dict[str, Any]:
    ledgers = admin_context().store.merges_into(profile_id)
    return {"profile_id": profile_id, "merges": [ledger.as_dict() for ledger in ledgers]}


@router.post("/admin/v1/profiles/<profile_id>/unmerge")
def unmerge(profile_id: str) -> tuple[dict[str, Any], int]:
    merge_id = _json_body().get("mergeId")
    if not isinstance(merge_id, str) or not merge_id:
        raise BadRequest("`mergeId` is required (see GET /admin/v1/profiles/{id}/merges)", code="missing_merge_id")
    ledger = _ledger(merge_id)
    if profile_id not in (ledger.survivor, ledger.loser):
        raise BadRequest(f"merge {merge_id} did not involve {profile_id}", code="merge_not_of_profile")
    status_url = f"/admin/v1/merges/{merge_id}"
    if ledger.status == STATUS_UNMERGED:
        return {"mergeId": merge_id, "status": STATUS_UNMERGED, "statusUrl": status_url}, 200
    if ledger.status == STATUS_REJECTED:
        raise Conflict(
            f"merge {merge_id} was refused ({ledger.reason}); there is nothing to undo", code="merge_rejected"
        )
    if ledger.status not in (STATUS_MERGED, STATUS_UNMERGING):
        raise Conflict(
            f"merge {merge_id} is {ledger.status}; only a finished merge can be undone", code="merge_not_finished"
        )
    survivor = admin_context().store.get(ledger.survivor)
    if ledger.status == STATUS_MERGED and survivor is not None:
        if survivor.merged_into or survivor.merging_into:
            raise Conflict(
                f"{ledger.survivor} was since merged into {survivor.merged_into or survivor.merging_into}; "
                "undo that first",
                code="survivor_merged_since",
            )
        if survivor.pending_merges:
            raise Conflict(
                f"{ledger.survivor} is receiving another merge right now; try again in a minute", code="survivor_busy"
            )
    execution = identity_admin().workflows.start_unmerge(merge_id, requested_by=f"admin:{profile_id}")
    return {"mergeId": merge_id, "status": STATUS_UNMERGING, "execution": execution, "statusUrl": status_url}, 202


def _ledger(merge_id: str) -> MergeLedger:
    ledger = admin_context().store.get_ledger(merge_id)
    if ledger is None:
        raise NotFound(f"no merge {merge_id}", code="merge_not_found")
    return ledger
