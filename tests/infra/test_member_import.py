"""Member imports in the template: the bucket, the worker, and exactly what each function may do there."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings

from infra.cdp_infra.routes import (
    ADMIN_API,
    CAMPAIGN_RUNNER,
    JOURNEY_EVENTS,
    MEMBER_IMPORT,
    RICH_MENU_SYNC,
    ROUTES,
    SEGMENT_RECOMPUTE,
)
from tests.infra.test_stack import _actions, _all_actions, _arn, _function, _function_id, _output_ref, _statements

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _bucket(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    logical_id = _output_ref(template, "ImportsBucketName")
    return logical_id, template["Resources"][logical_id]


def _objects(bucket_id: str, pattern: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [_arn(bucket_id), f"/imports/{pattern}"]]}


def _bucket_policy(template: dict[str, Any], bucket_id: str) -> list[dict[str, Any]]:
    (policy,) = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::S3::BucketPolicy" and resource["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return policy


def _resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def test_imports_bucket_is_private_encrypted_tls_only_and_expires_files(synth: Any) -> None:
    bucket_id, bucket = _bucket(synth.template)
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert properties["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert properties["LifecycleConfiguration"] == {
        "Rules": [
            {
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                "ExpirationInDays": 30,
                "Prefix": "imports/",
                "Status": "Enabled",
            },
            {
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                "ExpirationInDays": 7,
                "Prefix": "exports/",
                "Status": "Enabled",
            },
        ]
    }
    deny = [s for s in _bucket_policy(synth.template, bucket_id) if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": [_arn(bucket_id), {"Fn::Join": ["", [_arn(bucket_id), "/*"]]}],
        }
    ]


def test_object_access_is_logged_to_a_bucket_that_only_s3_logging_may_write(synth: Any) -> None:
    bucket_id, bucket = _bucket(synth.template)
    logging = bucket["Properties"]["LoggingConfiguration"]
    logs_id = logging["DestinationBucketName"]["Ref"]
    logs = synth.template["Resources"][logs_id]["Properties"]
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90
    assert logs["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "BucketEncryption" in logs and "PublicAccessBlockConfiguration" in logs
    allow = [
        s
        for s in _bucket_policy(synth.template, logs_id)
        if s["Effect"] == "Allow" and s["Condition"]["ArnLike"]["aws:SourceArn"] == _arn(bucket_id)
    ]
    assert allow == [
        {
            "Action": "s3:PutObject",
            "Condition": {
                "ArnLike": {"aws:SourceArn": _arn(bucket_id)},
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            },
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [_arn(logs_id), f"/{logging['LogFilePrefix']}*"]]},
        }
    ]


def test_worker_has_the_time_and_memory_for_a_big_file_and_retries_async_invocations(synth: Any) -> None:
    t = synth.template
    function = _function(t, MEMBER_IMPORT)
    assert function["Timeout"] == 900
    assert function["MemorySize"] == 1024
    variables = function["Environment"]["Variables"]
    assert variables[settings.ENV_CORE_TABLE] == {"Ref": _output_ref(t, "CoreTableName")}
    assert variables[settings.ENV_RAW_EVENTS_TABLE] == {"Ref": _output_ref(t, "RawEventsTableName")}
    assert variables[settings.ENV_IMPORTS_BUCKET] == {"Ref": _output_ref(t, "ImportsBucketName")}
    (config,) = [r["Properties"] for r in t["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert config["FunctionName"] == {"Ref": _function_id(t, MEMBER_IMPORT)}
    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 6 * 3600)


def test_worker_may_only_touch_imports_status_items_raw_events_its_files_and_itself(synth: Any) -> None:
    t = synth.template
    bucket_id = _output_ref(t, "ImportsBucketName")
    worker = _function_id(t, MEMBER_IMPORT)
    statements = [s for s in _statements(t, MEMBER_IMPORT) if not _actions(s)[0].startswith(("logs:", "xray:"))]
    assert sorted(statements, key=lambda s: json.dumps(s, sort_keys=True)) == sorted(
        [
            {
                "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["IMPORT#*"]}},
                "Effect": "Allow",
                "Resource": _arn(_output_ref(t, "CoreTableName")),
            },
            {
                "Action": "dynamodb:BatchWriteItem",
                "Effect": "Allow",
                "Resource": _arn(_output_ref(t, "RawEventsTableName")),
            },
            {
                "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                "Effect": "Allow",
                "Resource": _objects(bucket_id, "*"),
            },
            {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": _arn(worker)},
        ],
        key=lambda s: json.dumps(s, sort_keys=True),
    )
    # The continuation right lives outside the default policy the function depends on (no cycle).
    (self_invoke,) = [
        (logical_id, r)
        for logical_id, r in t["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy"
        and "lambda:InvokeFunction" in json.dumps(r["Properties"])
        and r["Properties"]["Roles"] == [{"Ref": _function(t, MEMBER_IMPORT)["Role"]["Fn::GetAtt"][0]}]
    ]
    assert self_invoke[0] not in json.dumps(t["Resources"][worker].get("DependsOn", []))


def test_admin_api_can_store_uploads_read_rejected_rows_and_start_only_the_worker(synth: Any) -> None:
    t = synth.template
    bucket_id = _output_ref(t, "ImportsBucketName")
    statements = _statements(t, ADMIN_API)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    imports_resources = [(s, [r for r in _resources_of(s) if bucket_id in json.dumps(r)]) for s in s3]
    assert {(tuple(_actions(s)), json.dumps(found, sort_keys=True)) for s, found in imports_resources if found} == {
        (("s3:PutObject",), json.dumps([_objects(bucket_id, "*/upload.csv")], sort_keys=True)),
        (
            ("s3:GetObject",),
            json.dumps([_objects(bucket_id, "*/rejected.csv"), _objects(bucket_id, "*/upload.csv")], sort_keys=True),
        ),
        (
            ("s3:GetObject", "s3:PutObject"),
            json.dumps([{"Fn::Join": ["", [_arn(bucket_id), "/exports/*"]]}], sort_keys=True),
        ),
    }
    invoke = [s for s in statements if "lambda:InvokeFunction" in _actions(s)]
    # the import worker, the segment recompute, the rich menu sync, the campaign runner and the
    # journey event consumer (an archived journey's runs end there), started from the admin API, nothing else
    assert invoke == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [
                _arn(_function_id(t, CAMPAIGN_RUNNER)),
                _arn(_function_id(t, JOURNEY_EVENTS)),
                _arn(_function_id(t, MEMBER_IMPORT)),
                _arn(_function_id(t, RICH_MENU_SYNC)),
                _arn(_function_id(t, SEGMENT_RECOMPUTE)),
            ],
        },
        # itself, asynchronously: a campaign preflight too large for one request runs as a job
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": _arn(_function_id(t, ADMIN_API))},
    ]
    updates = [s for s in statements if "dynamodb:UpdateItem" in _actions(s)]
    assert [s["Condition"] for s in updates] == [
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["QUERYJOB#*"]}},  # campaign preflight jobs
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["IMPORT#*"]}},
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ACCESS#service-tokens"]}},  # revoking a token
        # an erase's record (restarted, suppression lifted): docs/privacy.md
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ERASE#*", "ERASED#*", "SUPPRESSED#*"]}},
    ]
    assert "s3:DeleteObject" not in _all_actions(statements)
    variables = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert variables[settings.ENV_IMPORTS_BUCKET] == {"Ref": bucket_id}
    assert variables[settings.ENV_MEMBER_IMPORT_FUNCTION] == _arn(_function_id(t, MEMBER_IMPORT))


def test_import_routes_are_admin_routes() -> None:
    imports = {(r.method, r.path): r.function for r in ROUTES if r.path.startswith("/admin/v1/imports")}
    assert imports == {
        ("POST", "/admin/v1/imports/members"): ADMIN_API,
        ("GET", "/admin/v1/imports/{id}"): ADMIN_API,
        ("POST", "/admin/v1/imports/{id}/start"): ADMIN_API,
        ("GET", "/admin/v1/imports/{id}/rejected"): ADMIN_API,
    }
