"""Tag administration: the workspace's tag rules (keyword and postback rules)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.tag_rules import DynamoTagRules
from cdp.admin.context import admin_context
from cdp.errors import BadRequest
from cdp.profiles.tag_rules import TagRules

router = Router()  # type: ignore[no-untyped-call]


def _rules() -> DynamoTagRules:
    return DynamoTagRules(client("dynamodb"), admin_context().settings.core_table)


@router.get("/admin/v1/tags/rules")
def get_tag_rules() -> dict[str, Any]:
    return _rules().get().as_dict()


@router.put("/admin/v1/tags/rules")
def put_tag_rules() -> dict[str, Any]:
    """Replace the rules; `version` must be the version read (compare-and-set, 409 if stale)."""
    try:
        body = router.current_event.json_body
    except ValueError as exc:
        raise BadRequest("the body must be JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    expected = body.get("version", 0)
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise BadRequest("`version` must be the rules version you read (0 for none)", code="invalid_version")
    return _rules().put(TagRules.from_dict(body), expected_version=expected).as_dict()
