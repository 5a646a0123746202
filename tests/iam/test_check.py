"""The IAM check itself: calls map to the IAM requests AWS authorizes, and the evaluator denies what
the policy does not allow (conditions included)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local.aws_calls import Recorder, UnmappedCall, iam_requests, running
from tests.iam.check import check

TABLE = "cdp-local-Core"
TABLE_ARN = f"arn:aws:dynamodb:ap-northeast-1:123456789012:table/{TABLE}"
SCHEMAS: dict[str, dict[str | None, str]] = {TABLE: {None: "pk", "gsi1": "gsi1pk"}}


def test_item_writes_carry_their_partition_key_as_leading_key() -> None:
    assert iam_requests(
        "dynamodb",
        "PutItem",
        {"TableName": TABLE, "Item": {"pk": {"S": "CONFIG#tag-rules#w"}, "sk": {"S": "C"}}},
        SCHEMAS,
    ) == [("dynamodb:PutItem", TABLE_ARN, {"dynamodb:LeadingKeys": ["CONFIG#tag-rules#w"]})]


def test_a_query_on_an_index_names_the_index_and_its_partition_key_value() -> None:
    params = {
        "TableName": TABLE,
        "IndexName": "gsi1",
        "KeyConditionExpression": "#k = :v AND begins_with(gsi1sk, :p)",
        "ExpressionAttributeNames": {"#k": "gsi1pk"},
        "ExpressionAttributeValues": {":v": {"S": "ID#email#a"}, ":p": {"S": "P"}},
    }
    assert iam_requests("dynamodb", "Query", params, SCHEMAS) == [
        ("dynamodb:Query", f"{TABLE_ARN}/index/gsi1", {"dynamodb:LeadingKeys": ["ID#email#a"]})
    ]


def test_each_transaction_item_is_authorized_as_its_own_action() -> None:
    params = {
        "TransactItems": [
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "PROFILE#1"}}}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "ID#x"}}}},
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "MERGE#2"}}}},
        ]
    }
    assert [
        (action, context) for action, _, context in iam_requests("dynamodb", "TransactWriteItems", params, SCHEMAS)
    ] == [
        ("dynamodb:PutItem", {"dynamodb:LeadingKeys": ["PROFILE#1"]}),
        ("dynamodb:DeleteItem", {"dynamodb:LeadingKeys": ["ID#x"]}),
        ("dynamodb:ConditionCheckItem", {"dynamodb:LeadingKeys": ["MERGE#2"]}),
    ]


def test_listing_is_list_bucket_with_the_prefix_and_a_schedule_passes_its_role() -> None:
    assert iam_requests("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "archive/x"}, {}) == [
        ("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "archive/x"})
    ]
    found = iam_requests(
        "scheduler",
        "CreateSchedule",
        {
            "Name": "s",
            "GroupName": "g",
            "Target": {"Arn": "arn:aws:lambda:x", "RoleArn": "arn:aws:iam::123456789012:role/r"},
        },
        {},
    )
    assert [action for action, _, _ in found] == ["scheduler:CreateSchedule", "iam:PassRole"]


def test_a_call_without_a_mapping_is_refused_not_skipped() -> None:
    with pytest.raises(UnmappedCall):
        iam_requests("dynamodb", "DeleteTable", {"TableName": TABLE}, SCHEMAS)
    with pytest.raises(UnmappedCall):
        iam_requests("kinesis", "PutRecord", {}, {})


def _template(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Resources": {
            "Core": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]},
            },
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            "Policy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyDocument": {"Statement": statements}, "Roles": [{"Ref": "Role"}]},
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}},
                "Metadata": {"aws:cdk:path": "LineCdp/Functions/admin_api/Function/Resource"},
            },
        }
    }


def test_the_check_denies_writes_outside_the_granted_key_prefix_and_names_the_statements() -> None:
    recorder = Recorder()
    statement = {
        "Effect": "Allow",
        "Action": "dynamodb:PutItem",
        "Resource": {"Fn::GetAtt": ["Core", "Arn"]},
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CONFIG#identity-rules#*"]}},
    }
    recorder.provisioned(_template([statement]), {"Core": TABLE}, {"Core": TABLE_ARN})
    with running("admin_api"):
        for pk in ("CONFIG#identity-rules#a", "CONFIG#identity-rules#b", "CONFIG#tag-rules#a"):
            recorder.record("admin_api", "dynamodb", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": pk}}})
        recorder.record(
            "admin_api", "dynamodb", "DeleteItem", {"TableName": TABLE, "Key": {"pk": {"S": "CONFIG#identity-rules#a"}}}
        )

    report = check(recorder)

    assert report.requests == 4
    assert report.simulations == 3  # the two identity-rules keys match the same patterns: one simulation
    denied = sorted((d.action, d.context["dynamodb:LeadingKeys"][0]) for d in report.denials)
    assert denied == [("dynamodb:DeleteItem", "CONFIG#identity-rules#a"), ("dynamodb:PutItem", "CONFIG#tag-rules#a")]
    assert "CONFIG#identity-rules#*" in next(d for d in report.denials if d.action == "dynamodb:PutItem").describe()
    assert not report.problems


def test_an_invalid_request_is_a_problem_not_a_pass() -> None:
    recorder = Recorder()
    recorder.provisioned(
        _template([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]), {"Core": TABLE}, {"Core": TABLE_ARN}
    )
    recorder.requests.add(
        next(iter(_one("admin_api", "s3:GetObject", "arn:aws:dynamodb:ap-northeast-1:123456789012:table/x")))
    )
    report = check(recorder)
    assert report.problems and not report.denials


def _one(function: str, action: str, resource: str) -> set[Any]:
    from infra.local.aws_calls import IamRequest

    return {IamRequest(function, action, resource, (), "test")}
