"""Service tokens through the admin function on moto: created with the bootstrap token (the secret
once), used with their role, listed without secrets, revoked (then refused)."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN, Stack, api_event, response_json


def call(
    stack: Stack, method: str, path: str, token: str, body: Any = None, resource: str | None = None
) -> tuple[int, Any]:
    event = api_event(
        method,
        path,
        resource=resource,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps(body) if body is not None else None,
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_a_service_token_acts_with_its_role_until_revoked(stack: Stack) -> None:
    status, created = call(stack, "POST", "/admin/v1/tokens", ADMIN_TOKEN, {"name": "shop backend", "role": "marketer"})
    assert status == 201, created
    secret, token_id = created["secret"], created["token"]["id"]
    assert created["token"]["role"] == "marketer" and created["token"]["createdBy"] == "bootstrap"

    # At rest: the SHA-256 only, never the secret.
    stored = json.dumps(stack.scan(stack.core_table))
    assert secret not in stored and secret.split("_")[-1] not in stored

    status, me = call(stack, "GET", "/admin/v1/me", secret)
    assert (status, me["role"], me["kind"], me["name"]) == (200, "marketer", "service", "shop backend")
    # A marketer cannot manage tokens.
    status, refused = call(stack, "GET", "/admin/v1/tokens", secret)
    assert (status, refused["error"], refused["details"]["required_role"]) == (403, "forbidden", "admin")

    status, listed = call(stack, "GET", "/admin/v1/tokens", ADMIN_TOKEN)
    assert status == 200 and [t["id"] for t in listed["tokens"]] == [token_id]
    assert secret not in json.dumps(listed)

    path, resource = f"/admin/v1/tokens/{token_id}", "/admin/v1/tokens/{id}"
    status, revoked = call(stack, "DELETE", path, ADMIN_TOKEN, resource=resource)
    assert status == 200 and revoked["active"] is False and revoked["revokedBy"] == "bootstrap"
    assert call(stack, "DELETE", path, ADMIN_TOKEN, resource=resource) == (200, revoked)  # idempotent
    status, refused = call(stack, "GET", "/admin/v1/me", secret)
    assert (status, refused["error"]) == (401, "invalid_service_token")
    assert call(stack, "DELETE", "/admin/v1/tokens/0123456789abcdef", ADMIN_TOKEN, resource=resource)[0] == 404


def test_creating_a_token_checks_its_body(stack: Stack) -> None:
    for body, code in (
        ({"name": "x", "role": "owner"}, "invalid_role"),
        ({"role": "viewer"}, "invalid_token_name"),
        ({"name": "x", "role": "viewer", "scope": "all"}, "unknown_token_field"),
        ({"name": "", "role": "viewer"}, "invalid_token_name"),
    ):
        status, answer = call(stack, "POST", "/admin/v1/tokens", ADMIN_TOKEN, body)
        assert (status, answer["error"]) == (400, code), body
