"""Tag administration: the workspace's tag rules (keyword and postback rules)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from cdp.profiles.tag_rules import TagRules

from cdp_api.context import admin_context
from cdp_api.docs import errors, ok
from cdp_api.models import TagRulesDocument
from cdp_api.routes.auto_replies import check_reply_templates

router = Router()  # type: ignore[no-untyped-call]


@router.get("/admin/v1/tags/rules", responses=ok(200, "The rules in force", "TagRules"))
def get_tag_rules() -> dict[str, Any]:
    """The tag rules: keywords in messages and postback data that tag a person."""
    return admin_context().tag_rules().get().as_dict()


@router.put("/admin/v1/tags/rules", responses={**ok(200, "The rules saved", "TagRules"), **errors(404, 409)})
def put_tag_rules(document: Annotated[TagRulesDocument, Body()]) -> dict[str, Any]:
    """Replace the rules; `version` must be the version read (compare-and-set, 409 if stale). A
    rule's `reply` names a template that must exist (404 `template_not_found`) with LINE content."""
    rules = TagRules.from_dict(document.fields())
    check_reply_templates(rules.template_ids())
    return admin_context().tag_rules().put(rules, expected_version=document.version).as_dict()
