"""The message sender in the synthesized template: its grants, its release schedules, no route."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings

from infra.cdp_infra.routes import EVENT_PROCESSOR, MESSAGE_SENDER, RICH_MENU_SYNC, ROUTES
from tests.infra.test_stack import _actions, _all_actions, _arn, _function, _function_id, _output_ref, _resources
from tests.infra.test_stack import _statements as statements_of

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

SEND_PREFIXES = ["SEND#*", "SENDBATCH#*", "MSGCAP#*", "SUPPRESSION#*"]


def test_the_sender_has_no_route_and_reads_its_settings(synth: Any) -> None:
    t = synth.template
    assert not [r for r in ROUTES if r.function == MESSAGE_SENDER]
    function = _function(t, MESSAGE_SENDER)
    variables = function["Environment"]["Variables"]
    assert variables[settings.ENV_MESSAGE_SCHEDULE_GROUP] == "LineCdp-messages"
    assert variables[settings.ENV_MESSAGE_SENDER_CONCURRENCY] == "10"  # no reservation by default
    assert "ReservedConcurrentExecutions" not in function
    assert variables[settings.ENV_LINE_CHANNELS_SECRET] == {"Ref": _output_ref(t, "LineChannelsSecretArn")}
    (config_set,) = _resources(t, "AWS::SES::ConfigurationSet").values()
    assert variables[settings.ENV_SES_CONFIGURATION_SET] == config_set["Properties"]["Name"] == "LineCdp-messages"


def test_the_sender_writes_only_its_own_items_and_outcome_events(synth: Any) -> None:
    t = synth.template
    statements = statements_of(t, MESSAGE_SENDER)
    raw, core = _output_ref(t, "RawEventsTableName"), _output_ref(t, "CoreTableName")
    writes = [
        s
        for s in statements
        if any(a in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem") for a in _actions(s))
    ]
    assert sorted(writes, key=json.dumps) == sorted(
        [
            {
                "Action": ["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": SEND_PREFIXES}},
                "Effect": "Allow",
                "Resource": _arn(core),
            },
            {
                "Action": "dynamodb:PutItem",
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LINK#*"]}},
                "Effect": "Allow",
                "Resource": _arn(core),
            },
            {
                # a campaign's run stopped when LINE's monthly limit is reached
                "Action": "dynamodb:PutItem",
                "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["CAMPAIGN#*"]}},
                "Effect": "Allow",
                "Resource": _arn(core),
            },
            {"Action": "dynamodb:PutItem", "Effect": "Allow", "Resource": _arn(raw)},
        ],
        key=json.dumps,
    )
    assert "dynamodb:DeleteItem" not in _all_actions(statements)
    secrets = [s["Resource"] for s in statements if "secretsmanager:GetSecretValue" in _actions(s)]
    read = [r for resource in secrets for r in (resource if isinstance(resource, list) else [resource])]
    assert sorted(map(json.dumps, read)) == sorted(
        json.dumps({"Ref": _output_ref(t, name)}) for name in ("LineChannelsSecretArn", "LinkSigningKeySecretArn")
    )
    assert _output_ref(t, "AdminTokenSecretArn") not in json.dumps(statements)
    puts = [s for s in statements if "events:PutEvents" in _actions(s)]
    assert len(puts) == 1 and _output_ref(t, "EventBusName") in json.dumps(puts[0]["Resource"])


def test_the_sender_sends_through_ses_and_sns_and_schedules_only_its_releases(synth: Any) -> None:
    t = synth.template
    statements = statements_of(t, MESSAGE_SENDER)
    by_action = {a: s for s in statements for a in _actions(s)}
    assert "ses:SendEmail" in by_action and "sns:Publish" in by_action
    scheduler = by_action["scheduler:CreateSchedule"]
    assert set(_actions(scheduler)) == {"scheduler:CreateSchedule", "scheduler:UpdateSchedule"}
    assert "schedule/LineCdp-messages/msg-release-*" in json.dumps(scheduler["Resource"])
    assert "iam:PassRole" in by_action
    roles = {
        key: role
        for key, role in _resources(t, "AWS::IAM::Role").items()
        if "scheduler.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    }
    release_role = next(key for key in roles if "ReleaseSchedulerRole" in key)
    policies = [
        p for p in _resources(t, "AWS::IAM::Policy").values() if p["Properties"]["Roles"][0]["Ref"] == release_role
    ]
    (statement,) = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert _actions(statement) == ["lambda:InvokeFunction"]
    assert _function_id(t, MESSAGE_SENDER) in json.dumps(statement["Resource"])


def test_ses_reports_the_configuration_sets_email_events_to_the_sender(synth: Any) -> None:
    t = synth.template
    (destination,) = _resources(t, "AWS::SES::ConfigurationSetEventDestination").values()
    props = destination["Properties"]
    assert props["ConfigurationSetName"] == "LineCdp-messages"
    assert set(props["EventDestination"]["MatchingEventTypes"]) == {"DELIVERY", "BOUNCE", "COMPLAINT", "OPEN", "CLICK"}
    assert "event-bus/default" in json.dumps(props["EventDestination"]["EventBridgeDestination"])
    rules = [
        r["Properties"]
        for r in _resources(t, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.ses"]
    ]
    (rule,) = rules
    assert "EventBusName" not in rule  # SES only reports to the default bus
    assert rule["EventPattern"]["detail"] == {"mail": {"tags": {"ses:configuration-set": ["LineCdp-messages"]}}}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [_function_id(t, MESSAGE_SENDER), "Arn"]}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] == _output_ref(t, "EmailEventDeadLetterQueueUrl")


def test_the_event_processor_hands_auto_replies_to_the_sender_and_may_invoke_nothing_else(synth: Any) -> None:
    t = synth.template
    sender = _function_id(t, MESSAGE_SENDER)
    variables = _function(t, EVENT_PROCESSOR)["Environment"]["Variables"]
    assert variables[settings.ENV_MESSAGE_SENDER_FUNCTION] == _arn(sender)
    invokes = [s for s in statements_of(t, EVENT_PROCESSOR) if "lambda:InvokeFunction" in _actions(s)]
    assert invokes == [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": _arn(sender)}]


def test_the_rich_menu_sync_reads_memberships_on_segment_changes_and_writes_nothing(synth: Any) -> None:
    t = synth.template
    function_id = _function_id(t, RICH_MENU_SYNC)
    rules = [
        r["Properties"]
        for r in _resources(t, "AWS::Events::Rule").values()
        if any(target["Arn"] == _arn(function_id) for target in r["Properties"].get("Targets", []))
    ]
    assert [r["EventPattern"] for r in rules] == [
        {"source": ["cdp"], "detail-type": ["segment.entered", "segment.exited"]}
    ]
    actions = _all_actions(statements_of(t, RICH_MENU_SYNC))
    assert not {a for a in actions if a.startswith("dynamodb:") and a.endswith(("PutItem", "UpdateItem", "DeleteItem"))}
    assert "secretsmanager:GetSecretValue" in actions  # the channel's access token
    assert [r for r in ROUTES if r.function == RICH_MENU_SYNC] == []
