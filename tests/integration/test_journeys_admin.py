"""Journey admin routes through the admin_api handler on moto: the schema, drafts checked against
the stored templates, edits with the revision, versions, delete (publishing needs the journey
runtime's adapters: tests/unit/test_journey_routes.py covers it on fakes)."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import Stack
from tests.integration.test_templates_admin import call
from tests.unit.test_journey_validation import cart

ONE = "/admin/v1/journeys/{id}"
TEMPLATE = {"id": "cart-reminder", "name": "Cart", "line": {"messages": [{"type": "text", "text": "Your cart"}]}}


def test_drafts_are_checked_against_the_stored_templates_and_edited_with_the_revision(stack: Stack) -> None:
    status, schema = call(stack, "GET", "/admin/v1/journeys/schema")
    assert status == 200 and schema["$id"].endswith("journey-definition.json")
    status, refused = call(stack, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    assert (status, refused["error"], refused["details"]["path"]) == (
        400,
        "invalid_journey",
        "/nodes/remind/template_id",
    )

    assert call(stack, "POST", "/admin/v1/templates", TEMPLATE)[0] == 201
    status, created = call(stack, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    assert (status, created["status"], created["revision"]) == (201, "draft", 1), created
    status, taken = call(stack, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    assert (status, taken["error"]) == (409, "journey_exists")

    edited: dict[str, Any] = {**cart(), "name": "Cart v2"}
    status, answer = call(stack, "PUT", "/admin/v1/journeys/cart", {"definition": edited, "revision": 1}, resource=ONE)
    assert (status, answer["revision"], answer["name"]) == (200, 2, "Cart v2")
    status, stale = call(stack, "PUT", "/admin/v1/journeys/cart", {"definition": cart(), "revision": 1}, resource=ONE)
    assert (status, stale["error"], stale["details"]) == (409, "journey_changed", {"revision": 2})
    status, listed = call(stack, "GET", "/admin/v1/journeys")
    assert status == 200 and [(j["journey_id"], j["name"]) for j in listed["journeys"]] == [("cart", "Cart v2")]
    status, missing = call(
        stack, "GET", "/admin/v1/journeys/cart/versions/1", resource="/admin/v1/journeys/{id}/versions/{version}"
    )
    assert (status, missing["error"]) == (404, "journey_version_not_found")

    status, deleted = call(stack, "DELETE", "/admin/v1/journeys/cart", resource=ONE)
    assert (status, deleted) == (200, {"journey_id": "cart", "deleted": True})
    status, gone = call(stack, "GET", "/admin/v1/journeys/cart", resource=ONE)
    assert (status, gone["error"]) == (404, "journey_not_found")
    items = stack.scan(stack.core_table)
    assert not [item for item in items if item["pk"]["S"].startswith("JOURNEY#")], json.dumps(items)[:500]
