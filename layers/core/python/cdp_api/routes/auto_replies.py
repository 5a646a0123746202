"""Auto-replies (cdp.messaging.auto_reply): each LINE channel's greeting and fallback reply.
Keyword and postback replies are part of the tag rules (`/admin/v1/tags/rules`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.errors import BadRequest, NotFound
from cdp.messaging.auto_reply import AutoReplies
from cdp.messaging.templates.model import STATUS_ACTIVE

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import AutoRepliesDocument

router = Router()  # type: ignore[no-untyped-call]


def check_reply_templates(template_ids: Iterable[str]) -> None:
    """Every reply's template exists, is active and has LINE content: a reply that could never be
    sent is refused when saved, not found out when a friend writes."""
    store = admin_context().templates()
    for template_id in sorted(template_ids):
        template = store.get(template_id)
        if template is None:
            raise NotFound(f"no template {template_id}", code="template_not_found")
        if template.status != STATUS_ACTIVE:
            raise BadRequest(f"template {template_id} is archived", code="template_archived")
        if "line" not in template.channels:
            raise BadRequest(f"template {template_id} has no LINE content", code="template_not_for_line")


@router.get("/admin/v1/auto-replies", responses={**ok(200, "The auto-replies", "AutoReplies")})
def get_auto_replies() -> dict[str, Any]:
    """Each LINE channel's greeting (on follow) and fallback (a message no keyword matched)."""
    return admin_context().auto_replies().get().as_dict()


@router.put(
    "/admin/v1/auto-replies", responses={**ok(200, "The auto-replies saved", "AutoReplies"), **errors(404, 409)}
)
def put_auto_replies(document: Annotated[AutoRepliesDocument, Body()]) -> dict[str, Any]:
    """Replace them; `version` must be the version read (compare-and-set, 409 if stale). A reply's
    template must exist (404 `template_not_found`), be active and have LINE content."""
    replies = AutoReplies.from_dict(document.fields())
    check_reply_templates(replies.template_ids())
    return admin_context().auto_replies().put(replies, expected_version=document.version).as_dict()
