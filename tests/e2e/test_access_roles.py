"""Every admin route × every role over HTTP on the local stack: a role below the route's least role
answers 403 `forbidden` naming the role it needs; a role at or above it is let through (the
operation may still answer 400/404 to these placeholder requests: only the gate is under test).

The roles sign in with service tokens the bootstrap admin token creates, as a deployment does."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cdp.access.principal import ROLES, Role

from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, ROUTES, Route
from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PUBLIC = {"/admin/v1/openapi.json", "/admin/v1/docs"}
ADMIN_ROUTES = [r for r in ROUTES if r.function in (ADMIN_API, ADMIN_QUERY) and r.path not in PUBLIC]
PLACEHOLDERS = {"code": "nosuchcode", "version": "1"}


def _path(route: Route) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PLACEHOLDERS.get(m.group(1), f"no-such-{m.group(1)}"), route.path)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> Iterator[dict[Role, str]]:
    """One service token per role, revoked when the module ends."""
    made: dict[Role, tuple[str, str]] = {}
    for role in ROLES:
        answer = stack.http.post(
            stack.url("/admin/v1/tokens"),
            json={"name": unique(f"e2e-{role}"), "role": role},
            headers=_bearer(ADMIN_TOKEN),
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        made[role] = (answer.json()["token"]["id"], answer.json()["secret"])
    yield {role: secret for role, (_id, secret) in made.items()}
    for token_id, _secret in made.values():
        stack.http.delete(stack.url(f"/admin/v1/tokens/{token_id}"), headers=_bearer(ADMIN_TOKEN), timeout=30)


def _call(stack: Stack, route: Route, token: str) -> requests.Response:
    body: dict[str, Any] | None = {} if route.method in ("POST", "PUT") else None
    return stack.http.request(route.method, stack.url(_path(route)), json=body, headers=_bearer(token), timeout=120)


def test_each_role_gets_exactly_the_routes_it_should(stack: Stack, tokens: dict[Role, str]) -> None:
    started, wrong, checked = time.monotonic(), [], 0
    for route in ADMIN_ROUTES:
        for role in ROLES:
            answer = _call(stack, route, tokens[role])
            allowed = ROLES.index(role) >= ROLES.index(route.role)
            body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
            if allowed and answer.status_code in (401, 403):
                wrong.append(f"{role} refused {route.method} {route.path}: {answer.status_code} {body}")
            if not allowed and (
                answer.status_code != 403
                or body.get("error") != "forbidden"
                or body.get("details", {}).get("required_role") != route.role
            ):
                wrong.append(f"{role} let through {route.method} {route.path}: {answer.status_code} {body}")
            checked += 1
    assert not wrong, "\n".join(wrong)
    assert checked == len(ADMIN_ROUTES) * len(ROLES)
    print(f"{checked} route x role checks in {time.monotonic() - started:.1f} s")


def test_the_bootstrap_token_is_an_admin_and_me_names_each_caller(stack: Stack, tokens: dict[Role, str]) -> None:
    for role, token in tokens.items():
        me = stack.http.get(stack.url("/admin/v1/me"), headers=_bearer(token), timeout=30).json()
        assert (me["role"], me["kind"]) == (role, "service")
    me = stack.http.get(stack.url("/admin/v1/me"), headers=_bearer(ADMIN_TOKEN), timeout=30).json()
    assert me == {"subject": "bootstrap", "role": "admin", "kind": "bootstrap", "name": "bootstrap admin token"}
    refused = stack.http.get(
        stack.url("/admin/v1/me"), headers=_bearer("cdp_st_0123456789abcdef_" + "x" * 43), timeout=30
    )
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_service_token")


def test_local_users_sign_in_to_the_user_pool_and_act_with_their_group_role(stack: Stack) -> None:
    from infra.local.users import LOCAL_USERS, local_password

    for role, email in LOCAL_USERS.items():
        signed = stack.http.post(
            stack.url("/_local/users/sign-in"), json={"username": email, "password": local_password()}, timeout=30
        )
        assert signed.status_code == 200, signed.text
        id_token = signed.json()["idToken"]
        me = stack.http.get(stack.url("/admin/v1/me"), headers=_bearer(id_token), timeout=30).json()
        assert (me["role"], me["kind"], me["name"]) == (role, "user", email) and me["subject"].startswith("user:")
        rules = stack.http.put(stack.url("/admin/v1/identity/rules"), json={}, headers=_bearer(id_token), timeout=30)
        if role == "admin":
            assert rules.status_code not in (401, 403)  # let through (the route refuses the empty body)
        else:
            assert (rules.status_code, rules.json()["details"]["required_role"]) == (403, "admin")
    wrong = stack.http.post(
        stack.url("/_local/users/sign-in"), json={"username": LOCAL_USERS["admin"], "password": "nope"}, timeout=30
    )
    assert wrong.status_code == 401
    forged = signed.json()["idToken"][:-6] + "AAAAAA"
    refused = stack.http.get(stack.url("/admin/v1/me"), headers=_bearer(forged), timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_user_token")


def test_the_console_signs_in_through_the_hosted_sign_in_stand_in(stack: Stack) -> None:
    from infra.local.users import LOCAL_USERS, local_password

    config = stack.http.get(stack.url("/config.json"), timeout=30).json()
    sign_in = config["signIn"]
    page = stack.http.get(
        f"{sign_in['url']}/oauth2/authorize",
        params={
            "client_id": sign_in["clientId"],
            "redirect_uri": stack.url("/"),
            "response_type": "token",
            "state": "s1",
        },
        timeout=30,
    )
    assert page.status_code == 200 and "<form" in page.text
    back = stack.http.post(
        f"{sign_in['url']}/oauth2/authorize",
        data={
            "client_id": sign_in["clientId"],
            "redirect_uri": stack.url("/"),
            "state": "s1",
            "username": LOCAL_USERS["marketer"],
            "password": local_password(),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert back.status_code == 302
    location = back.headers["Location"]
    assert location.startswith(stack.url("/") + "#")
    fragment = dict(part.split("=", 1) for part in location.split("#", 1)[1].split("&"))
    assert fragment["state"] == "s1" and fragment["token_type"] == "Bearer"
    me = stack.http.get(stack.url("/admin/v1/me"), headers=_bearer(fragment["id_token"]), timeout=30).json()
    assert me["role"] == "marketer"
