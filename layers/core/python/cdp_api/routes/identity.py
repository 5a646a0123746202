"""Identity administration: the workspace's rules, merge ledgers, and undoing a merge."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.identity.merge import STATUS_MERGED, STATUS_REJECTED, STATUS_UNMERGED, STATUS_UNMERGING, MergeLedger
from cdp.identity.rules import IdentityRules

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import IdentityRulesDocument, Unmerge

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/identity/rules", responses=ok(200, "The rules in force", "IdentityRules"))
def get_rules() -> dict[str, Any]:
    """The identity rules: blocked values, how many identifiers of a type one profile may hold, priority."""
    return admin_context().identity_rules().get().as_dict()


@router.put("/admin/v1/identity/rules", responses={**ok(200, "The rules saved", "IdentityRules"), **errors(409)})
def put_rules(document: Annotated[IdentityRulesDocument, Body()]) -> dict[str, Any]:
    """Replace the rules; `version` must be the version read (compare-and-set, 409 if stale)."""
    body = document.fields()
    rules = IdentityRules.from_dict(body)
    return admin_context().identity_rules().put(rules, expected_version=document.version).as_dict()


@router.get("/admin/v1/merges/<merge_id>", responses={**ok(200, "The merge's ledger", "MergeLedger"), **errors(404)})
def get_merge(merge_id: str) -> dict[str, Any]:
    """One merge's ledger: who merged into whom, why, and its status."""
    return _ledger(merge_id).as_dict()


@router.get(
    "/admin/v1/profiles/<profile_id>/merges", responses=ok(200, "The merges into this profile", "ProfileMerges")
)
def list_merges(profile_id: str) -> dict[str, Any]:
    """The merges into this profile."""
    ledgers = admin_context().store.merges_into(profile_id)
    return {"profile_id": profile_id, "merges": [ledger.as_dict() for ledger in ledgers]}


@router.post(
    "/admin/v1/profiles/<profile_id>/unmerge",
    status_code=202,
    responses={
        **ok(200, "Already undone", "UnmergeDone"),
        **ok(202, "Undoing: follow `statusUrl`", "UnmergeStarted"),
        **errors(404, 409),
    },
)
def unmerge(profile_id: str, request: Annotated[Unmerge, Body()]) -> tuple[dict[str, Any], int]:
    """Undo a finished merge (asynchronously: 202 and the ledger's URL); 200 when already undone."""
    merge_id = request.merge_id
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
    context = admin_context()
    # An erase holds the whole person as it found them: undoing one of their merges meanwhile
    # would bring back a profile the erase no longer looks for.
    for side in (ledger.survivor, ledger.loser):
        erase = context.erase_workflow().find(side)
        if erase is not None:
            state = "being erased" if erase.status == "running" else "erased"
            raise Conflict(f"the person of merge {merge_id} is {state} ({erase.erase_id})", code="person_erased")
    survivor = context.store.get(ledger.survivor)
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
    execution = context.identity_workflows().start_unmerge(merge_id, requested_by=f"admin:{profile_id}")
    return {"mergeId": merge_id, "status": STATUS_UNMERGING, "execution": execution, "statusUrl": status_url}, 202


def _ledger(merge_id: str) -> MergeLedger:
    ledger = admin_context().store.get_ledger(merge_id)
    if ledger is None:
        raise NotFound(f"no merge {merge_id}", code="merge_not_found")
    return ledger
