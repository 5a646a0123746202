"""The whole product on this machine: moto on loopback, the API routes, the stream, the LINE fake.

Used by `make serve`, `make demo`, the e2e tests and the benchmarks. Handlers are the real
ones from functions/; only endpoints and credentials (environment) say they are local.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from cdp.clock import install_time_source
from cdp.settings import ENV_ARCHIVE_CACHE_DIR as ARCHIVE_CACHE_ENV
from cdp.settings import (
    ENV_CORE_TABLE,
    ENV_EVENT_BUS,
    ENV_LINE_API_BASE_URL,
    ENV_LINE_DATA_API_BASE_URL,
    ENV_LINK_BASE_URL,
    ENV_RAW_EVENTS_TABLE,
)

from infra.cdp_infra.routes import EVENT_PROCESSOR, INGEST
from infra.local import aws_calls, moto_patches, outbox, sfn_clock
from infra.local.clock import ClockError, LocalClock, parse_duration, parse_instant
from infra.local.config import LOCAL_CHANNEL, REGION, LocalConfig
from infra.local.faults import FaultInjectingRuntime, FaultPlan, FaultPlanError, Faults, install_sdk_hook
from infra.local.http_gateway import ApiGatewayEmulator, GatewayConfig, serve
from infra.local.lambda_service import LocalLambdaService, install
from infra.local.line_fake import LineApiFake
from infra.local.line_routes import LineFakeRoutes
from infra.local.provision import EventTarget, LocalResources, QueueMapping, load_or_synthesize, provision
from infra.local.scheduler import LocalScheduler
from infra.local.stream_dispatcher import StreamDispatcher
from infra.local.users import PREFIX as USERS_PREFIX
from infra.local.users import LocalUserRoutes

# Where to write the functions' AWS calls when the stack stops (the IAM check of the e2e suite).
ENV_AWS_CALLS_FILE = "CDP_AWS_CALLS_FILE"
OBSERVED_EVENTS = 20_000
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalStack:
    def __init__(self, config: LocalConfig | None = None, console_dir: Path | None = None) -> None:
        """`console_dir`: the built console (console/dist), served at `/` beside the API."""
        self.config = config or LocalConfig.from_env()
        self.console_dir = console_dir
        self.aws_port = self.config.aws_port or free_port()
        self.http_port = self.config.http_port or free_port()
        self.faults = Faults()  # none until asked for (`/_local/faults`, CDP_LOCAL_FAULTS)
        self.runtime = FaultInjectingRuntime(self.faults)
        self.lambda_service = LocalLambdaService(self.runtime, {})
        self._undo_lambda: Any = None
        self._undo_moto_patches: Any = None
        self._undo_sfn_clock: Any = None
        self._undo_fault_hook: Any = None
        self._archive_cache: str | None = None
        self._stopping = threading.Event()
        self._targets_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._targets_in_flight = 0
        self._targets_wake = threading.Condition()  # drain wakes idle rule targets to look at once
        self.resources: LocalResources | None = None
        self.dispatchers: list[StreamDispatcher] = []
        # The newest published events (`/_local/events`); older ones drop off, so memory stays flat.
        self.observed: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=int(os.environ.get("CDP_LOCAL_OBSERVED_EVENTS", str(OBSERVED_EVENTS)))
        )
        self._observed_lock = threading.Lock()
        self._observer_queue: str | None = None
        self._observer_sqs: Any = None
        self._moto: Any = None
        self._http: Any = None
        # One clock for everything the stack runs: the functions (behind the clock port), the
        # LINE fake and the scheduler. Real time until `POST /_local/clock` moves it.
        self.clock = LocalClock()
        self._undo_clock: Any = None
        self._line_env_before: dict[str, str | None] = {}
        self.scheduler = LocalScheduler(lambda: self.client("scheduler"), self.clock, self._deliver_schedule)
        # The built-in LINE fake only when no LINE endpoint is given: with CDP_LINE_API_BASE_URL
        # set, the functions talk to that endpoint exactly as to LINE.
        self.line_api_url = os.environ.get(ENV_LINE_API_BASE_URL, "").strip() or None
        self.line_fake: LineApiFake | None = (
            LineApiFake(port=self.config.line_api_port, clock=self.clock) if self.line_api_url is None else None
        )

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def client(self, service: str) -> Any:
        """One client per service, made on first use: clients are thread-safe, and making one
        reads its service model from disk, which the polling loops must not repeat."""
        with self._clients_lock:
            made = self._clients.get(service)
            if made is None:
                made = self._clients[service] = boto3.session.Session().client(
                    service,
                    endpoint_url=self.aws_endpoint,
                    region_name=REGION,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=32),
                )
            return made

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call is noise
        self._environment()
        self._undo_clock = install_time_source(self.clock.now_ms)
        if os.environ.get(ENV_AWS_CALLS_FILE):
            aws_calls.install()
        # Before the first request: moto as shipped copies whole tables per transaction and keeps
        # every stream record and iterator, so a long `make serve` would grow without bound.
        self._undo_moto_patches = moto_patches.install()
        # Step Functions' Wait states, task timeouts and task-token waits follow the local clock.
        self._undo_sfn_clock = sfn_clock.install(self.clock.now, self.clock.on_move)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self.aws_port, verbose=False)
        self._moto.start()
        # Before provisioning: moto picks its executing Step Functions backend per request.
        self._undo_lambda = install(self.lambda_service)
        template = load_or_synthesize(Path(self.config.state_dir))
        self.resources = provision(template, self.client, self.config)
        aws_calls.RECORDER.provisioned(template, self.resources.names, self.resources.arns)
        self.lambda_service.register(self.resources.function_arns)
        for env in self.resources.function_env.values():
            os.environ.update(env)  # one process hosts every function; the names do not collide
        if not os.environ.get(ENV_LINK_BASE_URL):
            # Tracked links in sent messages need a public host; locally, the stack's own gateway
            # serves /r/{code} (a deployment sets linkBaseUrl to its domain).
            os.environ[ENV_LINK_BASE_URL] = self.base_url
        self._start_faults()
        # Like each Lambda container's own /tmp: this stack's archive cache is its own.
        self._archive_cache = tempfile.mkdtemp(prefix="cdp-local-archive-")
        os.environ[ARCHIVE_CACHE_ENV] = self._archive_cache
        self._start_line_api()
        self._observe_bus()
        self._start_dispatchers()
        self._start_event_targets()
        self._start_queue_consumers()
        self.scheduler.sync()  # the template's schedules count from the start
        self.scheduler.start()
        line_routes = LineFakeRoutes(self.line_fake, self.line_api_url, after_reset=self._register_line_channel)
        user_routes = LocalUserRoutes(self.resources.user_pool).routes() if self.resources.user_pool else {}
        emulator = ApiGatewayEmulator(
            self.runtime.invoke,
            local_routes={
                ("GET", "/health"): lambda *_: (200, {"status": "ok"}),
                ("POST", "/_local/drain"): self._drain_route,
                ("GET", "/_local/events"): self._events_route,
                ("GET", "/_local/status"): lambda *_: (200, self.status()),
                ("POST", "/_local/schedules/run"): self._schedules_route,
                ("GET", "/_local/schedules"): lambda *_: (200, {"schedules": self.scheduler.snapshot()}),
                ("GET", "/_local/clock"): lambda *_: (200, self.clock.snapshot()),
                ("POST", "/_local/clock"): self._clock_route,
                **line_routes.routes(),
                **user_routes,
                ("GET", "/config.json"): self._console_config_route,
                ("GET", "/_local/email/sent"): self._email_route,
                ("GET", "/_local/sms/sent"): self._sms_route,
                ("GET", "/_local/faults"): lambda *_: (200, self.faults.snapshot()),
                ("POST", "/_local/faults"): self._faults_route,
                ("DELETE", "/_local/faults"): self._clear_faults_route,
            },
            config=GatewayConfig.from_template(template),
            clock=self.clock.now,
            static_root=self.console_dir,
        )
        self._http = serve(emulator, "127.0.0.1", self.http_port)
        threading.Thread(target=self._http.serve_forever, name="http", daemon=True).start()
        return self

    def _console_config_route(self, *_: Any) -> tuple[int, Any]:
        """The console's config.json as the cloud writes it, with the local sign-in page."""
        pool = self.resources.user_pool if self.resources else None
        sign_in = {"url": f"{self.base_url}{USERS_PREFIX}", "clientId": pool.client_id} if pool else None
        return 200, {"apiBase": "", **({"signIn": sign_in} if sign_in else {})}

    def stop(self) -> None:
        self._stopping.set()
        self.scheduler.stop()
        with self._targets_wake:
            self._targets_wake.notify_all()
        for dispatcher in self.dispatchers:
            dispatcher.stop()
        if self.resources is not None:
            for mapping in self.resources.stream_mappings:
                moto_patches.unregister_consumer(self.resources.stream_arns[mapping.table_logical_id], mapping.function)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self.line_fake is not None:
            self.line_fake.stop()
        for name, value in self._line_env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self._moto is not None:
            self._moto.stop()
        if self._undo_lambda is not None:
            self._undo_lambda()
        if self._undo_moto_patches is not None:
            self._undo_moto_patches()
        if self._undo_sfn_clock is not None:
            self._undo_sfn_clock()
            self._undo_sfn_clock = None
        if self._undo_fault_hook is not None:
            self._undo_fault_hook()
        if self._archive_cache is not None:
            shutil.rmtree(self._archive_cache, ignore_errors=True)
        if self._undo_clock is not None:
            install_time_source(self._undo_clock)
        calls_file = os.environ.get(ENV_AWS_CALLS_FILE)
        if calls_file:
            aws_calls.RECORDER.dump(Path(calls_file))

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _environment(self) -> None:
        os.environ.update(LOCAL_CREDENTIALS)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.aws_endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": os.environ.get("CDP_LOCAL_LOG_LEVEL", "INFO"),
            }
        )

    def _start_line_api(self) -> None:
        if self.line_fake is None:
            return  # the given endpoint stays as it is, and so does CDP_LINE_DATA_API_BASE_URL
        self.line_fake.start()
        self._register_line_channel()
        # The fake answers both LINE hosts (api.line.me and api-data.line.me). Put back at stop: a
        # later stack in this process must not take a stopped fake for a given endpoint.
        for name in (ENV_LINE_API_BASE_URL, ENV_LINE_DATA_API_BASE_URL):
            self._line_env_before[name] = os.environ.get(name)
            os.environ[name] = self.line_fake.base_url

    def _register_line_channel(self) -> None:
        if self.line_fake is not None:
            self.line_fake.register_channel(self.config.line_channel_access_token, self.config.line_bot_user_id)

    @property
    def line_api_base_url(self) -> str:
        return self.line_fake.base_url if self.line_fake is not None else str(self.line_api_url)

    def _start_faults(self) -> None:
        assert self.resources is not None
        self.faults.raw_table = self.resources.function_env[INGEST][ENV_RAW_EVENTS_TABLE]
        self.faults.core_table = self.resources.function_env[EVENT_PROCESSOR][ENV_CORE_TABLE]
        self._undo_fault_hook = install_sdk_hook(self.faults)
        configured = os.environ.get("CDP_LOCAL_FAULTS", "").strip()
        if configured:
            self.faults.configure(FaultPlan.from_json(json.loads(configured)))

    def _faults_route(self, _path: str, _query: dict[str, str], body: bytes) -> tuple[int, Any]:
        try:
            plan = FaultPlan.from_json(json.loads(body or b"{}"))
        except (ValueError, FaultPlanError) as error:
            return 400, {"error": "invalid_faults", "message": str(error)}
        self.faults.configure(plan)
        return 200, self.faults.snapshot()

    def _clear_faults_route(self, *_: Any) -> tuple[int, Any]:
        self.faults.clear()
        return 200, self.faults.snapshot()

    def _start_dispatchers(self) -> None:
        assert self.resources is not None
        for mapping in self.resources.stream_mappings:
            queue = mapping.on_failure_queue_logical_id
            stream_arn = self.resources.stream_arns[mapping.table_logical_id]
            # The stream may drop what every mapping has read (past a kept tail): memory stays flat.
            moto_patches.register_consumer(stream_arn, mapping.function)
            dispatcher = StreamDispatcher(
                streams=self.client("dynamodbstreams"),
                sqs=self.client("sqs"),
                stream_arn=stream_arn,
                mapping=mapping,
                invoke=self.runtime.invoke,
                on_failure_queue_url=self.resources.queue_urls.get(queue) if queue else None,
                on_read=functools.partial(moto_patches.consumer_read, stream_arn, mapping.function),
                clock=self.clock.now,
                stamp_offset=lambda: self.clock.offset,
            )
            dispatcher.start()
            self.dispatchers.append(dispatcher)

    # EventBridge rules with Lambda targets --------------------------------------------------------
    def _start_event_targets(self) -> None:
        assert self.resources is not None
        for target in self.resources.event_targets:
            thread = threading.Thread(
                target=self._deliver_events, args=(target,), name=f"rule-{target.function}", daemon=True
            )
            thread.start()

    def _deliver_events(self, target: EventTarget) -> None:
        """Like EventBridge's asynchronous Lambda invoke: one event per invocation, retried on error."""
        sqs = self.client("sqs")
        idle_delay = 0.05
        while not self._stopping.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=target.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            except Exception:
                return
            if not messages:
                with self._targets_wake:
                    self._targets_wake.wait(idle_delay)
                idle_delay = min(0.25, idle_delay * 2)
                continue
            idle_delay = 0.05
            with self._targets_lock:
                self._targets_in_flight += 1
            try:
                for message in messages:
                    self.lambda_service.call_async(target.function, json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=target.queue_url, ReceiptHandle=message["ReceiptHandle"])
            finally:
                with self._targets_lock:
                    self._targets_in_flight -= 1

    # SQS event source mappings (the processor's dead letters -> dlq_archiver) ---------------
    def _start_queue_consumers(self) -> None:
        assert self.resources is not None
        for mapping in self.resources.queue_mappings:
            thread = threading.Thread(
                target=self._consume_queue, args=(mapping,), name=f"sqs-{mapping.function}", daemon=True
            )
            thread.start()

    def _consume_queue(self, mapping: QueueMapping) -> None:
        """Like Lambda's SQS poller: a batch per invocation; messages it did not report as failed
        are deleted, the others come back after the visibility timeout."""
        assert self.resources is not None
        sqs = self.client("sqs")
        url, arn = self.resources.queue_urls[mapping.queue_logical_id], self.resources.arns[mapping.queue_logical_id]
        while not self._stopping.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(10, mapping.batch_size), AttributeNames=["All"]
                ).get("Messages", [])
            except Exception:
                return
            if not messages:
                self._stopping.wait(0.1)
                continue
            with self._targets_lock:
                self._targets_in_flight += 1
            try:
                records = [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": m.get("Attributes", {}),
                        "messageAttributes": {},
                        "md5OfBody": m.get("MD5OfBody", ""),
                        "eventSource": "aws:sqs",
                        "eventSourceARN": arn,
                        "awsRegion": REGION,
                    }
                    for m in messages
                ]
                body, error = self.lambda_service.call(mapping.function, {"Records": records})
                failed: set[str] = set()
                if error is not None:
                    failed = {m["MessageId"] for m in messages}
                elif mapping.report_batch_item_failures:
                    answer = json.loads(body or b"null") or {}
                    failed = {f.get("itemIdentifier") for f in answer.get("batchItemFailures") or []}
                for message in messages:
                    if message["MessageId"] not in failed:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            finally:
                with self._targets_lock:
                    self._targets_in_flight -= 1

    def _event_targets_idle(self) -> bool:
        assert self.resources is not None
        sqs = self.client("sqs")
        with self._targets_lock:
            if self._targets_in_flight:
                return False
        for target in self.resources.event_targets:
            attributes = sqs.get_queue_attributes(
                QueueUrl=target.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            if int(attributes["ApproximateNumberOfMessages"]) or int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            ):
                return False
        for mapping in self.resources.queue_mappings:  # a message waiting for its consumer
            waiting = sqs.get_queue_attributes(
                QueueUrl=self.resources.queue_urls[mapping.queue_logical_id],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
            if int(waiting):
                return False
        return True

    # observing the bus ------------------------------------------------------------------------
    def _observe_bus(self) -> None:
        """A rule + queue on the bus, like a test-only subscriber in the cloud, to show what was published."""
        assert self.resources is not None
        bus = self.resources.function_env[EVENT_PROCESSOR][ENV_EVENT_BUS]
        sqs, events = self.client("sqs"), self.client("events")
        url = sqs.create_queue(QueueName="cdp-local-observed-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="cdp-local-observer", EventBusName=bus, EventPattern=json.dumps({"source": ["cdp"]}))
        events.put_targets(Rule="cdp-local-observer", EventBusName=bus, Targets=[{"Id": "observer", "Arn": arn}])
        self._observer_queue = url
        self._observer_sqs = self.client("sqs")
        threading.Thread(target=self._keep_observer_queue_short, name="observer", daemon=True).start()

    def observed_events(self) -> list[dict[str, Any]]:
        self._pull_observed()
        with self._observed_lock:
            return list(self.observed)

    def _pull_observed(self) -> int:
        """Move what the observer queue holds into `observed`; how many messages were moved."""
        if self._observer_queue is None:
            return 0
        sqs = self._observer_sqs
        moved = 0
        while True:
            messages = sqs.receive_message(QueueUrl=self._observer_queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return moved
            with self._observed_lock:
                self.observed.extend(json.loads(m["Body"]) for m in messages)
            sqs.delete_message_batch(
                QueueUrl=self._observer_queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            moved += len(messages)

    def _keep_observer_queue_short(self) -> None:
        """moto's SQS counts a queue's messages on every send (O(queue)): never let this one grow."""
        while not self._stopping.is_set():
            try:
                moved = self._pull_observed()
            except Exception:  # the endpoint is going away at shutdown
                moved = 0
            if not moved:
                self._stopping.wait(0.5)

    # local-only routes -----------------------------------------------------------------------
    def drain(self, timeout: float = 30.0) -> bool:
        """Until streams are idle and no identity workflow runs (a merge may start more work)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._targets_wake:
                self._targets_wake.notify_all()
            remaining = max(0.1, deadline - time.monotonic())
            if not all(dispatcher.wait_idle(remaining) for dispatcher in self.dispatchers):
                return False
            # Twice idle in a row: a finished workflow or evaluator may have published more work.
            if (
                not self.running_workflows()
                and not self.lambda_service.in_flight
                and self._event_targets_idle()
                and all(d.wait_idle(0.1) for d in self.dispatchers)
                and self._event_targets_idle()
            ):
                return True
            time.sleep(0.05)
        return False

    def running_workflows(self) -> int:
        if self.resources is None:
            return 0
        sfn = self.client("stepfunctions")
        return sum(
            len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"])
            for arn in self.resources.state_machines.values()
        )

    def _drain_route(self, _path: str, query: dict[str, str], _body: bytes) -> tuple[int, Any]:
        drained = self.drain(float(query.get("timeout", "30")))
        return (200 if drained else 504), {"drained": drained, **self.status()}

    def run_schedules(self, name: str | None = None) -> list[dict[str, Any]]:
        """Fire EventBridge Scheduler schedules now (all, or the one named), whether due or not:
        their target with their input, one after another. What falls due fires by itself."""
        scheduler = self.client("scheduler")
        fired: list[dict[str, Any]] = []
        for page in scheduler.get_paginator("list_schedules").paginate():
            for listed in page.get("Schedules", []):
                if name is not None and listed["Name"] != name:
                    continue
                schedule = scheduler.get_schedule(Name=listed["Name"], GroupName=listed["GroupName"])
                folder = self.lambda_service.folder(schedule["Target"]["Arn"])
                if folder is None or schedule.get("State") == "DISABLED":
                    continue
                payload = json.loads(schedule["Target"].get("Input") or "{}")
                body, error = self.lambda_service.call(folder, payload)
                fired.append(
                    {"schedule": listed["Name"], "function": folder, "error": error, "result": json.loads(body)}
                )
        return fired

    def _deliver_schedule(self, target: dict[str, Any], payload: Any) -> tuple[str | None, Any]:
        """A due schedule's target: a function of the stack, an SQS queue, a state machine or an event bus."""
        arn = str(target.get("Arn", ""))
        folder = self.lambda_service.folder(arn)
        if folder is not None:
            body, error = self.lambda_service.call(folder, payload)
            try:
                return error, json.loads(body) if body else None
            except json.JSONDecodeError:
                return error, body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        message = payload if isinstance(payload, str) else json.dumps(payload)
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        if service == "sqs":
            sqs = self.client("sqs")
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
            return None, {"MessageId": sqs.send_message(QueueUrl=url, MessageBody=message)["MessageId"]}
        if service == "states":
            started = self.client("stepfunctions").start_execution(stateMachineArn=arn, input=message)
            return None, {"executionArn": started["executionArn"]}
        if service == "events":  # an event bus: the schedule's EventBridgeParameters name the event
            parameters = target.get("EventBridgeParameters") or {}
            entry = {
                "EventBusName": arn,
                "Source": parameters.get("Source", "aws.scheduler"),
                "DetailType": parameters.get("DetailType", "Scheduled Event"),
                "Detail": message,
            }
            answer = self.client("events").put_events(Entries=[entry])
            return (None if not answer.get("FailedEntryCount") else json.dumps(answer["Entries"])), answer["Entries"]
        return f"the local scheduler cannot invoke {arn!r}", None

    def _schedules_route(self, _path: str, query: dict[str, str], _body: bytes) -> tuple[int, Any]:
        return 200, {"fired": self.run_schedules(query.get("name"))}

    def move_clock(self, change: dict[str, Any]) -> dict[str, Any]:
        """Set, advance or reset the clock, then fire every schedule occurrence it passed, in order."""
        actions = [key for key in ("set", "advance", "real") if key in change]
        unknown = sorted(set(change) - {"set", "advance", "real"})
        if unknown:
            raise ClockError(f"unknown field(s) {', '.join(unknown)}: give one of set, advance, real")
        if len(actions) != 1:
            raise ClockError("give exactly one of set (a date-time), advance (a duration) or real (true)")
        if "real" in change and change["real"] is not True:
            raise ClockError("real must be true (back to the machine's time)")
        moment = parse_instant(change["set"]) if "set" in change else None
        duration = parse_duration(change["advance"]) if "advance" in change else None

        def move() -> None:
            if moment is not None:
                self.clock.set(moment)
            elif duration is not None:
                self.clock.advance(duration)
            else:
                self.clock.real()

        fired = self.scheduler.move(move)
        return {**self.clock.snapshot(), "fired": fired}

    def _clock_route(self, _path: str, _query: dict[str, str], body: bytes) -> tuple[int, Any]:
        try:
            change = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "invalid_json", "message": "the body is not JSON"}
        if not isinstance(change, dict):
            return 400, {"error": "invalid_clock", "message": "the body must be a JSON object"}
        try:
            return 200, self.move_clock(change)
        except ClockError as error:
            return 400, {"error": "invalid_clock", "message": str(error)}

    def _email_route(self, _path: str, query: dict[str, str], _body: bytes) -> tuple[int, Any]:
        return 200, {"sent": outbox.sent_email(query.get("to"))}

    def _sms_route(self, _path: str, query: dict[str, str], _body: bytes) -> tuple[int, Any]:
        return 200, {"sent": outbox.sent_sms(query.get("to"))}

    def _events_route(self, _path: str, query: dict[str, str], _body: bytes) -> tuple[int, Any]:
        events = self.observed_events()
        name = query.get("name")
        if name:
            events = [e for e in events if e.get("detail-type") == name]
        return 200, {"events": events}

    def status(self) -> dict[str, Any]:
        return {
            "processed": sum(d.processed for d in self.dispatchers),
            "invocations": sum(d.invocations for d in self.dispatchers),
            "failed_batches": sum(d.failed_batches for d in self.dispatchers),
            "streams": [dispatcher.status() for dispatcher in self.dispatchers],
            "aws_endpoint": self.aws_endpoint,
            "running_workflows": self.running_workflows(),
            "line_api_url": self.line_api_base_url,
            "line_fake": self.line_fake is not None,
            "clock": self.clock.snapshot(),
        }

    def describe(self) -> str:
        console = [f"  console (sign in with the admin token): {self.base_url}/"] if self.console_dir else []
        return "\n".join(
            [
                *console,
                f"  API (same routes as API Gateway): {self.base_url}",
                f"  AWS (moto) endpoint:              {self.aws_endpoint}",
                (
                    f"  LINE Messaging API fake:          {self.line_api_base_url}"
                    if self.line_fake is not None
                    else f"  LINE Messaging API (CDP_LINE_API_BASE_URL, no fake): {self.line_api_base_url}"
                ),
                f"  clock:                            {self._clock_words()}   (GET/POST /_local/clock)",
                f"  LINE channel `{LOCAL_CHANNEL}` secret:        {self.config.line_channel_secret}   (CDP_LINE_CHANNEL_SECRET)",
                f"  write key:                        {self.config.write_key}   (CDP_WRITE_KEY)",
                f"  admin token:                      {self.config.admin_token}   (CDP_ADMIN_TOKEN)",
                f"  admin API docs (Swagger UI):      {self.base_url}/admin/v1/docs   (Authorize with the admin token)",
                f"  admin API OpenAPI document:       {self.base_url}/admin/v1/openapi.json",
            ]
        )

    def _clock_words(self) -> str:
        state = self.clock.snapshot()
        return f"virtual, now {state['now']}" if state["virtual"] else "real time"


def wait_until_healthy(base_url: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    print(f"local stack at {base_url} did not become healthy", file=sys.stderr)
    raise TimeoutError(base_url)
