"""The workspace's messaging policy through the admin API on moto: defaults until saved, replaced
compare-and-set, refused with the field named, and what the send point then reads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp.adapters.dynamodb.send_ledger import DynamoPolicySource

from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
PATH = "/admin/v1/messaging/policy"


def call(stack: Stack, method: str, body: Any = None) -> tuple[int, Any]:
    event = api_event(method, PATH, headers=BEARER, body=json.dumps(body) if body is not None else None)
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_the_policy_is_the_default_until_saved_then_replaced_compare_and_set(stack: Stack) -> None:
    status, default = call(stack, "GET")
    assert status == 200
    assert default["version"] == 0 and default["quiet_hours"] == {"start": "22:00", "end": "09:00"}
    assert default["require_opt_in"] == {"line": False, "email": True, "sms": True}
    assert default["caps"]["line"] == {"day": 2, "week": 6}

    status, saved = call(
        stack,
        "PUT",
        {"version": 0, "quiet_hours": {"start": "21:30", "end": "08:00"}, "caps": {"line": {"day": 3, "week": None}}},
    )
    assert status == 200 and saved["version"] == 1
    assert saved["caps"]["line"] == {"day": 3, "week": None} and saved["time_zone"] == "Asia/Taipei"
    assert call(stack, "GET")[1] == saved

    stale_status, stale = call(stack, "PUT", {"version": 0, "quiet_hours": None})
    assert (stale_status, stale["error"]) == (409, "rules_version_conflict")

    status, off = call(stack, "PUT", {"version": 1, "quiet_hours": None})
    assert status == 200 and off["quiet_hours"] is None and off["caps"]["line"] == {"day": 2, "week": 6}
    read = DynamoPolicySource(stack.client("dynamodb"), stack.core_table).policy()
    assert read.quiet_hours is None and dict(read.caps["line"]) == {"day": 2, "week": 6}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"time_zone": "Mars/Base"}, "invalid_messaging_policy", "time_zone"),
        ({"quiet_hours": {"start": "25:00", "end": "09:00"}}, "invalid_messaging_policy", "quiet_hours.start"),
        ({"quiet_hours": {"start": "22:00"}}, "invalid_messaging_policy", "quiet_hours"),
        ({"require_opt_in": {"fax": True}}, "invalid_messaging_policy", "require_opt_in.fax"),
        ({"caps": {"line": {"day": 0}}}, "invalid_messaging_policy", "caps.line.day"),
        ({"caps": {"line": {"month": 9}}}, "invalid_messaging_policy", "caps.line"),
        ({"caps": []}, "invalid_messaging_policy", None),
        ({"window": 1}, "unknown_policy_field", None),
        ({"version": -1}, "invalid_version", None),
    ],
)
def test_a_policy_that_cannot_be_used_is_refused_naming_the_field(
    stack: Stack, body: dict[str, Any], code: str, field: str | None
) -> None:
    status, error = call(stack, "PUT", {"version": 0, **body} if "version" not in body else body)
    assert (status, error["error"]) == (400, code)
    if field is not None:
        assert error["details"]["field"] == field
    assert call(stack, "GET")[1]["version"] == 0
