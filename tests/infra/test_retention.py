"""The retention job's nested stack: its daily schedule, its function and exactly the grants it needs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings
from cdp.adapters.dynamodb.retention import POLICY_PREFIX

from infra.cdp_infra import constants
from infra.cdp_infra.retention import RETENTION_ID, RETENTION_SCHEDULE
from infra.cdp_infra.routes import ADMIN_API, PRIVACY_RETENTION

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == type_}


def _function_id(template: dict[str, Any], name: str) -> str:
    return str(template["Outputs"][f"{name.title().replace('_', '')}FunctionName"]["Value"]["Ref"])


def _statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


@pytest.fixture(scope="module")
def t(synth: Any) -> dict[str, Any]:
    return synth.flattened(RETENTION_ID)  # type: ignore[no-any-return]


def _role_of(t: dict[str, Any], function_id: str) -> str:
    return str(t["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0])


def test_the_job_lives_in_a_nested_stack(synth: Any) -> None:
    main = synth.template["Resources"]
    nested = [key for key, value in main.items() if value["Type"] == "AWS::CloudFormation::Stack"]
    assert any(key.startswith(RETENTION_ID) for key in nested)
    assert not any(
        value["Type"] == "AWS::Lambda::Function" and PRIVACY_RETENTION in value["Metadata"]["aws:cdk:path"]
        for value in main.values()
    )
    [path] = synth.outdir.glob(f"*{RETENTION_ID}*.nested.template.json")
    nested_resources = json.loads(path.read_text())["Resources"]
    # Function, role, default policy, log group, continuation policy, scheduler role + policy, schedule.
    assert len(nested_resources) == 8


def test_a_daily_schedule_in_the_jobs_group_starts_the_function(t: dict[str, Any]) -> None:
    function_id = _function_id(t, PRIVACY_RETENTION)
    [schedule] = [
        s["Properties"]
        for s in _resources(t, "AWS::Scheduler::Schedule").values()
        if s["Properties"]["Name"] == "retention-daily"
    ]
    assert schedule["ScheduleExpression"] == RETENTION_SCHEDULE == "cron(0 4 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "Asia/Taipei"
    assert schedule["GroupName"] == "LineCdp-jobs"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(schedule["Target"]["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert schedule["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}
    scheduler_role = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    assert _statements(t, scheduler_role) == [
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [function_id, "Arn"]}}
    ]
    trust = t["Resources"][scheduler_role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]


def test_the_function_gets_its_settings_and_the_longest_timeout(t: dict[str, Any]) -> None:
    function = t["Resources"][_function_id(t, PRIVACY_RETENTION)]["Properties"]
    assert function["Timeout"] == 900
    variables = function["Environment"]["Variables"]
    assert variables[settings.ENV_CORE_TABLE] == {"Ref": _core_table(t)}
    assert variables[settings.ENV_RETENTION_EXPORT_PREFIXES] == "exports/"
    assert settings.ENV_IMPORTS_BUCKET in variables and settings.ENV_RAW_EVENT_TTL_DAYS in variables


def _core_table(t: dict[str, Any]) -> str:
    [core] = [key for key in _resources(t, "AWS::DynamoDB::Table") if key.startswith(constants.TABLES_ID + "Core")]
    return core


def test_the_function_may_do_exactly_what_retention_needs(t: dict[str, Any]) -> None:
    function_id = _function_id(t, PRIVACY_RETENTION)
    statements = _statements(t, _role_of(t, function_id))
    core_arn = {"Fn::GetAtt": [_core_table(t), "Arn"]}
    by_action = {action: statement for statement in statements for action in _actions(statement)}
    assert set(by_action) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "dynamodb:Scan",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "s3:ListBucket",
        "s3:DeleteObject",
        "lambda:InvokeFunction",
    }
    # The table itself (no index) for the scan; deletes only under the swept prefixes.
    assert by_action["dynamodb:Scan"]["Resource"] == core_arn and "Condition" not in by_action["dynamodb:Scan"]
    assert by_action["dynamodb:BatchWriteItem"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["PROFILE#*", "SEND#*", "SENDBATCH#*", "AUDIT#*"]}
    }
    for action in ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"):
        assert by_action[action]["Resource"] == core_arn
        assert by_action[action]["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["RETENTION#runs", f"{POLICY_PREFIX}*", "AUDIT#*"]}
        }
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["exports/*", "imports/*"]}}
    deletes = by_action["s3:DeleteObject"]["Resource"]
    assert [part["Fn::Join"][1][1] for part in deletes] == ["/exports/*", "/imports/*"]
    assert by_action["lambda:InvokeFunction"]["Resource"] == {"Fn::GetAtt": [function_id, "Arn"]}


def test_the_admin_api_may_write_the_policy_item(t: dict[str, Any]) -> None:
    statements = _statements(t, _role_of(t, _function_id(t, ADMIN_API)))
    assert any(
        _actions(statement) == ["dynamodb:PutItem"]
        and statement.get("Condition") == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{POLICY_PREFIX}*"]}}
        for statement in statements
    )
