"""Journeys: the definition's JSON Schema, drafts (create, list, read, edit, delete), publish,
pause, resume, archive, and the published versions.

Every save validates the whole definition (shape, graph, templates): 400 invalid_journey with
`details.path`, a JSON pointer into `definition`, and every problem in `details.errors`. Edits
are compare-and-set on the `revision` read (409 journey_changed). The lifecycle lives in
cdp.journeys.service; reports, runs and the dry run are cdp_api.routes.journey_reports'.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.errors import BadRequest, NotFound

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import JourneyCreate, JourneyUpdate

router = Router()  # type: ignore[no-untyped-call]

ID_RULE = "`id` is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit (not `schema`)"


def _view(journey: Any, *, with_draft: bool = True) -> dict[str, Any]:
    from cdp.journeys.service import journey_view

    return journey_view(journey, with_draft=with_draft)


@router.get(
    "/admin/v1/journeys/schema", responses=ok(200, "The JSON Schema of a definition", "JourneyDefinitionSchema")
)
def journey_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) a definition is checked against on save; the graph rules
    (targets, reachability, loops without a delay, the one-year wait limit, templates) come on top."""
    from cdp.journeys.definition import definition_schema

    return definition_schema()


@router.post(
    "/admin/v1/journeys",
    status_code=201,
    responses={**ok(201, "The draft", "Journey"), **errors(409)},
)
def create_journey(request: Annotated[JourneyCreate, Body()]) -> dict[str, Any]:
    """A draft from `definition` (and `id`, else one is made up). 400 invalid_journey with the
    pointer; 409 journey_exists when the id is taken."""
    from cdp.journeys.service import valid_journey_id

    if request.id is not None and not valid_journey_id(request.id):
        raise BadRequest(ID_RULE, code="invalid_journey_id", details={"field": "id"})
    journey = admin_context().journey_service().create(request.definition, request.id)
    return _view(journey)


@router.get("/admin/v1/journeys", responses=ok(200, "Every journey (without its draft)", "JourneyList"))
def list_journeys() -> dict[str, Any]:
    """Every journey with its status and versions, by id."""
    return {"journeys": [_view(j, with_draft=False) for j in admin_context().journey_service().list()]}


@router.get(
    "/admin/v1/journeys/<journey_id>",
    responses={**ok(200, "The journey and its draft", "Journey"), **errors(404)},
)
def get_journey(journey_id: str) -> dict[str, Any]:
    """The journey, its status, its versions and the draft being edited."""
    return _view(admin_context().journey_service().get(journey_id))


@router.put(
    "/admin/v1/journeys/<journey_id>",
    responses={**ok(200, "The draft, edited", "Journey"), **errors(404, 409)},
)
def update_journey(journey_id: str, request: Annotated[JourneyUpdate, Body()]) -> dict[str, Any]:
    """Replace the draft with `definition`, sending back the `revision` read (409 journey_changed,
    with the current revision, when it moved). A published or paused journey keeps running its
    live version until the draft is published; an archived one is not edited (409)."""
    journey = admin_context().journey_service().update(journey_id, request.definition, request.revision)
    return _view(journey)


@router.delete(
    "/admin/v1/journeys/<journey_id>",
    responses={**ok(200, "The draft deleted", "JourneyDeleted"), **errors(404, 409)},
)
def delete_journey(journey_id: str) -> dict[str, Any]:
    """Delete a draft that was never published; a published journey is archived instead (409
    invalid_journey_state)."""
    admin_context().journey_service().delete(journey_id)
    return {"journey_id": journey_id, "deleted": True}


@router.post(
    "/admin/v1/journeys/<journey_id>/publish",
    responses={**ok(200, "The journey, live on its new version", "JourneyPublished"), **errors(404, 409)},
)
def publish_journey(journey_id: str) -> dict[str, Any]:
    """Validate the draft again, pin the newest version of each template it sends, deploy the
    version's state machine and make it the version new entries start on; running people stay
    on theirs. Publishing an unchanged draft makes no new version (a paused journey resumes)."""
    journey, version = admin_context().journey_service().publish(journey_id)
    return {**_view(journey), "published": version.as_dict()}


@router.post(
    "/admin/v1/journeys/<journey_id>/pause",
    responses={**ok(200, "The paused journey", "Journey"), **errors(404, 409)},
)
def pause_journey(journey_id: str) -> dict[str, Any]:
    """No new entries (a cohort's schedule is removed); runs under way go on. Idempotent."""
    return _view(admin_context().journey_service().pause(journey_id))


@router.post(
    "/admin/v1/journeys/<journey_id>/resume",
    responses={**ok(200, "The journey, live again", "Journey"), **errors(404, 409)},
)
def resume_journey(journey_id: str) -> dict[str, Any]:
    """Entries start again on the live version (and a cohort's schedule is put back). Idempotent."""
    return _view(admin_context().journey_service().resume(journey_id))


@router.post(
    "/admin/v1/journeys/<journey_id>/archive",
    responses={**ok(200, "The archived journey", "JourneyArchived"), **errors(404, 409)},
)
def archive_journey(journey_id: str) -> dict[str, Any]:
    """Final: no entries, every run ends with reason `archived` (`runs_ended`). Asking again
    finishes a cleanup a failure interrupted."""
    journey, ended = admin_context().journey_service().archive(journey_id)
    return {**_view(journey), "runs_ended": ended}


@router.get(
    "/admin/v1/journeys/<journey_id>/versions/<version>",
    responses={**ok(200, "A published version", "JourneyVersion"), **errors(404)},
)
def get_journey_version(journey_id: str, version: str) -> dict[str, Any]:
    """A published version as it runs: the definition, the pinned template versions and its state machine."""
    if not version.isdigit() or len(version) > 6:
        raise NotFound(f"journey {journey_id} has no version {version}", code="journey_version_not_found")
    return admin_context().journey_service().version(journey_id, int(version)).as_dict()
