"""Access in the template: each public route's own throttle (stage method settings, no resource),
the console users' pool in the console's nested stack, and the admin functions reading its outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.cdp_infra.access import (
    OUTPUT_CLIENT_ID,
    OUTPUT_HOSTED_UI,
    OUTPUT_ISSUER,
    OUTPUT_POOL_ID,
    REDIRECT_THROTTLE,
    UNSUBSCRIBE_THROTTLE,
    public_throttle,
)
from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, INGEST, LINE_WEBHOOK, LINK_REDIRECT, ROUTES
from tests.infra.conftest import Synth

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def _method_settings(synth: Synth) -> dict[tuple[str, str], dict[str, Any]]:
    [stage] = _resources(synth.template, "AWS::ApiGateway::Stage").values()
    # "/~1line~1webhook~1{channel}" is "/line/webhook/{channel}" ("/*" is every resource)
    return {
        (_decoded(setting["ResourcePath"]), setting["HttpMethod"]): setting
        for setting in stage["Properties"]["MethodSettings"]
    }


def _decoded(resource_path: str) -> str:
    return resource_path[1:].replace("~1", "/") if resource_path.startswith("/~1") else resource_path


def test_every_public_route_has_its_own_throttle_and_admin_routes_the_stage_default(synth: Synth) -> None:
    settings = _method_settings(synth)
    public = [route for route in ROUTES if route.function in (LINE_WEBHOOK, INGEST, LINK_REDIRECT)]
    assert len(public) == len(settings) - 1  # every public method, and the stage-wide default
    for route in public:
        limit = public_throttle(route)
        assert limit is not None
        setting = settings[(route.path, route.method)]
        assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (limit.rate, limit.burst), route
        assert limit.burst >= limit.rate
    assert settings[("/r/{code}", "GET")]["ThrottlingRateLimit"] == REDIRECT_THROTTLE.rate
    assert settings[("/u/{token}", "POST")]["ThrottlingRateLimit"] == UNSUBSCRIBE_THROTTLE.rate
    admin_paths = {route.path for route in ROUTES if route.function in (ADMIN_API, ADMIN_QUERY)}
    assert not {path for path, _method in settings if path in admin_paths}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] > max(
        s["ThrottlingRateLimit"] for key, s in settings.items() if key != ("/*", "*")
    )


def _console_template(synth: Synth) -> dict[str, Any]:
    [path] = [p for p in synth.outdir.glob("*.nested.template.json") if "Console" in p.name]
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_the_user_pool_has_one_group_per_role_no_self_sign_up_and_the_console_as_callback(synth: Synth) -> None:
    console = _console_template(synth)
    [pool] = _resources(console, "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Properties"]["UsernameAttributes"] == ["email"]
    assert pool["Properties"]["Policies"]["PasswordPolicy"]["MinimumLength"] >= 12
    assert pool["DeletionPolicy"] == "Retain"
    groups = {
        g["Properties"]["GroupName"]: g["Properties"]["Precedence"]
        for g in _resources(console, "AWS::Cognito::UserPoolGroup").values()
    }
    assert groups == {"admin": 0, "marketer": 1, "viewer": 2}
    [client] = _resources(console, "AWS::Cognito::UserPoolClient").values()
    props = client["Properties"]
    assert props["GenerateSecret"] is False and props["AllowedOAuthFlows"] == ["implicit"]
    assert set(props["AllowedOAuthScopes"]) == {"openid", "email"}
    assert "Distribution" in json.dumps(props["CallbackURLs"])  # the console's own CloudFront URL
    assert len(_resources(console, "AWS::Cognito::UserPoolDomain")) == 1
    assert {OUTPUT_POOL_ID, OUTPUT_ISSUER, OUTPUT_CLIENT_ID, OUTPUT_HOSTED_UI} <= set(console["Outputs"])


def test_the_admin_functions_read_the_pool_issuer_and_client_from_the_nested_stack(synth: Synth) -> None:
    functions = _resources(synth.template, "AWS::Lambda::Function")
    wired = {
        key: fn["Properties"]["Environment"]["Variables"]
        for key, fn in functions.items()
        if "CDP_USER_POOL_ISSUER" in fn["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert len(wired) == 2 and all(
        ADMIN_API in key or ADMIN_QUERY in key.lower() or "admin" in key.lower() for key in wired
    )
    for variables in wired.values():
        assert variables["CDP_USER_POOL_ISSUER"]["Fn::GetAtt"][1] == f"Outputs.{OUTPUT_ISSUER}"
        assert variables["CDP_USER_POOL_CLIENT_ID"]["Fn::GetAtt"][1] == f"Outputs.{OUTPUT_CLIENT_ID}"
    # The pool adds no resource to the main stack (it lives in the console's nested stack).
    assert not _resources(synth.template, "AWS::Cognito::UserPool")
