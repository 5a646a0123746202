"""The local stack's console users: the template's user pool made on moto with one user per role,
whether the pool's resources are folded into the template or only its nested stack's outputs are
referenced; the functions' issuer resolves to the pool's own."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.cdp_infra.access import OUTPUT_CLIENT_ID, OUTPUT_ISSUER
from infra.local.config import REGION
from infra.local.provision import LocalResources, TemplateError, _resolve, provision_users
from infra.local.users import LOCAL_USERS, local_password

ISSUER_JOIN = {
    "Fn::Join": [
        "",
        ["https://cognito-idp.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}, "/", {"Ref": "UsersPool1"}],
    ]
}


def _aws(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield _aws


def _signs_in_every_role(out: LocalResources) -> None:
    assert out.user_pool is not None
    for role, email in LOCAL_USERS.items():
        token = out.user_pool.sign_in(email, local_password())
        assert token is not None and token["idToken"].count(".") == 2, role
    assert out.user_pool.sign_in(LOCAL_USERS["admin"], "wrong-Password-1") is None
    groups = _aws("cognito-idp").list_groups(UserPoolId=out.user_pool.pool_id)["Groups"]
    assert sorted(group["GroupName"] for group in groups) == ["admin", "marketer", "viewer"]


def test_a_folded_in_pool_is_made_and_the_issuer_join_resolves_to_it(aws: Any) -> None:
    resources = {
        "UsersPool1": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
        "UsersConsole1": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {}},
    }
    out = LocalResources()
    provision_users(aws, resources, out, "cdp-local-users")
    assert out.user_pool is not None
    assert _resolve(ISSUER_JOIN, out) == out.user_pool.issuer
    assert out.user_pool.issuer == f"https://cognito-idp.{REGION}.amazonaws.com/{out.user_pool.pool_id}"
    assert _resolve({"Ref": "UsersConsole1"}, out) == out.user_pool.client_id
    _signs_in_every_role(out)


def test_a_pool_in_a_nested_stack_is_made_and_its_outputs_answered_by_name(aws: Any) -> None:
    resources = {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Environment": {"Variables": {"X": {"Fn::GetAtt": ["Console1", f"Outputs.{OUTPUT_ISSUER}"]}}}
            },
        }
    }
    out = LocalResources()
    provision_users(aws, resources, out, "cdp-local-users")
    assert out.user_pool is not None
    assert _resolve({"Fn::GetAtt": ["Console1", f"Outputs.{OUTPUT_ISSUER}"]}, out) == out.user_pool.issuer
    assert _resolve({"Fn::GetAtt": ["Console1", f"Outputs.{OUTPUT_CLIENT_ID}"]}, out) == out.user_pool.client_id
    _signs_in_every_role(out)


def test_no_pool_no_users_and_two_pools_refused(aws: Any) -> None:
    out = LocalResources()
    provision_users(aws, {}, out, "cdp-local-users")
    assert out.user_pool is None
    pools = {name: {"Type": "AWS::Cognito::UserPool", "Properties": {}} for name in ("A", "B")}
    with pytest.raises(TemplateError, match="one user pool"):
        provision_users(aws, pools, LocalResources(), "cdp-local-users")
