"""Every JSON-reading admin route refuses what no store can keep, through the one strict reader:
NaN/Infinity, integers past 64 bits, lone surrogates and deep nesting answer 400 with a stable
code and the field's JSON pointer (they used to answer 502/503 or be stored)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}

# (method, path, resource, path parameters, a body with `%s` where the bad value goes, its pointer)
ROUTES = [
    ("POST", "/admin/v1/segments", None, None, '{"id":"vip","name":%s,"rule":{}}', "/name"),
    ("PUT", "/admin/v1/segments/vip", "/admin/v1/segments/{id}", {"id": "vip"}, '{"name":%s}', "/name"),
    ("POST", "/admin/v1/segments/preview", None, None, '{"rule":{"all":[]},"sample":%s}', "/sample"),
    ("POST", "/admin/v1/line/link-token", None, None, '{"profileId":%s}', "/profileId"),
    ("POST", "/admin/v1/line/login", None, None, '{"idToken":%s}', "/idToken"),
    ("PUT", "/admin/v1/identity/rules", None, None, '{"version":%s}', "/version"),
    ("PUT", "/admin/v1/tags/rules", None, None, '{"version":0,"rules":[{"x":%s}]}', "/rules/0/x"),
    ("PUT", "/admin/v1/messaging/policy", None, None, '{"version":0,"caps":{"line":{"day":%s}}}', "/caps/line/day"),
    ("POST", "/admin/v1/links", None, None, '{"url":"https://a.example","src":%s}', "/src"),
    (
        "POST",
        "/admin/v1/profiles/p1/tags",
        "/admin/v1/profiles/{id}/tags",
        {"id": "p1"},
        '{"add":[%s]}',
        "/add/0",
    ),
    ("POST", "/admin/v1/imports/members", None, None, '{"upload":%s}', "/upload"),
    (
        "POST",
        "/admin/v1/templates",
        None,
        None,
        '{"name":"x","line":{"messages":[{"type":"text","text":%s}]}}',
        "/line/messages/0/text",
    ),
    (
        "PUT",
        "/admin/v1/templates/t1",
        "/admin/v1/templates/{id}",
        {"id": "t1"},
        '{"version":1,"sms":{"text":%s}}',
        "/sms/text",
    ),
    (
        "POST",
        "/admin/v1/templates/t1/render",
        "/admin/v1/templates/{id}/render",
        {"id": "t1"},
        '{"event":{"x":%s}}',
        "/event/x",
    ),
]
SMALL_BODY_ROUTES = {"/admin/v1/line/link-token", "/admin/v1/line/login", "/admin/v1/imports/members"}
VALUES = [
    ('"\\ud800"', "invalid_encoding"),
    ("NaN", "non_finite_number"),
    ("-Infinity", "non_finite_number"),
    ("18446744073709551616", "integer_out_of_range"),
]


def _send(stack: Stack, method: str, path: str, resource: str | None, params: Any, body: bytes) -> dict[str, Any]:
    event = api_event(method, path, resource=resource, path_parameters=params, headers=ADMIN, body=body)
    response: dict[str, Any] = stack.invoke("admin_api", event)
    return response


@pytest.mark.parametrize(
    ("method", "path", "resource", "params", "shape", "field"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_unstorable_values_and_deep_nesting_are_400_on_every_admin_route(
    stack: Stack, method: str, path: str, resource: str | None, params: Any, shape: str, field: str
) -> None:
    for value, code in VALUES:
        response = _send(stack, method, path, resource, params, (shape % value).encode())
        assert response["statusCode"] == 400, (value, response)
        payload = response_json(response)
        assert (payload["error"], payload["details"]["field"]) == (code, field), value

    # Routes with a small body limit (LINE binding 16 KB, presigned-upload request 4 KB) answer a
    # 10,000-level body 413 before reading it; 1,500 levels fit and must still be refused.
    levels = 1_500 if path in SMALL_BODY_ROUTES else 10_000
    response = _send(stack, method, path, resource, params, (shape % ("[" * levels + "]" * levels)).encode())
    assert response["statusCode"] == 400, response
    assert response_json(response)["error"] == "json_too_deep"
