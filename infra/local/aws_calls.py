"""Record the AWS calls each function makes, as the IAM requests AWS would authorize.

The local runtime hosts every function in one process, so "who calls" is a context variable that
the runtime sets around each invocation (and that follows work handed to thread pools). A botocore
`provide-client-params` hook sees every call (and every presigned URL, which the caller's role
signs) with its plain parameters and turns it into IAM requests: action, resource ARN and the
condition keys the stack's policies use (dynamodb:LeadingKeys, s3:prefix). tests/iam/ checks
them against each function's synthesized policy.

Only distinct requests are kept, so recording costs a dictionary lookup per call.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.config import REGION

ACCOUNT = "123456789012"  # moto's account, as provisioned
_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("cdp_local_function", default=None)
_unchecked: contextvars.ContextVar[bool] = contextvars.ContextVar("cdp_local_unchecked", default=False)


@contextlib.contextmanager
def running(function: str) -> Iterator[None]:
    """Mark the AWS calls made inside as `function`'s (functions/<folder>)."""
    token = _function.set(function)
    try:
        yield
    finally:
        _function.reset(token)


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Calls a test makes deliberately impossible (e.g. a function pointed at a missing resource
    to see the failure path): not the deployed stack's calls, so not checked against its policies."""
    token = _unchecked.set(True)
    try:
        yield
    finally:
        _unchecked.reset(token)


@dataclass(frozen=True, slots=True)
class IamRequest:
    function: str
    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...] | str], ...]  # sorted condition keys -> value(s)
    call: str  # service.Operation that asked for it, for the report

    def context_dict(self) -> dict[str, str | list[str]]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in self.context}

    def as_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "action": self.action,
            "resource": self.resource,
            "context": self.context_dict(),
            "call": self.call,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IamRequest:
        return cls(
            function=data["function"],
            action=data["action"],
            resource=data["resource"],
            context=_context(data["context"]),
            call=data["call"],
        )


def _context(values: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...] | str], ...]:
    return tuple(
        sorted((key, tuple(value) if isinstance(value, list | tuple) else str(value)) for key, value in values.items())
    )


class UnmappedCall(LookupError):
    """A call with no IAM mapping here: add one rather than let it pass unchecked."""


class Recorder:
    def __init__(self) -> None:
        self.requests: set[IamRequest] = set()
        self.unmapped: set[tuple[str, str]] = set()  # (function, service.Operation)
        self.problems: list[str] = []  # e.g. a process whose records never arrived
        self.calls = 0
        self.key_schemas: dict[str, dict[str | None, str]] = {}  # table name -> {index or None: hash key}
        # What the policies are checked against: the template and its local names and ARNs.
        self.template: dict[str, Any] | None = None
        self.names: dict[str, str] = {}
        self.arns: dict[str, str] = {}
        self._lock = threading.Lock()

    def provisioned(self, template: dict[str, Any], names: Mapping[str, str], arns: Mapping[str, str]) -> None:
        """The stack the calls are made against (every provisioning names resources alike)."""
        self.template, self.names, self.arns = template, dict(names), dict(arns)
        self.key_schemas.update(table_key_schemas(template, names))

    def record(self, function: str, service: str, operation: str, params: Mapping[str, Any]) -> None:
        call = f"{service}.{operation}"
        try:
            found = iam_requests(service, operation, params, self.key_schemas)
        except Exception:  # never break the call itself; botocore validates the parameters next
            with self._lock:
                self.unmapped.add((function, call))
            return
        with self._lock:
            self.calls += 1
            for action, resource, context in found:
                self.requests.add(IamRequest(function, action, resource, _context(context), call))

    def dump(self, path: Path) -> None:
        with self._lock:
            data = {
                "template": self.template,
                "names": self.names,
                "arns": self.arns,
                "calls": self.calls,
                "requests": [request.as_json() for request in self.requests],
                "unmapped": sorted(self.unmapped),
                "problems": self.problems,
            }
        path.write_text(json.dumps(data))

    def load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        with self._lock:
            if self.template is None and data["template"] is not None:
                self.template, self.names, self.arns = data["template"], data["names"], data["arns"]
            self.calls += int(data["calls"])
            self.requests.update(IamRequest.from_json(item) for item in data["requests"])
            self.unmapped.update((function, call) for function, call in data["unmapped"])
            self.problems.extend(data["problems"])


RECORDER = Recorder()
_installed = False


def _on_params(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    function = _function.get()
    if function is not None and not _unchecked.get():
        RECORDER.record(function, model.service_model.service_name, model.name, params)


def install() -> Recorder:
    """Record from now on (sessions created later pick the hook up). Idempotent."""
    global _installed
    if not _installed:
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append(("provide-client-params", _on_params))
        _propagate_context_to_thread_pools()
        _installed = True
    return RECORDER


def _propagate_context_to_thread_pools() -> None:
    """Work a function hands to a thread pool (parallel writes, S3 transfers) is still that function's."""
    submit = ThreadPoolExecutor.submit

    def submit_in_context(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    ThreadPoolExecutor.submit = submit_in_context  # type: ignore[method-assign,assignment]


def table_key_schemas(template: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, dict[str | None, str]]:
    """{local table name: {None: table hash key, index name: index hash key}} from the template."""
    found: dict[str, dict[str | None, str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != "AWS::DynamoDB::Table" or logical_id not in names:
            continue
        props = resource["Properties"]
        keys: dict[str | None, str] = {None: _hash_key(props["KeySchema"])}
        for index in props.get("GlobalSecondaryIndexes", []) + props.get("LocalSecondaryIndexes", []):
            keys[index["IndexName"]] = _hash_key(index["KeySchema"])
        found[names[logical_id]] = keys
    return found


def _hash_key(schema: list[dict[str, str]]) -> str:
    return next(key["AttributeName"] for key in schema if key["KeyType"] == "HASH")


# calls -> IAM requests ---------------------------------------------------------------------------
Request = tuple[str, str, dict[str, Any]]  # action, resource ARN, condition keys


def iam_requests(
    service: str, operation: str, params: Mapping[str, Any], key_schemas: Mapping[str, Mapping[str | None, str]]
) -> list[Request]:
    mapper = _MAPPERS.get(service)
    if mapper is None:
        raise UnmappedCall(f"{service}.{operation}")
    return mapper(operation, params, key_schemas)


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


# DynamoDB: the item's partition key value is the request's dynamodb:LeadingKeys.
_ITEM_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}
_TABLE_ACTIONS = {"DescribeTable", "DescribeTimeToLive"}
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _table_arn(table: str, index: str | None = None) -> str:
    base = table if table.startswith("arn:") else _arn("dynamodb", f"table/{table}")
    return f"{base}/index/{index}" if index else base


def _table_name(table: str) -> str:
    return table.split(":table/")[-1].split("/")[0]


def _scalar(value: Any) -> str:
    """A key value, whether low-level ({"S": "x"}) or plain."""
    if isinstance(value, Mapping) and len(value) == 1:
        (kind, inner), *_ = value.items()
        if kind in ("S", "N", "B"):
            return str(inner)
    return str(value)


def _partition_key(schemas: Mapping[str, Mapping[str | None, str]], table: str, index: str | None = None) -> str:
    keys = schemas.get(_table_name(table))
    if keys is None or index not in keys:
        raise UnmappedCall(f"no key schema for {table} {index or ''}")
    return keys[index]


def _leading(
    schemas: Mapping[str, Mapping[str | None, str]], table: str, items: list[Mapping[str, Any]]
) -> dict[str, Any]:
    key = _partition_key(schemas, table)
    return {"dynamodb:LeadingKeys": sorted({_scalar(item[key]) for item in items})}


_EQUALITY = re.compile(r"([#:]?[\w.]+)\s*=\s*([#:]?[\w.]+)")


def _query_leading_key(params: Mapping[str, Any], hash_key: str) -> str:
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    if "KeyConditions" in params:
        return _scalar(params["KeyConditions"][hash_key]["AttributeValueList"][0])
    for left, right in _EQUALITY.findall(params.get("KeyConditionExpression", "")):
        for name, value in ((left, right), (right, left)):
            if names.get(name, name) == hash_key and value.startswith(":"):
                return _scalar(values[value])
    raise UnmappedCall(f"no partition key equality in {params.get('KeyConditionExpression')!r}")


def _dynamodb(
    operation: str, params: Mapping[str, Any], schemas: Mapping[str, Mapping[str | None, str]]
) -> list[Request]:
    action = f"dynamodb:{operation}"
    if operation in _ITEM_ACTIONS:
        table = params["TableName"]
        item = params["Item"] if operation == "PutItem" else params["Key"]
        return [(action, _table_arn(table), _leading(schemas, table, [item]))]
    if operation == "Query":
        table, index = params["TableName"], params.get("IndexName")
        key = _query_leading_key(params, _partition_key(schemas, table, index))
        return [(action, _table_arn(table, index), {"dynamodb:LeadingKeys": [key]})]
    if operation == "Scan":
        return [(action, _table_arn(params["TableName"], params.get("IndexName")), {})]
    if operation == "BatchGetItem":
        return [
            (action, _table_arn(table), _leading(schemas, table, request["Keys"]))
            for table, request in params["RequestItems"].items()
        ]
    if operation == "BatchWriteItem":
        return [
            (
                action,
                _table_arn(table),
                _leading(
                    schemas,
                    table,
                    [w["PutRequest"]["Item"] if "PutRequest" in w else w["DeleteRequest"]["Key"] for w in writes],
                ),
            )
            for table, writes in params["RequestItems"].items()
        ]
    if operation == "TransactWriteItems":
        found: list[Request] = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            item = body["Item"] if kind == "Put" else body["Key"]
            found.append(
                (
                    f"dynamodb:{_TRANSACT[kind]}",
                    _table_arn(body["TableName"]),
                    _leading(schemas, body["TableName"], [item]),
                )
            )
        return found
    if operation == "TransactGetItems":
        return [
            (
                "dynamodb:GetItem",
                _table_arn(e["Get"]["TableName"]),
                _leading(schemas, e["Get"]["TableName"], [e["Get"]["Key"]]),
            )
            for e in params["TransactItems"]
        ]
    if operation in _TABLE_ACTIONS:
        return [(action, _table_arn(params["TableName"]), {})]
    raise UnmappedCall(f"dynamodb.{operation}")


# S3: object ARNs; listing is s3:ListBucket on the bucket with the prefix as s3:prefix.
_S3_OBJECT = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
}


def _s3(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    bucket = params["Bucket"]
    if operation in _S3_OBJECT:
        return [(_S3_OBJECT[operation], f"arn:aws:s3:::{bucket}/{params['Key']}", {})]
    if operation in ("ListObjectsV2", "ListObjects"):
        context = {"s3:prefix": params["Prefix"]} if "Prefix" in params else {}
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}", context)]
    if operation == "HeadBucket":
        return [("s3:ListBucket", f"arn:aws:s3:::{bucket}", {})]
    if operation == "DeleteObjects":
        return [("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{o['Key']}", {}) for o in params["Delete"]["Objects"]]
    if operation == "CopyObject":
        source = params["CopySource"]
        source_arn = (
            f"arn:aws:s3:::{source['Bucket']}/{source['Key']}"
            if isinstance(source, Mapping)
            else f"arn:aws:s3:::{source.lstrip('/')}"
        )
        return [("s3:GetObject", source_arn, {}), ("s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}", {})]
    raise UnmappedCall(f"s3.{operation}")


def _secretsmanager(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    secret = params["SecretId"]
    arn = secret if secret.startswith("arn:") else _arn("secretsmanager", f"secret:{secret}-xxxxxx")
    return [(f"secretsmanager:{operation}", arn, {})]


def _events(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation != "PutEvents":
        raise UnmappedCall(f"events.{operation}")
    buses = {entry.get("EventBusName") or "default" for entry in params["Entries"]}
    return [
        ("events:PutEvents", bus if bus.startswith("arn:") else _arn("events", f"event-bus/{bus}"), {})
        for bus in sorted(buses)
    ]


def _stepfunctions(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat") and "taskToken" in params:
        # Addressed by a task token alone: AWS authorises it on the token's state machine, which
        # the call does not name, so the local check has no resource to ask about.
        return []
    if operation == "CreateStateMachine":  # a journey version's machine, created at publish
        arn = _arn("states", f"stateMachine:{params['name']}")
        found: list[Request] = [("states:CreateStateMachine", arn, {})]
        if params.get("tags"):  # tags given on create are authorized as a TagResource too
            found.append(("states:TagResource", arn, {}))
        # the machine runs as that role: its creator must be allowed to pass it
        found.append(("iam:PassRole", params["roleArn"], {"iam:PassedToService": "states.amazonaws.com"}))
        return found
    arn = params.get("stateMachineArn") or params.get("executionArn")
    if arn is None:
        raise UnmappedCall(f"stepfunctions.{operation}")
    return [(f"states:{operation}", arn, {})]


def _scheduler(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation not in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule", "GetSchedule"):
        raise UnmappedCall(f"scheduler.{operation}")
    arn = _arn("scheduler", f"schedule/{params.get('GroupName') or 'default'}/{params['Name']}")
    found: list[Request] = [(f"scheduler:{operation}", arn, {})]
    role = (params.get("Target") or {}).get("RoleArn")
    if role:  # the schedule runs as that role: its creator must be allowed to pass it
        found.append(("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"}))
    return found


def _lambda(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation not in ("Invoke", "InvokeAsync"):
        raise UnmappedCall(f"lambda.{operation}")
    name = params["FunctionName"]
    arn = name if name.startswith("arn:") else _arn("lambda", f"function:{name}")
    return [("lambda:InvokeFunction", arn, {})]


def _sqs(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if "QueueUrl" in params:
        *_, account, name = params["QueueUrl"].rstrip("/").split("/")
        arn = f"arn:aws:sqs:{REGION}:{account}:{name}"
    elif "QueueName" in params:
        arn = _arn("sqs", params["QueueName"])
    else:
        raise UnmappedCall(f"sqs.{operation}")
    action = (
        "SendMessage"
        if operation == "SendMessageBatch"
        else "DeleteMessage"
        if operation == "DeleteMessageBatch"
        else operation
    )
    return [(f"sqs:{action}", arn, {})]


def _sesv2(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    """SES v2 SendEmail is authorised as `ses:SendEmail` on the sending identity and, when one is
    named, the configuration set."""
    if operation != "SendEmail":
        raise UnmappedCall(f"sesv2.{operation}")
    sender = str(params.get("FromEmailAddress") or "")
    address = sender.rpartition("<")[2].rstrip(">").strip() if "<" in sender else sender.strip()
    found: list[Request] = [("ses:SendEmail", _arn("ses", f"identity/{address}"), {})]
    if params.get("ConfigurationSetName"):
        found.append(("ses:SendEmail", _arn("ses", f"configuration-set/{params['ConfigurationSetName']}"), {}))
    return found


def _sns(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation == "Publish" and params.get("PhoneNumber"):  # an SMS: no resource to name
        return [("sns:Publish", "*", {})]
    if operation == "Publish":
        return [("sns:Publish", str(params.get("TopicArn") or params.get("TargetArn")), {})]
    if operation == "CheckIfPhoneNumberIsOptedOut":
        return [("sns:CheckIfPhoneNumberIsOptedOut", "*", {})]
    raise UnmappedCall(f"sns.{operation}")


def _dynamodbstreams(operation: str, params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation == "ListStreams":  # no resource-level permission
        return [("dynamodb:ListStreams", "*", {})]
    if operation in ("DescribeStream", "GetShardIterator"):
        arn = params["StreamArn"]
    elif operation == "GetRecords":  # an iterator is `<stream ARN>|<version>|<opaque>`, in AWS as in moto
        arn = params["ShardIterator"].split("|", 1)[0]
    else:
        raise UnmappedCall(f"dynamodbstreams.{operation}")
    return [(f"dynamodb:{operation}", arn, {})]


def _sts(operation: str, _params: Mapping[str, Any], _schemas: Mapping[str, Any]) -> list[Request]:
    if operation != "GetCallerIdentity":  # the one call that needs no permission
        raise UnmappedCall(f"sts.{operation}")
    return []


_MAPPERS = {
    "dynamodb": _dynamodb,
    "s3": _s3,
    "secretsmanager": _secretsmanager,
    "events": _events,
    "stepfunctions": _stepfunctions,
    "scheduler": _scheduler,
    "lambda": _lambda,
    "sqs": _sqs,
    "sts": _sts,
    "dynamodbstreams": _dynamodbstreams,
    "sesv2": _sesv2,
    "sns": _sns,
}
