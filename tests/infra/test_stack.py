"""The synthesized LineCdp template: resources, wiring, least privilege, cdk-nag, cfn-lint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cdp import settings

from infra.cdp_infra import constants
from infra.cdp_infra.deploy_settings import NEW_ACCOUNT_MAX_MEMORY_MB
from infra.cdp_infra.retention import RETENTION_ID
from infra.cdp_infra.routes import (
    ADMIN_API,
    ADMIN_QUERY,
    ARCHIVE_COMPACTOR,
    ARCHIVE_WRITER,
    CAMPAIGN_RUNNER,
    DLQ_ARCHIVER,
    EVENT_PROCESSOR,
    IDENTITY_MERGE,
    INGEST,
    JOURNEY_EVENTS,
    JOURNEY_STARTER,
    JOURNEY_STEP,
    LINE_WEBHOOK,
    LINK_REDIRECT,
    MEMBER_IMPORT,
    MESSAGE_SENDER,
    PRIVACY_RETENTION,
    RFM_SCORING,
    RICH_MENU_SYNC,
    ROUTES,
    SEGMENT_EVALUATOR,
    SEGMENT_RECOMPUTE,
)

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

# The stack's region is a deploy setting (cdk.json); the tests synthesize account-agnostic.
REGION = json.loads(constants.CDK_JSON.read_text(encoding="utf-8"))["context"]["region"]

ALL_FUNCTIONS = (
    LINE_WEBHOOK,
    INGEST,
    ADMIN_API,
    ADMIN_QUERY,
    EVENT_PROCESSOR,
    MEMBER_IMPORT,
    IDENTITY_MERGE,
    SEGMENT_EVALUATOR,
    LINK_REDIRECT,
    ARCHIVE_WRITER,
    SEGMENT_RECOMPUTE,
    RFM_SCORING,
    ARCHIVE_COMPACTOR,
    DLQ_ARCHIVER,
    MESSAGE_SENDER,
    RICH_MENU_SYNC,
    CAMPAIGN_RUNNER,
    JOURNEY_STEP,
    JOURNEY_STARTER,
    JOURNEY_EVENTS,
)
# Actions AWS offers no resource-level permission for; the only ones allowed on Resource "*".
UNSCOPED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "dynamodb:ListStreams",
    # Step Functions' delivery of execution logs to CloudWatch Logs (vended logs) is account-wide.
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # An SMS published to a phone number (the message sender) has no SNS resource to name.
    "sns:Publish",
    "sns:CheckIfPhoneNumberIsOptedOut",
}
SETTINGS_BY_FUNCTION = {
    LINE_WEBHOOK: settings.LineWebhookSettings,
    INGEST: settings.PartnerIngestSettings,
    EVENT_PROCESSOR: settings.ProcessorSettings,
    ADMIN_API: settings.AdminApiSettings,
    ADMIN_QUERY: settings.AdminApiSettings,
    MEMBER_IMPORT: settings.MemberImportSettings,
    IDENTITY_MERGE: settings.IdentityWorkflowSettings,
    SEGMENT_EVALUATOR: settings.SegmentEvaluatorSettings,
    LINK_REDIRECT: settings.LinkRedirectSettings,
    ARCHIVE_WRITER: settings.ArchiveWriterSettings,
    SEGMENT_RECOMPUTE: settings.SegmentRecomputeSettings,
    RFM_SCORING: settings.RfmSettings,
    ARCHIVE_COMPACTOR: settings.ArchiveWriterSettings,
    DLQ_ARCHIVER: settings.DeadLetterArchiverSettings,
    MESSAGE_SENDER: settings.MessageSenderSettings,
    RICH_MENU_SYNC: settings.RichMenuSyncSettings,
    CAMPAIGN_RUNNER: settings.CampaignRunnerSettings,
    JOURNEY_STEP: settings.JourneyStepSettings,
    JOURNEY_STARTER: settings.JourneyStarterSettings,
    JOURNEY_EVENTS: settings.JourneyEventsSettings,
}
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-APIG2",
    "AwsSolutions-APIG3",
    "AwsSolutions-APIG4",
    "AwsSolutions-COG2",  # console users: MFA optional (TOTP), docs/access.md
    "AwsSolutions-COG3",  # threat protection is a paid option
    "AwsSolutions-COG4",
    "AwsSolutions-COG8",  # the Essentials feature plan
    "AwsSolutions-DDB3",
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-L1",
    "AwsSolutions-S1",  # the imports bucket's access-log bucket
    "AwsSolutions-SMG4",
    "AwsSolutions-SQS3",
    "AwsSolutions-SF1",  # merge workflows log errors only: executions carry profile data
}


# --- helpers over the raw template ---------------------------------------------------------------


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == type_}


def _output_ref(template: dict[str, Any], output_id: str) -> str:
    value = template["Outputs"][output_id]["Value"]
    return value["Ref"]


def _function_id(template: dict[str, Any], name: str) -> str:
    return _output_ref(template, f"{name.title().replace('_', '')}FunctionName")


def _function(template: dict[str, Any], name: str) -> dict[str, Any]:
    return template["Resources"][_function_id(template, name)]["Properties"]


def _role_id(template: dict[str, Any], name: str) -> str:
    return _function(template, name)["Role"]["Fn::GetAtt"][0]


def _statements(template: dict[str, Any], name: str) -> list[dict[str, Any]]:
    role = {"Ref": _role_id(template, name)}
    # A role whose inline policy outgrows IAM's size limit gets CDK's overflow managed policies.
    policies = {**_resources(template, "AWS::IAM::Policy"), **_resources(template, "AWS::IAM::ManagedPolicy")}
    return [
        statement
        for policy in policies.values()
        if role in policy["Properties"].get("Roles", [])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _all_actions(statements: list[dict[str, Any]]) -> set[str]:
    return {action for statement in statements for action in _actions(statement)}


def _core_layer_id(template: dict[str, Any]) -> str:
    (layer_id,) = [
        key
        for key, layer in _resources(template, "AWS::Lambda::LayerVersion").items()
        if layer["Properties"]["Description"].startswith("cdp domain library")
    ]
    return layer_id


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _api_methods(template: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    resources = _resources(template, "AWS::ApiGateway::Resource")

    def path(resource_id: str) -> str:
        properties = resources[resource_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    return {
        (method["Properties"]["HttpMethod"], path(method["Properties"]["ResourceId"]["Ref"])): method["Properties"]
        for method in _resources(template, "AWS::ApiGateway::Method").values()
    }


# --- tables --------------------------------------------------------------------------------------


def test_raw_events_table_lands_events_with_ttl_and_a_stream(synth: Any) -> None:
    resource = synth.template["Resources"][_output_ref(synth.template, "RawEventsTableName")]
    properties = resource["Properties"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}  # AWS-managed key (aws/dynamodb)


def test_core_table_is_a_single_table_with_gsi1_and_full_stream(synth: Any) -> None:
    resource = synth.template["Resources"][_output_ref(synth.template, "CoreTableName")]
    properties = resource["Properties"]
    assert resource["DeletionPolicy"] == "Retain"
    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "gsi1",
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert {d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
        "gsi1pk": "S",
        "gsi1sk": "S",
    }
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_idempotency_table_uses_the_powertools_layout(synth: Any) -> None:
    properties = synth.template["Resources"][_output_ref(synth.template, "IdempotencyTableName")]["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"


def test_no_resource_has_a_hard_coded_physical_name(synth: Any) -> None:
    unique_names = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::Lambda::LayerVersion": "LayerName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::IAM::Role": "RoleName",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::SecretsManager::Secret": "Name",
        "AWS::S3::Bucket": "BucketName",
    }
    for logical_id, resource in synth.template["Resources"].items():
        name = unique_names.get(resource["Type"])
        assert name not in resource.get("Properties", {}), f"{logical_id} has a fixed {name}"


# --- functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_every_function_shares_the_baseline(synth: Any, name: str) -> None:
    function = _function(synth.template, name)
    assert function["Runtime"] == "python3.11"
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "handler.lambda_handler"
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    assert function["Layers"][0] == {"Ref": _core_layer_id(synth.template)}  # core first; analytics may follow
    assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == constants.SERVICE_NAME
    log_group = synth.template["Resources"][function["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0


def test_layer_targets_python311_on_arm64(template: Any) -> None:
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleRuntimes": ["python3.11"], "CompatibleArchitectures": ["arm64"]},
    )


@pytest.mark.parametrize("name", ALL_FUNCTIONS)
def test_environment_satisfies_the_settings_contract(synth: Any, name: str) -> None:
    variables = _function(synth.template, name)["Environment"]["Variables"]
    known = {value for key, value in vars(settings).items() if key.startswith("ENV_")}
    known |= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", constants.ENV_IDEMPOTENCY_TABLE}
    assert set(variables) <= known
    # References resolve at deploy time; any non-empty string stands in for them here.
    env = {key: value if isinstance(value, str) else "resolved-at-deploy" for key, value in variables.items()}
    SETTINGS_BY_FUNCTION[name].from_env(env)  # raises SettingsError on a missing variable


def test_environment_points_at_the_right_resources(synth: Any) -> None:
    t = synth.template
    raw, core = _output_ref(t, "RawEventsTableName"), _output_ref(t, "CoreTableName")
    webhook = _function(t, LINE_WEBHOOK)["Environment"]["Variables"]
    assert webhook[settings.ENV_RAW_EVENTS_TABLE] == {"Ref": raw}
    assert webhook[settings.ENV_LINE_CHANNELS_SECRET] == {"Ref": _output_ref(t, "LineChannelsSecretArn")}
    ingest = _function(t, INGEST)["Environment"]["Variables"]
    assert ingest[settings.ENV_WRITE_KEYS_SECRET] == {"Ref": _output_ref(t, "WriteKeysSecretArn")}
    processor = _function(t, EVENT_PROCESSOR)["Environment"]["Variables"]
    assert processor[settings.ENV_CORE_TABLE] == {"Ref": core}
    assert processor[settings.ENV_EVENT_BUS] == {"Ref": _output_ref(t, "EventBusName")}
    assert constants.ENV_IDEMPOTENCY_TABLE not in processor  # processing idempotency lives in the core table
    assert processor[settings.ENV_PUBLISH_EVENT_RECEIVED] == "none"  # cdk.json: nothing consumes it
    admin = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert admin[settings.ENV_ADMIN_TOKEN_SECRET] == {"Ref": _output_ref(t, "AdminTokenSecretArn")}


# --- stream processing ---------------------------------------------------------------------------


def test_stream_mapping_retries_partially_and_dead_letters(template: Any, synth: Any) -> None:
    t = synth.template
    dlq_id = _output_ref(t, "DeadLetterQueueUrl")
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [_output_ref(t, "RawEventsTableName"), "StreamArn"]},
            "FunctionName": {"Ref": _function_id(t, EVENT_PROCESSOR)},
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 1,
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": 10,
            "MaximumRecordAgeInSeconds": 86400,
            "DestinationConfig": {"OnFailure": {"Destination": _arn(dlq_id)}},
        },
    )


def test_dead_letter_queue_is_encrypted_ssl_only_and_keeps_14_days(template: Any, synth: Any) -> None:
    dlq_id = _output_ref(synth.template, "DeadLetterQueueUrl")
    template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}
    )
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": dlq_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )


def test_event_bus_is_archived(template: Any, synth: Any) -> None:
    bus_id = _output_ref(synth.template, "EventBusName")
    template.has_resource_properties("AWS::Events::Archive", {"SourceArn": _arn(bus_id), "RetentionDays": 90})


# --- API -----------------------------------------------------------------------------------------


def test_every_route_is_served_by_its_function(synth: Any) -> None:
    t = synth.template
    methods = _api_methods(t)
    routed = {key for key, method in methods.items() if method["Integration"]["Type"] != "MOCK"}  # not preflights
    assert routed == {(route.method, route.path) for route in ROUTES}
    for route in ROUTES:
        method = methods[(route.method, route.path)]
        assert method["AuthorizationType"] == "NONE"  # authenticated in the function
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert _function_id(t, route.function) in json.dumps(integration["Uri"]), route


def test_api_passes_raw_bytes_and_is_observable_and_throttled(template: Any) -> None:
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["*/*"]})
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": constants.API_STAGE,
            "TracingEnabled": True,
            "AccessLogSetting": {"DestinationArn": Match.any_value(), "Format": Match.any_value()},
            "MethodSettings": Match.array_with(
                [
                    Match.object_like(
                        {
                            "HttpMethod": "*",
                            "ResourcePath": "/*",
                            "LoggingLevel": "ERROR",
                            "DataTraceEnabled": False,
                            "ThrottlingRateLimit": constants.API_THROTTLE_RATE,
                            "ThrottlingBurstLimit": constants.API_THROTTLE_BURST,
                        }
                    )
                ]
            ),
        },
    )


# --- secrets -------------------------------------------------------------------------------------


def test_secrets_start_without_secrets_in_the_template(synth: Any) -> None:
    secrets = synth.template["Resources"]
    line = secrets[_output_ref(synth.template, "LineChannelsSecretArn")]["Properties"]
    assert json.loads(line["SecretString"]) == {}
    write_keys = secrets[_output_ref(synth.template, "WriteKeysSecretArn")]["Properties"]["GenerateSecretString"]
    assert json.loads(write_keys["SecretStringTemplate"]) == {"source": "default"}
    assert write_keys["GenerateStringKey"] == "writeKey"
    assert write_keys["ExcludePunctuation"] is True
    admin = secrets[_output_ref(synth.template, "AdminTokenSecretArn")]["Properties"]["GenerateSecretString"]
    assert admin == {"ExcludePunctuation": True, "PasswordLength": 40}


# --- least privilege -----------------------------------------------------------------------------


def test_each_function_has_its_own_role(synth: Any) -> None:
    roles = {_role_id(synth.template, name) for name in ALL_FUNCTIONS}
    assert len(roles) == len(ALL_FUNCTIONS)
    for role_id in roles:
        assert "ManagedPolicyArns" not in synth.template["Resources"][role_id]["Properties"]


@pytest.mark.parametrize(
    ("name", "secret_output"), [(LINE_WEBHOOK, "LineChannelsSecretArn"), (INGEST, "WriteKeysSecretArn")]
)
def test_raw_writers_can_only_put_raw_events_and_read_their_secret(synth: Any, name: str, secret_output: str) -> None:
    t = synth.template
    statements = _statements(t, name)
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    raw_events = {
        "Action": "dynamodb:PutItem",
        "Effect": "Allow",
        "Resource": _arn(_output_ref(t, "RawEventsTableName")),
    }
    # and their refused events, for GET /admin/v1/ingest/rejections: those items only
    assert dynamodb == [
        raw_events,
        {
            "Action": "dynamodb:BatchWriteItem",
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["INGEST_REJECTIONS#*"]}},
            "Effect": "Allow",
            "Resource": _arn(_output_ref(t, "CoreTableName")),
        },
    ]
    dumped = json.dumps([s for s in statements if s not in dynamodb])
    for other in ("CoreTableName", "IdempotencyTableName", "EventBusName", "AdminTokenSecretArn"):
        assert _output_ref(t, other) not in dumped, f"{name} can reach {other}"
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in _actions(s))]
    assert [s["Resource"] for s in secrets] == [{"Ref": _output_ref(t, secret_output)}]
    assert _all_actions(secrets) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_admin_api_reads_the_core_table_and_writes_only_link_nonces_and_raw_events(synth: Any) -> None:
    t = synth.template
    statements = _statements(t, ADMIN_API)
    actions = {a for a in _all_actions(statements) if a.split(":")[0] in ("dynamodb", "logs", "xray", "secretsmanager")}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",  # import status items (tests/infra/test_member_import.py), preflight jobs
        "dynamodb:DeleteItem",  # a segment's LINE audience sync record, a deleted campaign, below
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    raw, core = _output_ref(t, "RawEventsTableName"), _output_ref(t, "CoreTableName")
    deletes = [s for s in statements if "dynamodb:DeleteItem" in _actions(s)]
    assert sorted(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for s in deletes) == [
        ["CAMPAIGN#*"],
        ["ERASE#*", "ERASED#*", "SUPPRESSED#*"],  # an erase's suppressions, lifted (docs/privacy.md)
        ["JOURNEY#*"],  # a journey draft never published
        ["SEGMENT#*"],
    ]
    assert all(s["Resource"] == _arn(core) for s in deletes)
    config_puts = [
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for s in statements
        if "dynamodb:PutItem" in _actions(s) and "CONFIG#identity-rules#*" in json.dumps(s.get("Condition"))
    ]
    # the admin edits both rule sets, the messaging policy and the auto-replies
    assert config_puts == [
        ["CONFIG#identity-rules#*", "CONFIG#tag-rules#*", "CONFIG#messaging-policy#*", "CONFIG#auto-replies#*"]
    ]
    puts = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    # LINE Login bindings: plain puts on the raw events table; person exports: reads by key
    raw_statements = [s for s in statements if raw in json.dumps(s["Resource"])]
    assert raw_statements == [
        {"Action": ["dynamodb:BatchGetItem", "dynamodb:PutItem"], "Effect": "Allow", "Resource": _arn(raw)}
    ]
    # core table writes are held to key prefixes; account-link nonces are one of them
    core_puts = [s for s in puts if s not in raw_statements]
    assert core_puts and all(s["Resource"] == _arn(core) for s in core_puts)
    prefixes = [s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for s in core_puts]
    assert ["LINKNONCE#*"] in prefixes
    assert ["AUDIT#*"] in prefixes  # the audit log (cdp.access.audit): puts only
    assert ["TEMPLATE#*"] in prefixes  # message templates: the record and its versions (puts only)
    assert ["JOURNEY#*"] in prefixes and ["JOURNEYS"] in prefixes  # journeys, versions; the live listing
    assert all(all(p.endswith("#*") or "*" not in p for p in allowed) for allowed in prefixes)
    secrets = [s["Resource"] for s in statements if any(a.startswith("secretsmanager:") for a in _actions(s))]
    readable = [r for resource in secrets for r in (resource if isinstance(resource, list) else [resource])]
    assert sorted(r["Ref"] for r in readable) == sorted(
        _output_ref(t, name) for name in ("AdminTokenSecretArn", "LineChannelsSecretArn", "LinkSigningKeySecretArn")
    )


def test_the_admin_crud_function_is_small_and_cannot_read_the_archive(synth: Any) -> None:
    t = synth.template
    admin = _function(t, ADMIN_API)
    assert admin["MemorySize"] <= 512 and "EphemeralStorage" not in admin and admin["Timeout"] == 29
    assert settings.ENV_ARCHIVE_BUCKET not in admin["Environment"]["Variables"]
    assert not [
        s
        for s in _statements(t, ADMIN_API)
        if any(a.startswith("s3:GetObject") for a in _actions(s)) and "archive" in json.dumps(s["Resource"]).lower()
    ]


def test_the_admin_query_function_is_sized_for_duckdb_and_runs_its_own_jobs(synth: Any) -> None:
    t = synth.template
    query = _function(t, ADMIN_QUERY)
    assert query["MemorySize"] == NEW_ACCOUNT_MAX_MEMORY_MB  # the archiveJobMemoryMb default
    assert query["EphemeralStorage"] == {"Size": constants.SEGMENT_RECOMPUTE_TMP_MIB}
    assert settings.ENV_ARCHIVE_BUCKET in query["Environment"]["Variables"]
    statements = _statements(t, ADMIN_QUERY)
    writes = [s for s in statements if {"dynamodb:PutItem", "dynamodb:UpdateItem"} & set(_actions(s))]
    # its jobs, and the audit records of its writes (a preview is a POST) and reveals
    assert sorted(s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] for s in writes) == [
        ["AUDIT#*"],
        ["QUERYJOB#*"],
    ]
    assert [_actions(s) for s in writes if "AUDIT#*" in json.dumps(s["Condition"])] == [["dynamodb:PutItem"]]
    invokes = [s for s in statements if "lambda:InvokeFunction" in _actions(s)]
    function_id = _function_id(t, ADMIN_QUERY)
    assert [s["Resource"] for s in invokes] == [{"Fn::GetAtt": [function_id, "Arn"]}]
    routed = {(r.method, r.path) for r in ROUTES if r.function == ADMIN_QUERY}
    assert routed == {
        ("POST", "/admin/v1/segments/preview"),
        ("GET", "/admin/v1/profiles/search"),
        ("GET", "/admin/v1/reports/data-health"),
        ("GET", "/admin/v1/reports/customer-groups"),
        ("GET", "/admin/v1/reports/overview"),
        ("GET", "/admin/v1/reports/trend"),
        ("GET", "/admin/v1/reports/funnel"),
        ("GET", "/admin/v1/reports/retention"),
        ("GET", "/admin/v1/reports/distribution"),
        ("GET", "/admin/v1/reports/friends"),
        ("GET", "/admin/v1/reports/messaging"),
        ("GET", "/admin/v1/jobs/{id}"),
        ("GET", "/admin/v1/campaigns/{id}/report"),
    }


def test_admin_api_gets_the_line_binding_configuration(synth: Any) -> None:
    t = synth.template
    admin = _function(t, ADMIN_API)["Environment"]["Variables"]
    assert admin[settings.ENV_RAW_EVENTS_TABLE] == {"Ref": _output_ref(t, "RawEventsTableName")}
    assert admin[settings.ENV_LINE_CHANNELS_SECRET] == {"Ref": _output_ref(t, "LineChannelsSecretArn")}
    assert admin[settings.ENV_CORE_TABLE] == {"Ref": _output_ref(t, "CoreTableName")}


def test_segment_recompute_reads_only_the_line_channels_secret_for_synced_audiences(synth: Any) -> None:
    t = synth.template
    env = _function(t, SEGMENT_RECOMPUTE)["Environment"]["Variables"]
    assert env[settings.ENV_LINE_CHANNELS_SECRET] == {"Ref": _output_ref(t, "LineChannelsSecretArn")}
    statements = _statements(t, SEGMENT_RECOMPUTE)
    secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in _actions(s))]
    assert [s["Resource"] for s in secrets] == [{"Ref": _output_ref(t, "LineChannelsSecretArn")}]
    assert _all_actions(secrets) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}


def test_event_processor_reads_the_stream_but_never_writes_raw_events(synth: Any) -> None:
    t = synth.template
    raw = _output_ref(t, "RawEventsTableName")
    for statement in _statements(t, EVENT_PROCESSOR):
        if raw in json.dumps(statement["Resource"]):
            if statement["Resource"] == {"Fn::GetAtt": [raw, "Arn"]}:
                # an erased person's later event is dropped (cdp.privacy.suppression): delete only
                assert set(_actions(statement)) == {"dynamodb:DeleteItem"}
                continue
            assert statement["Resource"] == {"Fn::GetAtt": [raw, "StreamArn"]}
            assert set(_actions(statement)) == {
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
            }
    statements = _statements(t, EVENT_PROCESSOR)
    actions = _all_actions(statements)
    assert {"events:PutEvents", "dynamodb:PutItem", "dynamodb:Query", "states:StartExecution"} <= actions
    # writes through transactions of Puts; the only updates are consuming an account-link nonce
    # and counting a suppressed event on its erase record; the only delete is that raw event
    assert "dynamodb:BatchWriteItem" not in actions
    core_deletes = [
        s for s in statements if "dynamodb:DeleteItem" in _actions(s) and s["Resource"] != {"Fn::GetAtt": [raw, "Arn"]}
    ]
    assert core_deletes == []
    updates = [st for st in statements if "dynamodb:UpdateItem" in _actions(st)]
    assert [st["Condition"] for st in updates] == [
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ERASE#*"]}},  # a suppressed event's count
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["LINKNONCE#*"]}},
    ]
    assert _output_ref(t, "IdempotencyTableName") not in json.dumps(_statements(t, EVENT_PROCESSOR))


def test_no_wildcard_actions_and_wildcard_resources_only_where_unavoidable(synth: Any) -> None:
    policies = {
        **_resources(synth.template, "AWS::IAM::Policy"),
        **_resources(synth.template, "AWS::IAM::ManagedPolicy"),
    }
    for logical_id, policy in policies.items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _actions(statement)
            assert all("*" not in action for action in actions), (logical_id, actions)
            if statement["Resource"] == "*" or "*" in statement.get("Resource", []):
                assert set(actions) <= UNSCOPED_ACTIONS, (logical_id, actions)


# --- monitoring ----------------------------------------------------------------------------------


def _alarms(template: dict[str, Any], metric_name: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in _resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == metric_name
    ]


def test_dead_letter_alarm_fires_on_the_first_message(synth: Any) -> None:
    # The processor's queue is watched together with its archiver (tests/infra/test_monitoring.py).
    t = synth.flattened(constants.OPERATIONS_ID)
    dlq_id = _output_ref(t, "SegmentDeadLetterQueueUrl")
    alarms = _alarms(t, "ApproximateNumberOfMessagesVisible")
    assert {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms} == {
        dlq_id,
        _output_ref(t, "ArchiveDeadLetterQueueUrl"),
        _output_ref(t, "EmailEventDeadLetterQueueUrl"),
        _output_ref(t, "RichMenuDeadLetterQueueUrl"),
        _output_ref(t, "JourneyEventsDeadLetterQueueUrl"),
    }
    (alarm,) = [a for a in alarms if a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] == dlq_id]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": _output_ref(t, "AlarmTopicArn")}]


def test_every_function_has_an_errors_alarm_and_the_stream_and_api_are_watched(synth: Any) -> None:
    t = synth.flattened(constants.OPERATIONS_ID, RETENTION_ID)
    watched = {alarm["Dimensions"][0]["Value"]["Ref"] for alarm in _alarms(t, "Errors")}
    assert watched == {_function_id(t, name) for name in (*ALL_FUNCTIONS, PRIVACY_RETENTION)}
    watched_streams = {alarm["Dimensions"][0]["Value"]["Ref"] for alarm in _alarms(t, "IteratorAge")}
    assert watched_streams == {_function_id(t, EVENT_PROCESSOR), _function_id(t, ARCHIVE_WRITER)}
    assert len(_alarms(t, "5XXError")) == 1
    topic = {"Ref": _output_ref(t, "AlarmTopicArn")}
    assert all(
        alarm["AlarmActions"] == [topic]
        for alarm in (p["Properties"] for p in _resources(t, "AWS::CloudWatch::Alarm").values())
    )


def test_alarm_topic_enforces_ssl(synth: Any) -> None:
    Template.from_json(synth.flattened(constants.OPERATIONS_ID)).has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_outputs_expose_what_operators_and_the_local_runtime_need(synth: Any) -> None:
    assert {
        "ApiUrl",
        "RawEventsTableName",
        "CoreTableName",
        "IdempotencyTableName",
        "EventBusName",
        "LineChannelsSecretArn",
        "LineChannelsSecretName",
        "WriteKeysSecretArn",
        "WriteKeysSecretName",
        "AdminTokenSecretArn",
        "AdminTokenSecretName",
        "DeadLetterQueueUrl",
        "AlarmTopicArn",
    } <= set(synth.template["Outputs"])


# --- policy checks -------------------------------------------------------------------------------


def test_no_unacknowledged_cdk_nag_findings(synth: Any) -> None:
    violations = [
        (violation["ruleName"], [c["constructPath"] for c in violation["violatingConstructs"]])
        for report in synth.validation_report()["pluginReports"]
        for violation in report["violations"]
    ]
    assert violations == []
    assert synth.error is None


def test_every_acknowledgement_is_expected_and_has_a_reason(synth: Any) -> None:
    acknowledged: dict[str, list[str]] = {}
    for entries in synth.metadata.values():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                for rule, reason in entry["data"].items():
                    acknowledged.setdefault(rule.removeprefix("Annotation::"), []).append(reason)
    # Object grants in the imports bucket (keys embed the import id), acknowledged one by one.
    bucket = synth.template["Outputs"]["ImportsBucketName"]["Value"]["Ref"]
    objects = {
        f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/imports/{p}]" for p in ("*", "*/upload.csv", "*/rejected.csv")
    } | {f"AwsSolutions-IAM5[Resource::<{bucket}.Arn>/exports/*]"}  # segment exports (admin API)
    merge_function = _function_id(synth.template, IDENTITY_MERGE)
    journey_step = _function_id(synth.template, JOURNEY_STEP)
    invoke_versions = {f"AwsSolutions-IAM5[Resource::<{fn}.Arn>:*]" for fn in (merge_function, journey_step)}
    # Journeys: one state machine per published version, created at publish under the stack's prefix.
    journey_machines = {
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{REGION}:<AWS::AccountId>:"
        "stateMachine:LineCdp-journey-*]"
    }
    machines = list(_resources(synth.template, "AWS::StepFunctions::StateMachine"))
    executions = {
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{REGION}:<AWS::AccountId>:execution:"
        f'{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine}"}}]}}]}}:*]'
        for machine in machines
    }
    assert len(executions) == 2
    # The archive's files (keys name the day and the stream batch) and one schedule per segment.
    archive = synth.template["Outputs"]["ArchiveBucketName"]["Value"]["Ref"]
    archive_wildcards = {
        f"AwsSolutions-IAM5[Resource::<{archive}.Arn>/archive/*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{REGION}:<AWS::AccountId>:"
        "schedule/LineCdp-segments/*]",
    }
    # The message sender: its release schedules in the same group, the SES sender identity.
    messaging_wildcards = {
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{REGION}:<AWS::AccountId>:"
        "schedule/LineCdp-messages/msg-release-*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{REGION}:<AWS::AccountId>:"
        "schedule/LineCdp-messages/campaign-*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:{REGION}:<AWS::AccountId>:identity/*]",
    }
    # Journeys: each published version's state machine and its executions, one schedule per journey.
    journey_wildcards = {
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{REGION}:<AWS::AccountId>:stateMachine:LineCdp-journey-*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{REGION}:<AWS::AccountId>:execution:LineCdp-journey-*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:{REGION}:<AWS::AccountId>:"
        "schedule/LineCdp-journeys/journey-*]",
    }
    # Retention (a nested stack): exported and imported files past retention, by prefix.
    [retention_template] = synth.outdir.glob("*Retention*.nested.template.json")
    [bucket_arn] = [
        name
        for name in json.loads(retention_template.read_text())["Parameters"]
        if name.startswith(f"referencetoLineCdp{constants.IMPORTS_BUCKET_ID}Files") and name.endswith("Arn")
    ]
    retention_files = {f"AwsSolutions-IAM5[Resource::<{bucket_arn}>/{prefix}/*]" for prefix in ("exports", "imports")}
    # The erase workflow (a nested stack): the archive's files it rewrites (the bucket's ARN is a
    # parameter there), its function's versions, the executions the admin API restarts.
    [erase_template] = synth.outdir.glob("*PrivacyErase*.nested.template.json")
    [erase_function] = [
        logical_id
        for logical_id, resource in json.loads(erase_template.read_text())["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    [archive_parameter] = [
        name
        for name in json.loads(erase_template.read_text())["Parameters"]
        if name.endswith("ArchiveFilesF953EBDFArn")
    ]
    [imports_parameter] = [
        name
        for name in json.loads(erase_template.read_text())["Parameters"]
        if name.endswith("ImportsFiles83805A7EArn")
    ]
    erase = {
        f"AwsSolutions-IAM5[Resource::<{imports_parameter}>/imports/*]",
        f"AwsSolutions-IAM5[Resource::<{imports_parameter}>/exports/people/*]",
        f"AwsSolutions-IAM5[Resource::<{archive_parameter}>/archive/*]",
        f"AwsSolutions-IAM5[Resource::<{erase_function}.Arn>:*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:{REGION}:<AWS::AccountId>:execution:LineCdp-erase:*]",
    }
    # The console's hosting (a nested stack): CloudFront findings and aws-cdk-lib's BucketDeployment grants.
    [console_template] = synth.outdir.glob("*Console*.nested.template.json")
    [site] = _resources(json.loads(console_template.read_text()), "AWS::S3::Bucket")
    console = {f"AwsSolutions-CFR{n}" for n in (1, 2, 3, 4)} | {
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        *(f"AwsSolutions-IAM5[Action::s3:{a}*]" for a in ("GetObject", "GetBucket", "List", "Abort", "DeleteObject")),
        f"AwsSolutions-IAM5[Resource::<{site}.Arn>/*]",
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-{REGION}/*]",
    }
    assert (
        set(acknowledged)
        == EXPECTED_ACKNOWLEDGEMENTS
        | console
        | objects
        | invoke_versions
        | executions
        | archive_wildcards
        | messaging_wildcards
        | journey_machines
        | journey_wildcards
        | retention_files
        | erase
    )
    assert all(len(reason) > 30 for reasons in acknowledged.values() for reason in reasons)


def test_cfn_lint_finds_no_errors(synth: Any) -> None:
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(synth.template), config=ManualArgs(regions=["ap-northeast-1", "us-east-1"]))
    errors = [str(match) for match in matches if match.rule.id.startswith("E")]
    assert errors == []


# --- local build ---------------------------------------------------------------------------------


def test_local_build_has_no_bootstrap_rule_and_the_same_resources(local_synth: Any, synth: Any) -> None:
    assert "Rules" not in local_synth.template
    assert "BootstrapVersion" not in local_synth.template.get("Parameters", {})
    assert local_synth.template["Resources"] == synth.template["Resources"]
    assert local_synth.error is None


def test_campaigns_fan_out_through_a_queue_the_sender_drains_within_lines_limits(synth: Any) -> None:
    t = synth.template
    sender_id = _function_id(t, MESSAGE_SENDER)
    mappings = [
        m["Properties"]
        for m in t["Resources"].values()
        if m["Type"] == "AWS::Lambda::EventSourceMapping" and m["Properties"]["FunctionName"] == {"Ref": sender_id}
    ]
    assert len(mappings) == 1
    assert mappings[0]["BatchSize"] == 1
    assert mappings[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mappings[0]["ScalingConfig"]["MaximumConcurrency"] >= 2
    runner = _statements(t, CAMPAIGN_RUNNER)
    writes = [s for s in runner if "dynamodb:PutItem" in _actions(s)]
    assert writes and all(
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["CAMPAIGN#*"] for s in writes
    )
    assert any("sqs:SendMessage" in _actions(s) for s in runner)
    admin = _statements(t, ADMIN_API)
    schedules = [s for s in admin if "scheduler:CreateSchedule" in _actions(s)]
    assert any("campaign-*" in json.dumps(s["Resource"]) for s in schedules)


def test_the_admin_api_runs_campaign_preflight_jobs_as_itself_and_the_sender_may_stop_a_campaign(
    synth: Any,
) -> None:
    t = synth.template
    statements = _statements(t, ADMIN_API)
    invokes = [s for s in statements if "lambda:InvokeFunction" in _actions(s)]
    assert {"Fn::GetAtt": [_function_id(t, ADMIN_API), "Arn"]} in [s["Resource"] for s in invokes]
    job_writes = [
        set(_actions(s))
        for s in statements
        if s.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys") == ["QUERYJOB#*"]
    ]
    assert job_writes == [{"dynamodb:PutItem", "dynamodb:UpdateItem"}]
    sender_puts = [
        s["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for s in _statements(t, MESSAGE_SENDER)
        if _actions(s) == ["dynamodb:PutItem"] and "Condition" in s
    ]
    assert ["CAMPAIGN#*"] in sender_puts


# CloudFormation refuses a stack of more than 500 resources; the API's methods and resources grow
# with every route, so the main stack keeps headroom and bulky concerns live in nested stacks.
MAIN_STACK_RESOURCE_BUDGET = 470


def test_the_main_stack_stays_clear_of_cloudformations_resource_limit(synth: Any) -> None:
    count = len(synth.template["Resources"])
    assert count <= MAIN_STACK_RESOURCE_BUDGET, f"{count} resources: move a concern into a nested stack"
    nested = [r for r in synth.template["Resources"].values() if r["Type"] == "AWS::CloudFormation::Stack"]
    for resource in nested:
        stack, construct = resource["Metadata"]["aws:cdk:path"].split("/")[:2]
        (path,) = synth.outdir.glob(f"{stack}{construct.removesuffix('.NestedStack')}*.nested.template.json")
        assert len(json.loads(path.read_text())["Resources"]) <= MAIN_STACK_RESOURCE_BUDGET, path.name
