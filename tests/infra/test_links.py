"""Tracked links in the synthesized template: the public redirect route and function, least privilege."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings

from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, LINK_REDIRECT, ROUTES
from tests.infra.test_stack import _actions, _all_actions, _api_methods, _arn, _function, _function_id, _output_ref
from tests.infra.test_stack import _statements as statements_of

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

LINK_PREFIX_CONDITION = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LINK#*"]}}


def test_the_public_redirect_is_the_only_route_of_its_function_and_open_to_all(synth: Any) -> None:
    t = synth.template
    assert [(r.method, r.path) for r in ROUTES if r.function == LINK_REDIRECT] == [
        ("GET", "/r/{code}"),
        ("GET", "/u/{token}"),  # one-click unsubscribe (docs/messaging.md), signed like personal links
        ("POST", "/u/{token}"),
    ]
    for key in (("GET", "/r/{code}"), ("GET", "/u/{token}"), ("POST", "/u/{token}")):
        method = _api_methods(t)[key]
        assert method["AuthorizationType"] == "NONE"
        assert _function_id(t, LINK_REDIRECT) in json.dumps(method["Integration"]["Uri"])
    admin_routes = {(r.method, r.path) for r in ROUTES if r.path.startswith("/admin/v1/links")}
    assert admin_routes == {
        ("POST", "/admin/v1/links"),
        ("GET", "/admin/v1/links"),
        ("GET", "/admin/v1/links/{code}"),
        ("GET", "/admin/v1/links/{code}/qr.svg"),
        ("POST", "/admin/v1/links/{code}/personal"),
    }
    assert all(r.function in (ADMIN_API, ADMIN_QUERY) for r in ROUTES if r.path.startswith("/admin/"))


def test_the_redirect_reads_links_adds_counts_puts_raw_events_and_reads_only_the_signing_key(synth: Any) -> None:
    t = synth.template
    statements = statements_of(t, LINK_REDIRECT)
    raw, core = _output_ref(t, "RawEventsTableName"), _output_ref(t, "CoreTableName")
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    assert sorted(dynamodb, key=json.dumps) == sorted(
        [
            {
                "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "Condition": LINK_PREFIX_CONDITION,
                "Effect": "Allow",
                "Resource": _arn(core),
            },
            {"Action": "dynamodb:PutItem", "Effect": "Allow", "Resource": _arn(raw)},
        ],
        key=json.dumps,
    )
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in _actions(s))]
    assert [s["Resource"] for s in secrets] == [{"Ref": _output_ref(t, "LinkSigningKeySecretArn")}]
    assert _all_actions(secrets) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    dumped = json.dumps(statements)
    for other in ("AdminTokenSecretArn", "LineChannelsSecretArn", "WriteKeysSecretArn", "EventBusName"):
        assert _output_ref(t, other) not in dumped, f"the redirect can reach {other}"
    assert not {
        a for a in _all_actions(statements) if a.split(":")[0] not in ("dynamodb", "secretsmanager", "logs", "xray")
    }


def test_the_admin_api_writes_link_items_only_under_their_prefix(synth: Any) -> None:
    t = synth.template
    link_puts = [s for s in statements_of(t, ADMIN_API) if s.get("Condition") == LINK_PREFIX_CONDITION]
    assert link_puts == [
        {
            "Action": "dynamodb:PutItem",
            "Condition": LINK_PREFIX_CONDITION,
            "Effect": "Allow",
            "Resource": _arn(_output_ref(t, "CoreTableName")),
        }
    ]


def test_the_redirect_and_the_admin_api_get_the_link_configuration(synth: Any) -> None:
    t = synth.template
    redirect = _function(t, LINK_REDIRECT)
    variables = redirect["Environment"]["Variables"]
    assert variables[settings.ENV_CORE_TABLE] == {"Ref": _output_ref(t, "CoreTableName")}
    assert variables[settings.ENV_RAW_EVENTS_TABLE] == {"Ref": _output_ref(t, "RawEventsTableName")}
    assert variables[settings.ENV_LINK_SIGNING_SECRET] == {"Ref": _output_ref(t, "LinkSigningKeySecretArn")}
    assert settings.LinkRedirectSettings.from_env({k: str(v) for k, v in variables.items()}).link_cache_seconds == 30
    assert redirect["Timeout"] <= 5  # a visitor is waiting
    admin = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert admin[settings.ENV_LINK_SIGNING_SECRET] == {"Ref": _output_ref(t, "LinkSigningKeySecretArn")}
    assert settings.ENV_LINK_BASE_URL not in admin  # no `linkBaseUrl` context: the request's host is used


def test_the_signing_key_is_generated_and_kept(synth: Any) -> None:
    resource = synth.template["Resources"][_output_ref(synth.template, "LinkSigningKeySecretArn")]
    assert resource["Properties"]["GenerateSecretString"] == {"ExcludePunctuation": True, "PasswordLength": 64}
    assert "SecretString" not in resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain"  # personal links already sent must stay verifiable
