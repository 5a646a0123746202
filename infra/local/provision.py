"""Create the local AWS resources from the CDK-synthesized template, so local and cloud cannot drift.

The template is the source of truth: tables (keys, GSIs, streams, TTL), queues, the event bus,
secrets, each function's environment (with Ref/GetAtt resolved to the local names) and the
stream event source mapping settings (batch size, window, retries, on-failure destination).
Only the values of secrets are local: they come from LocalConfig.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdp import settings as env_names

from infra.cdp_infra.access import OUTPUT_ISSUER
from infra.cdp_infra.routes import (
    ARCHIVE_COMPACTOR,
    ARCHIVE_WRITER,
    CAMPAIGN_RUNNER,
    DLQ_ARCHIVER,
    EVENT_PROCESSOR,
    HTTP_FUNCTIONS,
    IDENTITY_MERGE,
    JOURNEY_EVENTS,
    JOURNEY_STARTER,
    JOURNEY_STEP,
    MEMBER_IMPORT,
    MESSAGE_SENDER,
    PRIVACY_ERASE,
    PRIVACY_RETENTION,
    RFM_SCORING,
    RICH_MENU_SYNC,
    SEGMENT_EVALUATOR,
    SEGMENT_RECOMPUTE,
)
from infra.local.config import REGION, LocalConfig
from infra.local.users import LocalUserPool, provision_user_pool

LOCAL_ACCOUNT = "123456789012"  # moto's default account
FUNCTION_FOLDERS = (
    *HTTP_FUNCTIONS,
    EVENT_PROCESSOR,
    IDENTITY_MERGE,
    SEGMENT_EVALUATOR,
    MEMBER_IMPORT,
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
    PRIVACY_RETENTION,
    PRIVACY_ERASE,
)
# What the local stack sets beyond the template: rules, tag rules and auto-replies edited through
# the admin API apply within 2 s instead of the deployed 60 s, so a developer (and the e2e suite)
# sees an edit at once.
LOCAL_ENVIRONMENT = {
    env_names.ENV_RULES_CACHE_SECONDS: "2",
    env_names.ENV_JOURNEY_CACHE_SECONDS: "1",
    # the local stream dispatcher hands core changes to the archive writer at once
    env_names.ENV_ERASE_SETTLE_SECONDS: "1",
}
_PATH_FUNCTION = re.compile(r"/(?P<name>[a-z_]+)/Function/Resource$")


class TemplateError(RuntimeError):
    """The template has something the local runtime cannot reproduce: fail loudly, never guess."""


@dataclass(slots=True)
class StreamMapping:
    """An event source mapping of the template, with Lambda's defaults for what it leaves out."""

    function: str
    table_logical_id: str
    batch_size: int
    batching_window_seconds: int
    max_retries: int  # -1: until the records expire
    report_batch_item_failures: bool
    on_failure_queue_logical_id: str | None
    bisect_on_function_error: bool = False
    max_record_age_seconds: int = -1  # -1: the stream's retention (24 h)
    filter_patterns: tuple[str, ...] = ()  # FilterCriteria: a record is sent if any pattern matches


@dataclass(frozen=True, slots=True)
class QueueMapping:
    """An SQS event source mapping: the local stack polls the queue and invokes the function."""

    function: str
    queue_logical_id: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True, slots=True)
class EventTarget:
    """An EventBridge rule's Lambda target, delivered locally through a queue on the rule."""

    rule: str
    queue_url: str
    function: str  # functions/<folder>


@dataclass(slots=True)
class LocalResources:
    names: dict[str, str] = field(default_factory=dict)  # logical id -> Ref value (name / url)
    arns: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    function_env: dict[str, dict[str, str]] = field(default_factory=dict)  # folder -> environment
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    queue_mappings: list[QueueMapping] = field(default_factory=list)
    stream_arns: dict[str, str] = field(default_factory=dict)  # table logical id -> stream ARN
    queue_urls: dict[str, str] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)  # ARN -> functions/<folder>
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    event_targets: list[EventTarget] = field(default_factory=list)  # bus rules -> functions
    stack_outputs: dict[str, str] = field(default_factory=dict)  # nested stacks' outputs by name
    user_pool: LocalUserPool | None = None  # the console users' pool (infra/local/users.py)


def synthesize_template() -> dict[str, Any]:
    """Synthesize the stack in-process (offline) and return its CloudFormation template."""
    from cdp.domain_events import RECEIVED_ALL

    from infra.cdp_infra import constants
    from infra.cdp_infra.app_factory import build_app
    from infra.cdp_infra.core_layer import LayerAssets
    from infra.cdp_infra.deploy_settings import PUBLISH_EVENT_RECEIVED
    from infra.cdp_infra.deploy_settings import REGION as REGION_KEY

    with tempfile.TemporaryDirectory(prefix="cdp-synth-") as outdir:
        # Functions run on the development environment's packages: the code-only layers suffice.
        # The region is the local endpoint's, whatever cdk.json deploys to. Every processed event
        # is published, so `/_local/events` shows the whole flow (a deployment publishes none
        # unless asked: each is a paid EventBridge entry).
        context = {REGION_KEY: REGION, PUBLISH_EVENT_RECEIVED: RECEIVED_ALL}
        app = build_app(layers=LayerAssets.code_only(), local=True, context=context, outdir=outdir)
        assembly = app.synth()
        template: dict[str, Any] = assembly.get_stack_by_name(constants.STACK_NAME).template
        return flatten_nested_stacks(template, Path(outdir))


def flatten_nested_stacks(template: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """The main template with every nested stack's resources folded in, as one stack: each nested
    parameter replaced by what the parent passes, each nested output the parent (or another nested
    stack) reads replaced by its value. The local stack then provisions a function that lives in
    a nested stack (kept there for CloudFormation's 500-resource limit) like any other."""
    resources = dict(template["Resources"])
    outputs: dict[tuple[str, str], Any] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudFormation::Stack":
            continue
        del resources[logical_id]
        stack, construct = resource["Metadata"]["aws:cdk:path"].split("/")[:2]
        (path,) = outdir.glob(f"{stack}{construct.removesuffix('.NestedStack')}*.nested.template.json")
        nested = json.loads(path.read_text())
        parameters = resource["Properties"].get("Parameters", {})
        nested = _substitute_refs(nested, parameters)
        clashes = set(nested["Resources"]) & set(resources)
        if clashes:
            raise TemplateError(f"nested stack {construct} reuses logical ids {sorted(clashes)}")
        resources.update(nested["Resources"])
        for name, output in nested.get("Outputs", {}).items():
            outputs[(logical_id, f"Outputs.{name}")] = output["Value"]

    def from_outputs(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::GetAtt"} and tuple(node["Fn::GetAtt"]) in outputs:
                return from_outputs(outputs[tuple(node["Fn::GetAtt"])])
            return {key: from_outputs(value) for key, value in node.items()}
        if isinstance(node, list):
            return [from_outputs(value) for value in node]
        return node

    flattened: dict[str, Any] = from_outputs({**template, "Resources": resources})
    return flattened


def _substitute_refs(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return {key: _substitute_refs(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute_refs(value, values) for value in node]
    return node


def load_or_synthesize(cache_dir: Path) -> dict[str, Any]:
    """Synthesis costs seconds; reuse the last template while infra/ is unchanged."""
    sources = [
        *sorted(Path("infra/cdp_infra").glob("*.py")),
        Path("cdk.json"),
        Path("infra/local/provision.py"),  # the nested stacks' flattening
        Path("layers/core/python/cdp/settings.py"),
        # Domain constants the API construct reads: CORS headers, analytics.js's short paths.
        Path("layers/core/python/cdp/cors.py"),
        Path("layers/core/python/cdp/ingestion/calls.py"),
    ]
    digest = hashlib.sha256()
    for path in sources:
        if path.exists():
            digest.update(str(path).encode() + path.read_bytes())
    fingerprint = digest.hexdigest()
    cache = cache_dir / "template.json"
    stamp = cache_dir / "template.fingerprint"
    if cache.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    template = synthesize_template()
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(cache, json.dumps(template))  # parallel test workers may synthesize at once
    _write_atomically(stamp, fingerprint)
    return template


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def provision(template: dict[str, Any], aws: Any, config: LocalConfig) -> LocalResources:
    """Create every supported resource on the (moto) endpoint behind the `aws` client factory."""
    resources = template.get("Resources", {})
    out = LocalResources()
    prefix = "cdp-local"
    out.names["AWS::StackName"] = prefix
    for logical_id, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::DynamoDB::Table":
            _create_table(aws("dynamodb"), f"{prefix}-{logical_id}", props, out, logical_id)
        elif kind == "AWS::SQS::Queue":
            url = aws("sqs").create_queue(QueueName=f"{prefix}-{logical_id}")["QueueUrl"]
            attrs = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            out.names[logical_id], out.arns[logical_id], out.queue_urls[logical_id] = url, attrs["QueueArn"], url
        elif kind == "AWS::Events::EventBus":
            name = props.get("Name") or f"{prefix}-{logical_id}"
            arn = aws("events").create_event_bus(Name=name)["EventBusArn"]
            out.names[logical_id], out.arns[logical_id] = name, arn
        elif kind == "AWS::SecretsManager::Secret":
            name = f"{prefix}-{logical_id}"
            arn = aws("secretsmanager").create_secret(Name=name, SecretString="{}")["ARN"]
            out.names[logical_id], out.arns[logical_id] = arn, arn
        elif kind == "AWS::S3::Bucket":
            name = f"{prefix}-{logical_id.lower()}"[:63]  # bucket names: lower case, at most 63 characters
            s3 = aws("s3")
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name})
            out.names[logical_id], out.arns[logical_id] = name, f"arn:aws:s3:::{name}"
        elif kind == "AWS::IAM::Role":  # not created: moto checks no role; only its ARN is passed on
            out.arns[logical_id] = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{prefix}-{logical_id}"[:140]
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Scheduler::ScheduleGroup":
            name = _resolve(resource["Properties"]["Name"], out)
            arn = aws("scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
            out.names[logical_id], out.arns[logical_id] = name, arn
    functions = _functions(resources)
    for logical_id, folder in functions.items():
        name = f"{prefix}-{folder}"
        arn = f"arn:aws:lambda:{REGION}:{LOCAL_ACCOUNT}:function:{name}"
        out.names[logical_id], out.arns[logical_id], out.function_arns[arn] = name, arn, folder
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            _create_state_machine(
                aws("stepfunctions"), f"{prefix}-{logical_id}", resource["Properties"], out, logical_id
            )
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Events::Rule":
            out.event_targets.extend(
                _event_targets(aws, f"{prefix}-{logical_id}", resource["Properties"], out, functions)
            )
    for resource in resources.values():
        if resource["Type"] == "AWS::Scheduler::Schedule":
            _create_schedule(aws("scheduler"), resource["Properties"], out)
    provision_users(aws, resources, out, f"{prefix}-users")
    for logical_id, folder in functions.items():
        variables = resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        out.function_env[folder] = {key: _resolve(value, out) for key, value in variables.items()}
        out.function_env[folder].update(LOCAL_ENVIRONMENT)
        if out.user_pool is not None and env_names.ENV_USER_POOL_ISSUER in out.function_env[folder]:
            # moto publishes the pool's keys on its own endpoint, not under the issuer's host.
            out.function_env[folder][env_names.ENV_USER_POOL_JWKS_URL] = out.user_pool.jwks_url
    _local_email(aws, out)
    _fill_secrets(aws("secretsmanager"), out, config)
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            queue = _queue_mapping(resource["Properties"], functions, resources)
            if queue is not None:
                out.queue_mappings.append(queue)
            else:
                out.stream_mappings.append(_stream_mapping(resource["Properties"], functions))
    missing = set(FUNCTION_FOLDERS) - set(out.function_env)
    if missing:
        raise TemplateError(f"functions missing from the template: {sorted(missing)}")
    return out


def provision_users(aws: Any, resources: dict[str, Any], out: LocalResources, name: str) -> None:
    """The console users' pool (infra/cdp_infra/access.py) on moto, with one user per role.

    Either the pool's resources are in `resources` (nested stacks folded in): each is given its
    local id, and the functions' issuer (a join over the region, URL suffix and pool id) resolves
    like any value; or only the nested stack's outputs are referenced: they are answered by name.
    """
    pools = [key for key, resource in resources.items() if resource["Type"] == "AWS::Cognito::UserPool"]
    referenced = f'"Outputs.{OUTPUT_ISSUER}"' in json.dumps(resources)
    if len(pools) > 1:
        raise TemplateError(f"the local stack makes one user pool, the template has {len(pools)}")
    if not pools and not referenced:
        return
    out.user_pool = provision_user_pool(aws("cognito-idp"), name)
    out.stack_outputs.update(out.user_pool.outputs(sign_in_url=""))
    out.names.update({"AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com", "AWS::AccountId": LOCAL_ACCOUNT})
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Cognito::UserPool":
            out.names[logical_id] = out.user_pool.pool_id
            out.arns[logical_id] = f"arn:aws:cognito-idp:{REGION}:{LOCAL_ACCOUNT}:userpool/{out.user_pool.pool_id}"
        elif resource["Type"] == "AWS::Cognito::UserPoolClient":
            out.names[logical_id] = out.user_pool.client_id


def _create_table(client: Any, name: str, props: dict[str, Any], out: LocalResources, logical_id: str) -> None:
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [
            {k: v for k, v in index.items() if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")}
            for index in props["GlobalSecondaryIndexes"]
        ]
    stream = props.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    description = client.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    out.names[logical_id], out.arns[logical_id] = name, description["TableArn"]
    if description.get("LatestStreamArn"):
        out.stream_arns[logical_id] = description["LatestStreamArn"]


def _create_state_machine(client: Any, name: str, props: dict[str, Any], out: LocalResources, logical_id: str) -> None:
    """The real definition from the template, with the function ARNs of the local runtime."""
    definition = _resolve(props["DefinitionString"], out)
    arn = client.create_state_machine(
        name=name,
        definition=definition,
        roleArn=f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{name}",
        type=props.get("StateMachineType", "STANDARD"),
    )["stateMachineArn"]
    out.names[logical_id], out.arns[logical_id], out.state_machines[logical_id] = arn, arn, arn


def _event_targets(
    aws: Any, name: str, props: dict[str, Any], out: LocalResources, functions: dict[str, str]
) -> list[EventTarget]:
    """The rule with its own pattern on the local bus; each Lambda target becomes a queue that the
    local stack drains into the function (moto's EventBridge does not invoke Lambda)."""
    lambda_targets = [
        target
        for target in props.get("Targets", [])
        if isinstance(target.get("Arn"), dict) and target["Arn"].get("Fn::GetAtt", [None])[0] in functions
    ]
    if not lambda_targets:
        return []
    bus = _resolve(props.get("EventBusName", "default"), out)
    events, sqs = aws("events"), aws("sqs")
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")
    found: list[EventTarget] = []
    for index, target in enumerate(lambda_targets):
        url = sqs.create_queue(QueueName=f"{name}-target-{index}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": f"local-{index}", "Arn": arn}])
        found.append(EventTarget(rule=name, queue_url=url, function=functions[target["Arn"]["Fn::GetAtt"][0]]))
    return found


def _functions(resources: dict[str, Any]) -> dict[str, str]:
    """Lambda logical id -> functions/<folder>, read from the construct path the factory gives it."""
    found: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        match = _PATH_FUNCTION.search(resource.get("Metadata", {}).get("aws:cdk:path", ""))
        if match and match["name"] in FUNCTION_FOLDERS:
            found[logical_id] = match["name"]
    return found


def _create_schedule(client: Any, props: dict[str, Any], out: LocalResources) -> None:
    """A schedule of the template (e.g. the daily RFM run): the local scheduler fires it when due
    in its time zone, or on request (`/_local/schedules/run`)."""
    target = props["Target"]
    optional = {
        key: props[key] for key in ("ScheduleExpressionTimezone", "State", "Description") if props.get(key) is not None
    }
    client.create_schedule(
        Name=_resolve(props["Name"], out),
        GroupName=_resolve(props.get("GroupName", "default"), out),
        ScheduleExpression=props["ScheduleExpression"],
        FlexibleTimeWindow=props["FlexibleTimeWindow"],
        Target={
            "Arn": _resolve(target["Arn"], out),
            "RoleArn": _resolve(target["RoleArn"], out),
            "Input": target.get("Input", "{}"),
        },
        **optional,
    )


LOCAL_EMAIL_FROM = "shop@example.com"


def _local_email(aws: Any, out: LocalResources) -> None:
    """The sender's email channel on moto's SES: a verified local sender address unless the
    deployment gives one (emailFromAddress), so email fallbacks can be seen at /_local/email/sent."""
    sender_env = out.function_env[MESSAGE_SENDER]
    if not sender_env.get(env_names.ENV_EMAIL_FROM_ADDRESS):
        sender_env[env_names.ENV_EMAIL_FROM_ADDRESS] = LOCAL_EMAIL_FROM
    # The journey step function sends through the send point in-process: the same sender address.
    step_env = out.function_env.get(JOURNEY_STEP)
    if step_env is not None and not step_env.get(env_names.ENV_EMAIL_FROM_ADDRESS):
        step_env[env_names.ENV_EMAIL_FROM_ADDRESS] = sender_env[env_names.ENV_EMAIL_FROM_ADDRESS]
    aws("ses").verify_email_identity(EmailAddress=sender_env[env_names.ENV_EMAIL_FROM_ADDRESS])


def _resolve(value: Any, out: LocalResources) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve(part, out) for part in parts)
    if isinstance(value, dict) and "Ref" in value and value["Ref"] in out.names:
        return out.names[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and logical_id in out.arns:
            return out.arns[logical_id]
        if attribute == "Name" and logical_id in out.names:
            return out.names[logical_id]
        if attribute.startswith("Outputs.") and attribute.removeprefix("Outputs.") in out.stack_outputs:
            return out.stack_outputs[attribute.removeprefix("Outputs.")]
    raise TemplateError(f"cannot resolve {value!r} locally")


def _fill_secrets(client: Any, out: LocalResources, config: LocalConfig) -> None:
    """Give each secret the local default value for the role the functions' env says it plays."""
    values = {
        env_names.ENV_LINE_CHANNELS_SECRET: json.dumps(config.line_channels_secret()),
        env_names.ENV_WRITE_KEYS_SECRET: json.dumps(config.write_keys_secret()),
        env_names.ENV_ADMIN_TOKEN_SECRET: config.admin_token,
        # tracked links' personal-link tokens: any long random key; a fixed one keeps links valid across restarts
        env_names.ENV_LINK_SIGNING_SECRET: "local-dev-link-signing-key-" + "0123456789abcdef" * 3,
    }
    for env in out.function_env.values():
        for variable, value in values.items():
            if variable in env:
                client.put_secret_value(SecretId=env[variable], SecretString=value)


def _queue_mapping(props: dict[str, Any], functions: dict[str, str], resources: dict[str, Any]) -> QueueMapping | None:
    source = props.get("EventSourceArn", {}).get("Fn::GetAtt", [None, None])
    if resources.get(source[0], {}).get("Type") != "AWS::SQS::Queue":
        return None
    function_ref = props["FunctionName"].get("Ref")
    if function_ref not in functions:
        raise TemplateError(f"unsupported event source mapping: {props!r}")
    return QueueMapping(
        function=functions[function_ref],
        queue_logical_id=source[0],
        batch_size=int(props.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
    )


def _stream_mapping(props: dict[str, Any], functions: dict[str, str]) -> StreamMapping:
    function_ref = props["FunctionName"].get("Ref")
    source = props.get("EventSourceArn", {}).get("Fn::GetAtt", [None, None])
    if function_ref not in functions or source[1] != "StreamArn":
        raise TemplateError(f"unsupported event source mapping: {props!r}")
    if int(props.get("ParallelizationFactor", 1)) != 1 or props.get("TumblingWindowInSeconds"):
        raise TemplateError(f"the local stream dispatcher has no parallelization or tumbling windows: {props!r}")
    destination = (props.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    on_failure = destination["Fn::GetAtt"][0] if isinstance(destination, dict) and "Fn::GetAtt" in destination else None
    return StreamMapping(
        function=functions[function_ref],
        table_logical_id=source[0],
        batch_size=int(props.get("BatchSize", 100)),
        batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
        max_retries=int(props.get("MaximumRetryAttempts", -1)),
        report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        on_failure_queue_logical_id=on_failure,
        bisect_on_function_error=bool(props.get("BisectBatchOnFunctionError", False)),
        max_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
        filter_patterns=tuple(
            str(entry["Pattern"])
            for entry in (props.get("FilterCriteria") or {}).get("Filters", [])
            if "Pattern" in entry
        ),
    )
