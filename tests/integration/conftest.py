"""Integration suite: the real adapters and handlers against moto, in-process.

Every test gets a fresh moto account provisioned from the CDK-synthesized template by the same
code the local runtime uses (infra/local/provision.py): the tables' keys, GSIs and streams, the
bus, the secrets and each function's environment are the ones the stack deploys, so a schema
drift between infra/ and the adapters fails here.

Handlers are loaded from functions/<name>/handler.py through the local Lambda runtime and called
with API Gateway / DynamoDB-stream shaped events. Their `build()` and the boto3 client factory
are process-wide caches (a warm Lambda container): they are cleared around every test so that
clients are created inside that test's moto context.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from cdp import settings as env_names
from cdp.adapters import aws as aws_clients
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, ROUTES
from infra.local import aws_calls
from infra.local.config import LOCAL_CHANNEL, REGION, LocalConfig
from infra.local.lambda_runtime import LambdaRuntime
from infra.local.provision import LocalResources, load_or_synthesize, provision
from tests.fixtures.line_events import CHANNEL_SECRET

REPO_ROOT = Path(__file__).resolve().parents[2]
_ADMIN_ROUTES = [
    (route, re.compile("^" + re.sub(r"\\\{(\w+)\\\}", "[^/]+", re.escape(route.path)) + "$"))
    for route in sorted(ROUTES, key=lambda r: "{" in r.path)
    if route.function in (ADMIN_API, ADMIN_QUERY)
]


def admin_function(method: str, path: str) -> str:
    """The admin API is one surface served by two functions: the route table picks, as API Gateway does."""
    for route, pattern in _ADMIN_ROUTES:
        if route.method == method and pattern.match(path):
            return route.function
    return ADMIN_API


FUNCTIONS = ("line_webhook", "ingest", "event_processor", "admin_api", "admin_query", "dlq_archiver")

LINE_CHANNEL = LOCAL_CHANNEL  # the channel name (and provider id) the local config declares
WRITE_KEY = "wk_it_9d3f1c7a5b"
ADMIN_TOKEN = "adm_it_4e8b2f6c1a"


# environment --------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and the stack's region; nothing may reach a real endpoint."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # moto streams with recent botocore
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    # The local config's secret values, read by LocalConfig.from_env() in provisioning.
    monkeypatch.setenv("CDP_LINE_CHANNEL_SECRET", CHANNEL_SECRET)
    monkeypatch.setenv("CDP_WRITE_KEY", WRITE_KEY)
    monkeypatch.setenv("CDP_ADMIN_TOKEN", ADMIN_TOKEN)


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    """The synthesized stack template, cached under .local/ while infra/ is unchanged."""
    cache = REPO_ROOT / ".local"
    cache.mkdir(exist_ok=True)
    # load_or_synthesize reads its fingerprint sources relative to the repository root; the lock
    # keeps xdist workers (and a local stack starting meanwhile) from writing the cache at once.
    with contextlib.chdir(REPO_ROOT), (cache / "template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return load_or_synthesize(cache)


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_loader() -> Iterator[None]:
    """One botocore data loader for every session the suite creates.

    cdp.adapters.aws opens a boto3 Session per client (once per process in Lambda); clearing its
    cache in every test would otherwise parse each service's JSON model again, ~100 ms a client.
    """
    loader = botocore.loaders.create_loader()

    def register(session: botocore.session.Session) -> None:
        session._components.lazy_register_component("data_loader", lambda: loader)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session.Session, "_register_data_loader", register)
        yield


@pytest.fixture(scope="session")
def runtime() -> LambdaRuntime:
    return LambdaRuntime()


def _clear_caches(runtime: LambdaRuntime) -> None:
    aws_clients.client.cache_clear()
    for name in FUNCTIONS:
        build = getattr(runtime.module(name), "build", None)
        if build is not None:
            build.cache_clear()


# moto ---------------------------------------------------------------------------------------
_MOTO_LOCK = threading.RLock()
_process_request = BotocoreStubber.process_request


def _one_request_at_a_time(self: BotocoreStubber, request: Any) -> Any:
    with _MOTO_LOCK:
        return _process_request(self, request)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, runtime: LambdaRuntime) -> Iterator[None]:
    """A fresh in-process moto account.

    DynamoDB applies each request atomically; moto in-process does not lock at all (a transaction
    checks its conditions, then writes, and rolls back by restoring a table snapshot), so requests
    from concurrent threads are serialised here, which is the guarantee the adapters rely on.
    """
    monkeypatch.setattr(BotocoreStubber, "process_request", _one_request_at_a_time)
    _clear_caches(runtime)
    with mock_aws():
        yield
    _clear_caches(runtime)


# the provisioned stack ------------------------------------------------------------------------
@dataclass
class Stack:
    resources: LocalResources
    config: LocalConfig
    runtime: LambdaRuntime
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]

    def env(self, function: str, name: str) -> str:
        return self.resources.function_env[function][name]

    @property
    def raw_table(self) -> str:
        return self.env("line_webhook", env_names.ENV_RAW_EVENTS_TABLE)

    @property
    def core_table(self) -> str:
        return self.env("event_processor", env_names.ENV_CORE_TABLE)

    @property
    def bus_name(self) -> str:
        return self.env("event_processor", env_names.ENV_EVENT_BUS)

    @property
    def raw_stream_arn(self) -> str:
        return self.resources.stream_arns[self.resources.stream_mappings[0].table_logical_id]

    @property
    def on_failure_queue_url(self) -> str:
        queue = self.resources.stream_mappings[0].on_failure_queue_logical_id
        assert queue is not None, "the stream mapping has no on-failure destination"
        return self.resources.queue_urls[queue]

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        if function == ADMIN_API and "httpMethod" in event:
            function = admin_function(event["httpMethod"], event["path"])
        return self.runtime.invoke(function, event)

    def scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page["Items"])
        return items

    def raw_items(self) -> dict[str, dict[str, Any]]:
        return {item["pk"]["S"]: item for item in self.scan(self.raw_table)}


@pytest.fixture
def stack(
    aws: None,
    template: dict[str, Any],
    runtime: LambdaRuntime,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    """The stack's resources in this test's moto account, and the functions' environment set."""
    created = Stack(resources=LocalResources(), config=LocalConfig.from_env(), runtime=runtime)
    created.resources = provision(template, created.client, created.config)
    aws_calls.RECORDER.provisioned(template, created.resources.names, created.resources.arns)  # for the IAM check
    for env in created.resources.function_env.values():
        for name, value in env.items():  # one process hosts every function; the names do not collide
            monkeypatch.setenv(name, value)
    monkeypatch.setenv(env_names.ENV_ARCHIVE_CACHE_DIR, str(tmp_path_factory.mktemp("archive-cache")))
    return created


# the raw-events stream, as Lambda delivers it ----------------------------------------------------
class RawStream:
    """Reads the raw table's stream from the start and wraps records the way Lambda does."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._streams = stack.client("dynamodbstreams")
        self._iterators: dict[str, str] = {}

    def new_records(self) -> list[dict[str, Any]]:
        """Records appended since the last call, oldest first."""
        description = self._streams.describe_stream(StreamArn=self._stack.raw_stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                    StreamArn=self._stack.raw_stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        records: list[dict[str, Any]] = []
        for shard_id, iterator in self._iterators.items():
            while True:
                response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = response.get("NextShardIterator") or iterator
                if not response["Records"]:
                    break
                records.extend(lambda_record(record, self._stack.raw_stream_arn) for record in response["Records"])
            self._iterators[shard_id] = iterator
        return records


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A dynamodbstreams GetRecords record as a Lambda event source mapping delivers it."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if hasattr(created, "timestamp"):  # boto3 parses it; Lambda sends epoch seconds
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", REGION),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


@pytest.fixture
def raw_stream(stack: Stack) -> RawStream:
    return RawStream(stack)


# observing the bus --------------------------------------------------------------------------
class BusObserver:
    """An SQS queue behind a rule matching everything the product publishes on its bus."""

    def __init__(self, stack: Stack) -> None:
        self._sqs = stack.client("sqs")
        self.url = self._sqs.create_queue(QueueName=f"it-bus-observer-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = stack.client("events")
        events.put_rule(
            Name="it-observe-all", EventBusName=stack.bus_name, EventPattern=json.dumps({"source": ["cdp"]})
        )
        events.put_targets(Rule="it-observe-all", EventBusName=stack.bus_name, Targets=[{"Id": "observer", "Arn": arn}])
        self.seen: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        """Every event received so far (EventBridge envelopes with `detail-type` and `detail`)."""
        while True:
            messages = self._sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return self.seen
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
                self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        return [event for event in self.drain() if event["detail-type"] == detail_type]


@pytest.fixture
def bus(stack: Stack) -> BusObserver:
    return BusObserver(stack)


# API Gateway (REST, Lambda proxy, binary media types */*) events ----------------------------------
def api_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    """A proxy event as API Gateway sends it; with `*/*` binary media types bodies arrive base64."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    event_body: str | None = None
    if data is not None:
        event_body = base64.b64encode(data).decode("ascii") if base64_body else data.decode("utf-8")
    all_headers = {"Host": "api.example.com", "User-Agent": "integration-test", **(headers or {})}
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {key: [value] for key, value in all_headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {key: [value] for key, value in query.items()} if query else None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "123456789012",
            "apiId": "it",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": all_headers["User-Agent"]},
        },
        "body": event_body,
        "isBase64Encoded": data is not None and base64_body,
    }


def response_json(response: Mapping[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    return json.loads(body)
