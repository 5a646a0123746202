"""Message templates: create, list, read (newest or a given version), new versions, archive, and a
rendered preview for a profile or sample data (no tracked links minted).

Versions are immutable: an update with content writes version n+1 (compare-and-set on the version
read, 409 when stale); a send pins the version it rendered. Archiving keeps every version readable
and renderable by number (sends already pinned to it still go out) but the template can no longer
be edited or sent as "the newest"; the id stays taken, and `restore` undoes it. The domain lives in cdp.messaging.templates;
Liquid and the LINE validator are imported on first use, not at cold start.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from cdp.clock import SystemClock, iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.errors import coded
from cdp_api.models import TemplateCreate, TemplatePreview, TemplateUpdate

if TYPE_CHECKING:
    from cdp.messaging.content import RenderContext
    from cdp.messaging.templates.model import Template, TemplateVersion

router = Router()  # type: ignore[no-untyped-call]

Status = Annotated[Literal["active", "archived"], coded("invalid_status", "`status` is one of active, archived")]
VersionQuery = Annotated[int, coded("invalid_version", "`version` is a version number (1 or more)")]
CONTENT_FIELDS = ("line", "email", "sms")
PREVIEW_TRAIT_FIELDS = frozenset({"traits", "computed", "tags"})


def _now() -> str:
    return iso_from_ms(SystemClock().now_ms())


def _template(template_id: str) -> Template:
    from cdp.messaging.templates.model import valid_template_id

    template = admin_context().templates().get(template_id) if valid_template_id(template_id) else None
    if template is None:
        raise NotFound(f"no template {template_id}", code="template_not_found")
    return template


def _view(template: Template, version: TemplateVersion) -> dict[str, Any]:
    versions = admin_context().templates().versions(template.template_id)
    return {
        **template.as_dict(),
        "version": version.as_dict(),
        "versions": [{"version": number, "created_at": at} for number, at in versions],
    }


@router.post(
    "/admin/v1/templates",
    status_code=201,
    responses={**ok(201, "Created with version 1", "TemplateDetail"), **errors(409)},
)
def create_template(request: Annotated[TemplateCreate, Body()]) -> dict[str, Any]:
    """{"id"?, "name", "description"?, "line"?, "email"?, "sms"?}: 201 with version 1. Content is
    validated (LINE messages against LINE's messaging-api.yml, Liquid, limits): 400 invalid_template
    with `details.pointer`. 409 template_exists when the id is taken (archived ones included)."""
    from cdp.messaging.templates.model import Template, TemplateVersion, parse_content, valid_template_id

    body = request.fields()
    template_id = body.get("id")
    if template_id is not None and not valid_template_id(template_id):
        raise BadRequest(
            "`id` is 1 to 64 of a-z, 0-9, '-' and '_', starting with a letter or digit",
            code="invalid_template_id",
            details={"field": "id"},
        )
    content = parse_content({key: body.get(key) for key in CONTENT_FIELDS})
    now = _now()
    template_id = template_id or f"tpl-{secrets.token_hex(6)}"
    template = Template(
        template_id=template_id,
        name=request.name,
        description=request.description or "",
        latest_version=1,
        channels=tuple(content.channels),
        created_at=now,
        updated_at=now,
    )
    first = TemplateVersion(template_id=template_id, version=1, content=content, created_at=now)
    if not admin_context().templates().create(template, first):
        raise Conflict(f"template {template_id} exists", code="template_exists", details={"field": "id"})
    return {**template.as_dict(), "version": first.as_dict(), "versions": [{"version": 1, "created_at": now}]}


@router.get("/admin/v1/templates", responses=ok(200, "The templates' records", "TemplateList"))
def list_templates(status: Annotated[Status | None, Query(description="active or archived")] = None) -> dict[str, Any]:
    """Every template's record (no content), optionally only active or archived ones."""
    listed = admin_context().templates().templates()
    return {"templates": [t.as_dict() for t in listed if status is None or t.status == status]}


@router.get(
    "/admin/v1/templates/<template_id>",
    responses={**ok(200, "The record, one version's content and the versions", "TemplateDetail"), **errors(404)},
)
def get_template(
    template_id: str,
    version: Annotated[VersionQuery | None, Query(ge=1, description="a version number; the newest if absent")] = None,
) -> dict[str, Any]:
    """The record, the content of the newest version (or `?version=n`), and the list of versions."""
    template = _template(template_id)
    number = version or template.latest_version
    found = admin_context().templates().version(template_id, number)
    if found is None:
        raise NotFound(f"template {template_id} has no version {number}", code="template_version_not_found")
    return _view(template, found)


@router.put(
    "/admin/v1/templates/<template_id>",
    responses={**ok(200, "The record and its newest version", "TemplateDetail"), **errors(404, 409)},
)
def update_template(template_id: str, request: Annotated[TemplateUpdate, Body()]) -> dict[str, Any]:
    """{"name"?, "description"?, "line"?, "email"?, "sms"?, "version": the latest version read}.
    Content sent makes a new version (channels not sent are carried over; `null` removes one);
    only a name or description changes the record. 409 when `version` is not the latest
    (template_version_conflict) or the template is archived (template_archived)."""
    from cdp.messaging.templates.model import STATUS_ACTIVE, TemplateVersion, parse_content

    current = _template(template_id)
    if current.status != STATUS_ACTIVE:
        raise Conflict(f"template {template_id} is archived", code="template_archived")
    if current.latest_version != request.version:
        raise Conflict(
            f"template {template_id} is at version {current.latest_version}",
            code="template_version_conflict",
            details={"latest_version": current.latest_version},
        )
    store = admin_context().templates()
    sent = request.fields()
    now = _now()
    new_version = None
    latest = current.latest_version
    channels = current.channels
    if any(key in sent for key in CONTENT_FIELDS):
        previous = store.version(template_id, current.latest_version)
        carried = previous.content.as_dict() if previous is not None else {}
        merged = {key: sent[key] if key in sent else carried.get(key) for key in CONTENT_FIELDS}
        content = parse_content(merged)
        latest = current.latest_version + 1
        channels = tuple(content.channels)
        new_version = TemplateVersion(template_id=template_id, version=latest, content=content, created_at=now)
    revised = dataclasses.replace(
        current,
        name=sent.get("name") or current.name,
        description=(sent["description"] or "") if "description" in sent else current.description,
        latest_version=latest,
        channels=channels,
        updated_at=now,
    )
    if not store.replace(
        revised, expected_version=current.latest_version, expected_status=STATUS_ACTIVE, new_version=new_version
    ):
        raise Conflict(f"template {template_id} changed meanwhile; read it again", code="template_version_conflict")
    shown = new_version or store.version(template_id, latest)
    if shown is None:
        raise NotFound(f"template {template_id} has no version {latest}", code="template_version_not_found")
    return _view(revised, shown)


@router.delete(
    "/admin/v1/templates/<template_id>", responses={**ok(200, "The archived record", "Template"), **errors(404, 409)}
)
def archive_template(template_id: str) -> dict[str, Any]:
    """Archive: no more edits nor sends of "the newest"; every version stays readable, and sends
    pinned to a version still render. Archiving again answers the archived record."""
    from cdp.messaging.templates.model import STATUS_ACTIVE, STATUS_ARCHIVED

    current = _template(template_id)
    if current.status == STATUS_ARCHIVED:
        return current.as_dict()
    now = _now()
    archived = dataclasses.replace(current, status=STATUS_ARCHIVED, updated_at=now, archived_at=now)
    store = admin_context().templates()
    if not store.replace(
        archived, expected_version=current.latest_version, expected_status=STATUS_ACTIVE, new_version=None
    ):
        raise Conflict(f"template {template_id} changed meanwhile; try again", code="template_version_conflict")
    return archived.as_dict()


@router.post(
    "/admin/v1/templates/<template_id>/restore",
    responses={**ok(200, "The active record", "Template"), **errors(404, 409)},
)
def restore_template(template_id: str) -> dict[str, Any]:
    """Undo an archive: editable and sendable again as it was. Restoring an active template
    answers it as it is."""
    from cdp.messaging.templates.model import STATUS_ACTIVE, STATUS_ARCHIVED

    current = _template(template_id)
    if current.status == STATUS_ACTIVE:
        return current.as_dict()
    restored = dataclasses.replace(current, status=STATUS_ACTIVE, updated_at=_now(), archived_at=None)
    store = admin_context().templates()
    if not store.replace(
        restored, expected_version=current.latest_version, expected_status=STATUS_ARCHIVED, new_version=None
    ):
        raise Conflict(f"template {template_id} changed meanwhile; try again", code="template_version_conflict")
    return restored.as_dict()


@router.post(
    "/admin/v1/templates/<template_id>/render",
    responses={**ok(200, "The rendered preview", "TemplateRendered"), **errors(404)},
)
def preview_template(template_id: str, request: Annotated[TemplatePreview, Body()]) -> dict[str, Any]:
    """{"version"?, "channel"?, "profile_id"? | "sample"?: {"traits", "computed", "tags"}, "event"?}:
    each channel (or the one asked) rendered as that person would get it, `preview: true`. URLs
    are not replaced by tracked links (none is minted); `links` lists those a send would track. A
    channel the person's data cannot render is in `failures` with the reason a send would record."""
    from cdp.messaging.content import RenderError
    from cdp.messaging.templates.context import profile_context
    from cdp.messaging.templates.renderer import render_version
    from cdp.messaging.templates.sms import sms_size
    from cdp.profiles.views import current_profile

    if request.profile_id is not None and request.sample is not None:
        raise BadRequest("name a `profile_id` or give `sample` data, not both", code="invalid_preview_person")
    template = _template(template_id)
    number = request.version or template.latest_version
    version = admin_context().templates().version(template_id, number)
    if version is None:
        raise NotFound(f"template {template_id} has no version {number}", code="template_version_not_found")
    if request.profile_id is not None:
        profile = current_profile(admin_context().store, request.profile_id)
        context = profile_context(profile, now=_now(), event=request.event)
    else:
        context = _sample_context(request.sample or {}, request.event)
    channels = [request.channel] if request.channel else list(version.content.channels)
    if request.channel and request.channel not in version.content.channels:
        raise NotFound(
            f"template {template_id} version {number} has no {request.channel} content", code="template_channel_missing"
        )
    rendered: dict[str, Any] = {}
    failures: dict[str, Any] = {}
    for channel in channels:
        links: list[str] = []

        def would_track(url: str, _context: RenderContext, links: list[str] = links) -> str:
            links.append(url)
            return url

        try:
            result = render_version(version, channel, context, would_track)
        except RenderError as exc:
            failures[channel] = {"reason": exc.reason, "message": str(exc)}
            continue
        if channel == "line":
            rendered[channel] = {"messages": result.line_messages}
        elif channel == "email" and result.email is not None:
            rendered[channel] = {"subject": result.email.subject, "html": result.email.html, "text": result.email.text}
        else:
            size = sms_size(result.sms_text or "")
            rendered[channel] = {"text": result.sms_text, "segments": size.segments, "encoding": size.encoding}
        rendered[channel]["links"] = list(dict.fromkeys(links))
    return {
        "template_id": template_id,
        "version": number,
        "preview": True,
        "profile_id": context.profile_id,
        "channels": rendered,
        "failures": failures,
    }


def _sample_context(sample: dict[str, Any], event: dict[str, Any] | None) -> RenderContext:
    from cdp.messaging.content import RenderContext as Context

    unknown = sorted(str(key) for key in sample if key not in PREVIEW_TRAIT_FIELDS)
    traits, computed, tags = sample.get("traits", {}), sample.get("computed", {}), sample.get("tags", [])
    if (
        unknown
        or not isinstance(traits, dict)
        or not isinstance(computed, dict)
        or not isinstance(tags, list)
        or not all(isinstance(tag, str) for tag in tags)
    ):
        raise BadRequest(
            '`sample` is {"traits"?: {...}, "computed"?: {...}, "tags"?: ["..."]}',
            code="invalid_sample",
            details={"field": f"sample.{unknown[0]}" if unknown else "sample"},
        )
    return Context(profile_id="preview", traits=traits, computed=computed, tags=tags, event=event)
