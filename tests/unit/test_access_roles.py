"""Role enforcement: each admin route's least role (routes.py), its copy in the core layer, the
matching of a request to its route, the 403 answer and the OpenAPI document's `x-required-role`."""

from __future__ import annotations

import json
from typing import Any

import cdp_api.app as app_module
import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from cdp.access.principal import BOOTSTRAP, Principal
from cdp.access.roles import UNKNOWN_ROUTE_ROLE, RouteRoles
from cdp_api.app import AdminFunction
from cdp_api.context import AdminContext
from cdp_api.route_roles import ROUTE_ROLES

from infra.cdp_infra import route_roles
from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, ROUTES

VIEWER = Principal(subject="user:v", role="viewer", kind="user", name="viewer@example.com")
MARKETER = Principal(subject="service:m", role="marketer", kind="service", name="shop backend")
ADMIN_ROUTES = [route for route in ROUTES if route.function in (ADMIN_API, ADMIN_QUERY)]
# Reads sent as POST (a query body): they change nothing.
READS_BY_POST = {("POST", "/admin/v1/segments/preview")}


def test_the_core_layer_copy_of_the_roles_is_current() -> None:
    assert route_roles.TARGET.read_text(encoding="utf-8") == route_roles.render(), (
        "run `.venv/bin/python -m infra.cdp_infra.route_roles` after changing routes.py"
    )
    assert {(route.method, route.path): route.role for route in ADMIN_ROUTES} == ROUTE_ROLES


def test_writes_need_more_than_viewer_and_settings_need_admin() -> None:
    for route in ADMIN_ROUTES:
        if route.method != "GET" and (route.method, route.path) not in READS_BY_POST:
            assert route.role != "viewer", f"{route.method} {route.path} changes data: marketer at least"
    admin_only = {(r.method, r.path) for r in ADMIN_ROUTES if r.role == "admin"}
    assert {
        ("PUT", "/admin/v1/identity/rules"),
        ("PUT", "/admin/v1/messaging/policy"),
        ("PUT", "/admin/v1/messaging/pricing"),
        ("PUT", "/admin/v1/tags/rules"),
        ("PUT", "/admin/v1/auto-replies"),
        ("POST", "/admin/v1/profiles/{id}/unmerge"),
        ("GET", "/admin/v1/imports/{id}/rejected"),  # raw PII in a file: no masking possible
        ("POST", "/admin/v1/tokens"),
        ("DELETE", "/admin/v1/tokens/{id}"),
    } <= admin_only


def test_a_request_matches_its_route_like_the_gateway() -> None:
    roles = RouteRoles(
        {
            ("GET", "/admin/v1/profiles/lookup"): "viewer",
            ("GET", "/admin/v1/profiles/{id}"): "marketer",
            ("PUT", "/admin/v1/segments/{id}"): "marketer",
        }
    )
    # The gateway's resource path names the route; parameter names do not matter.
    assert roles.required("GET", "/admin/v1/profiles/p1", "/admin/v1/profiles/{profile_id}") == "marketer"
    # Without one, the path: static segments win over parameters.
    assert roles.required("GET", "/admin/v1/profiles/lookup") == "viewer"
    assert roles.required("get", "/admin/v1/profiles/p1") == "marketer"
    # Anything not in the table needs the highest role.
    assert roles.required("DELETE", "/admin/v1/profiles/p1") == UNKNOWN_ROUTE_ROLE == "admin"
    assert roles.required("GET", "/admin/v1/profiles/p1/extra") == "admin"
    with pytest.raises(ValueError, match="owner"):
        RouteRoles({("GET", "/x"): "owner"})  # type: ignore[dict-item]


def _event(method: str, path: str, resource: str) -> dict[str, Any]:
    return {
        "httpMethod": method,
        "path": path,
        "resource": resource,
        "headers": {"Authorization": "Bearer anything"},
        "queryStringParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "req-7", "resourcePath": resource, "httpMethod": method, "stage": "v1"},
    }


def _unused_context() -> AdminContext:
    raise AssertionError("the routes here read no adapters")


@pytest.fixture
def function() -> AdminFunction:
    router = Router()  # type: ignore[no-untyped-call]

    @router.get("/admin/v1/segments/<segment_id>")
    def read(segment_id: str) -> dict[str, Any]:
        return {"id": segment_id}

    @router.put("/admin/v1/segments/<segment_id>")
    def write(segment_id: str) -> dict[str, Any]:
        return {"id": segment_id}

    @router.put("/admin/v1/identity/rules")
    def settings() -> dict[str, Any]:
        return {"ok": True}

    return AdminFunction((router,), _unused_context)


def _call(monkeypatch: pytest.MonkeyPatch, function: AdminFunction, who: Principal, event: dict[str, Any]) -> Any:
    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: who)
    return function(event, None)


def test_a_role_below_the_route_answers_403_naming_the_role_it_needs(
    monkeypatch: pytest.MonkeyPatch, function: AdminFunction
) -> None:
    answer = _call(monkeypatch, function, VIEWER, _event("PUT", "/admin/v1/segments/s1", "/admin/v1/segments/{id}"))
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 403
    assert body["error"] == "forbidden" and body["request_id"] == "req-7"
    assert body["details"] == {"required_role": "marketer", "role": "viewer"}
    assert "marketer" in body["message"]

    answer = _call(
        monkeypatch, function, MARKETER, _event("PUT", "/admin/v1/identity/rules", "/admin/v1/identity/rules")
    )
    assert answer["statusCode"] == 403 and json.loads(answer["body"])["details"]["required_role"] == "admin"


def test_a_role_at_or_above_the_route_is_let_through(monkeypatch: pytest.MonkeyPatch, function: AdminFunction) -> None:
    read = _event("GET", "/admin/v1/segments/s1", "/admin/v1/segments/{id}")
    write = _event("PUT", "/admin/v1/segments/s1", "/admin/v1/segments/{id}")
    rules = _event("PUT", "/admin/v1/identity/rules", "/admin/v1/identity/rules")
    assert _call(monkeypatch, function, VIEWER, read)["statusCode"] == 200
    assert _call(monkeypatch, function, MARKETER, write)["statusCode"] == 200
    assert _call(monkeypatch, function, BOOTSTRAP, rules)["statusCode"] == 200


def test_the_routes_see_the_signed_in_principal(monkeypatch: pytest.MonkeyPatch) -> None:
    from cdp_api.routes import access

    function = AdminFunction((access.router,), _unused_context)
    answer = _call(monkeypatch, function, VIEWER, _event("GET", "/admin/v1/me", "/admin/v1/me"))
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "subject": "user:v",
        "role": "viewer",
        "kind": "user",
        "name": "viewer@example.com",
    }


def test_the_document_names_the_role_of_every_operation() -> None:
    from cdp_api.openapi import admin_openapi

    document = admin_openapi()
    declared = {(route.method, route.path.replace("{", "").replace("}", "")): route.role for route in ADMIN_ROUTES}
    seen = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/admin/v1/openapi.json", "/admin/v1/docs"):
                assert "x-required-role" not in operation
                continue
            role = RouteRoles(ROUTE_ROLES).required(method.upper(), path, path)
            assert operation["x-required-role"] == role, f"{method} {path}"
            assert f"Role: **{role}**" in operation["description"] and "403" in operation["responses"]
            seen += 1
    assert seen == len(declared) - 2
