"""Journey benchmarks (part of `make bench`; alone: `.venv/bin/python -m tests.bench.journeys`).

The local stack runs in this process (`infra.local.stack.LocalStack`: moto executes each
published version's compiled state machine, the functions run in process, Wait states and task
tokens follow the virtual clock), driven over HTTP as the e2e tests drive it, with the S2 and S3
definitions of tests/fixtures/journeys.

1. State transitions: every `*StateEntered` event of every execution's history, per complete S2
   run (reminder sent; order before the timeout) and S3 run (clicked; LINE nudge; email nudge),
   and per node kind (the states a node's visit enters, found by the node id that starts each
   state's name). The interpreter alternative (one generic state machine) enters the node's
   states plus one dispatch Choice per node: its count is reported next to the compiled one.
2. Cost per 1,000,000 cart-abandonment runs (the S2 path that sends the reminder) at
   ap-northeast-1 list prices (tests/bench/cost.py PRICES): Step Functions Standard transitions;
   Lambda requests and GB-seconds of the journey functions (journey_step, journey_events,
   journey_starter; duration = the handler's time minus its time inside AWS calls, plus the
   assumed same-region latency per call, as cost.py measures); DynamoDB WRU/RRU from the calls
   counted per run (units per call from the request: item sizes where the request carries them,
   the run item's size for its updates); SQS requests of the start queue; the journey's own
   timeline events ingested like any event (cost.py's measured US$ per 1,000,000 events).
   LINE's own price is apart.
3. Runs started per second locally: ENTRIES keyed entries posted at once, until as many
   executions exist (ingest → processor → journey_events → queue → starter, paced at the
   deployment's CDP_JOURNEY_STARTS_PER_SECOND).
4. Local resume latency: a run waiting for `Order Completed`; from posting the order to the
   run's next node (SendTaskSuccess → the next Task), median and p95 over RESUMES runs.

Numbers measured on moto include moto's own time; the counts (transitions, calls) are exact.
Results: tests/bench/results/journeys-<time>.json (and the `journeys` key of `make bench`).
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "bench" / "results"
S2_RUNS = int(os.environ.get("CDP_BENCH_JOURNEY_RUNS", "20"))
S3_RUNS = 6  # two per path: clicked, LINE nudge, email nudge
ENTRIES = int(os.environ.get("CDP_BENCH_JOURNEY_ENTRIES", "200"))
RESUMES = int(os.environ.get("CDP_BENCH_JOURNEY_RESUMES", "20"))
JOURNEY_FUNCTIONS = ("journey_step", "journey_events", "journey_starter")
# Memory of the journey functions (infra/cdp_infra/journeys.py, journey_flow.py) when the
# synthesized template does not say.
DEFAULT_MEMORY_GB = 0.5
SQS_PER_MILLION_REQUESTS = 0.40  # ap-northeast-1, standard queue, first tier
# A message through the start queue: SendMessage(Batch) share, ReceiveMessage, DeleteMessage(Batch).
SQS_REQUESTS_PER_START = 3 / 10 + 1 / 10 + 1 / 10
WRITES = ("PutItem", "UpdateItem", "DeleteItem")
RUN_KEY_PREFIX = "JRUN#"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Meter:
    """Every AWS call and every invocation of the in-process stack, by function."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.calls: Counter[tuple[str, str]] = Counter()  # (function, service.Operation)
        self.wru: Counter[str] = Counter()
        self.rru: Counter[str] = Counter()
        self.run_writes: Counter[str] = Counter()  # writes to run items, by function
        self.raw_puts: Counter[str] = Counter()
        self.invocations: Counter[str] = Counter()
        self.billed_ms: Counter[str] = Counter()
        self.raw_table: str | None = None

    def reset(self) -> None:
        with self._lock:
            for counter in (
                self.calls,
                self.wru,
                self.rru,
                self.run_writes,
                self.raw_puts,
                self.invocations,
                self.billed_ms,
            ):
                counter.clear()

    @contextmanager
    def installed(self, runtime: Any) -> Iterator[None]:
        from botocore.client import BaseClient

        from infra.local import aws_calls
        from tests.bench.capacity import item_size, read_units, write_units
        from tests.bench.cost import DEFAULT_LATENCY_MS, LATENCY_MS

        original_call = BaseClient._make_api_call
        original_invoke = runtime.invoke
        meter = self

        def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            function = aws_calls._function.get()
            if function is None:
                return original_call(client, operation, params)
            service = client.meta.service_model.service_name
            started = time.perf_counter()
            try:
                return original_call(client, operation, params)
            finally:
                spent = time.perf_counter() - started
                local = meter._local
                local.aws_s = getattr(local, "aws_s", 0.0) + spent
                call = f"{service}.{operation}"
                local.latency_ms = getattr(local, "latency_ms", 0.0) + LATENCY_MS.get(call, DEFAULT_LATENCY_MS)
                with meter._lock:
                    meter.calls[(function, call)] += 1
                    if service == "dynamodb":
                        meter._units(function, operation, params, item_size, read_units, write_units)

        def invoke(name: str, event: dict[str, Any]) -> Any:
            local = meter._local
            outer = (getattr(local, "aws_s", 0.0), getattr(local, "latency_ms", 0.0))
            local.aws_s, local.latency_ms = 0.0, 0.0
            started = time.perf_counter()
            try:
                return original_invoke(name, event)
            finally:
                wall = time.perf_counter() - started
                billed = max(0.0, wall - local.aws_s) * 1000 + local.latency_ms
                with meter._lock:
                    meter.invocations[name] += 1
                    meter.billed_ms[name] += billed
                local.aws_s, local.latency_ms = outer

        BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]
        runtime.invoke = invoke
        try:
            yield
        finally:
            BaseClient._make_api_call = original_call  # type: ignore[method-assign]
            runtime.invoke = original_invoke

    def _units(
        self,
        function: str,
        operation: str,
        params: dict[str, Any],
        item_size: Callable[[Any], int],
        read_units: Callable[..., float],
        write_units: Callable[..., int],
    ) -> None:
        table = params.get("TableName")
        if operation == "PutItem":
            self.wru[function] += write_units(0, item_size(params.get("Item")))
            if table == self.raw_table:
                self.raw_puts[function] += 1
        elif operation in ("UpdateItem", "DeleteItem"):
            self.wru[function] += 1  # the item's size is added per run item below
        elif operation == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                body = next(iter(entry.values()))
                self.wru[function] += write_units(0, item_size(body.get("Item")), transactional=True)
        elif operation == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    item = request.get("PutRequest", {}).get("Item")
                    self.wru[function] += write_units(0, item_size(item))
        elif operation == "GetItem":
            self.rru[function] += read_units(0, consistent=bool(params.get("ConsistentRead")))
        elif operation == "BatchGetItem":
            for spec in params.get("RequestItems", {}).values():
                self.rru[function] += len(spec.get("Keys", [])) * read_units(0, consistent=False)
        elif operation == "Query":
            self.rru[function] += read_units(0, consistent=bool(params.get("ConsistentRead")))
        elif operation == "TransactGetItems":
            self.rru[function] += len(params.get("TransactItems", [])) * read_units(
                0, consistent=True, transactional=True
            )
        key = params.get("Key") or params.get("Item") or {}
        if operation in WRITES and str(key.get("pk", {}).get("S", "")).startswith(RUN_KEY_PREFIX):
            self.run_writes[function] += 1


# --- driving the stack ---------------------------------------------------------------------------
def _histories(sfn: Any, state_machine_arn: str) -> list[list[dict[str, Any]]]:
    histories = []
    executions = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    for page in executions:
        for execution in page["executions"]:
            events: list[dict[str, Any]] = []
            for history in sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"]):
                events.extend(history["events"])
            histories.append(events)
    return histories


def _entered(history: list[dict[str, Any]]) -> list[str]:
    """The names of the states the execution entered, in order."""
    names = []
    for event in history:
        if event["type"].endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails", {})
            names.append(str(details.get("name", "")))
    return names


def _node_of(state: str, node_ids: list[str], previous: str) -> str:
    """The node a state belongs to: the compiler names a node's states `<node>` and `<node>.<part>`
    (cdp.journeys.compiler); `Enter*` is the entry; its own terminal states (`Done`, `Stopped`,
    `Record failure`, `Failed`) end the node before them."""
    if state.startswith("Enter"):
        return "entry"
    matches = [node for node in node_ids if state == node or state.startswith(f"{node}.")]
    return max(matches, key=len) if matches else previous


def transitions(histories: list[list[dict[str, Any]]], document: dict[str, Any]) -> dict[str, Any]:
    """Per run and per node kind, compiled and interpreter."""
    node_ids = sorted(document["nodes"], key=len, reverse=True)
    kinds = {node: spec["type"] for node, spec in document["nodes"].items()} | {"entry": "entry"}
    per_run: list[int] = []
    per_run_interpreter: list[int] = []
    states_by_kind: Counter[str] = Counter()
    visits_by_kind: Counter[str] = Counter()
    for history in histories:
        names = _entered(history)
        per_run.append(len(names))
        visited: list[str] = []
        for name in names:
            node = _node_of(name, node_ids, visited[-1] if visited else "entry")
            states_by_kind[kinds[node]] += 1
            if not visited or visited[-1] != node:
                visited.append(node)
        for node in visited:
            visits_by_kind[kinds[node]] += 1
        per_run_interpreter.append(len(names) + len([node for node in visited if node != "entry"]))
    per_kind = {
        kind: {
            "compiled": round(states_by_kind[kind] / visits_by_kind[kind], 2),
            "interpreter": round(states_by_kind[kind] / visits_by_kind[kind] + (0 if kind == "entry" else 1), 2),
        }
        for kind in sorted(visits_by_kind)
    }
    return {
        "runs": len(histories),
        "per_run": {"compiled": per_run, "interpreter": per_run_interpreter},
        "per_node_kind": per_kind,
    }


def _state_machine_of(sfn: Any, journey_id: str) -> str:
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if journey_id in machine["name"]:
                return str(machine["stateMachineArn"])
    raise RuntimeError(f"no state machine for journey {journey_id}")


def _env(stack: Any, name: str) -> str:
    """A setting of the deployed journey step function (the stack's provisioned environment)."""
    return str((stack.resources.function_env.get("journey_step") or {}).get(name, ""))


def _memory_gb(stack: Any, function: str) -> float:
    from infra.local.provision import load_or_synthesize

    resources = load_or_synthesize(Path(stack.config.state_dir)).get("Resources", {})
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Lambda::Function" and function.replace("_", "").lower() in logical_id.lower():
            size = resource.get("Properties", {}).get("MemorySize")
            if isinstance(size, int):
                return size / 1024
    return DEFAULT_MEMORY_GB


def cost_per_million(
    meter: Meter, runs: int, transitions_per_run: float, memory: dict[str, float], run_item_wru: int
) -> dict[str, Any]:
    from tests.bench.campaigns import INGEST_USD_PER_MILLION_EVENTS
    from tests.bench.cost import PRICES

    scale = 1_000_000 / runs
    invocations = sum(meter.invocations[name] for name in JOURNEY_FUNCTIONS) * scale
    gb_seconds = sum(meter.billed_ms[name] / 1000 * memory[name] for name in JOURNEY_FUNCTIONS) * scale
    # A write to the run item bills by its size (the larger image), not 1 unit.
    extra_run_wru = sum(meter.run_writes[name] for name in JOURNEY_FUNCTIONS) * max(0, run_item_wru - 1)
    wru = (sum(meter.wru[name] for name in JOURNEY_FUNCTIONS) + extra_run_wru) * scale
    rru = sum(meter.rru[name] for name in JOURNEY_FUNCTIONS) * scale
    timeline_events = sum(meter.raw_puts[name] for name in JOURNEY_FUNCTIONS) * scale
    usd = {
        "stepfunctions": transitions_per_run
        * 1_000_000
        / 1000
        * PRICES["stepfunctions_standard_per_thousand_transitions"],
        "lambda_requests": invocations / 1_000_000 * PRICES["lambda_per_million_requests"],
        "lambda_gb_seconds": gb_seconds * PRICES["lambda_arm64_per_gb_second"],
        "dynamodb_writes": wru / 1_000_000 * PRICES["dynamodb_on_demand_per_million_wru"],
        "dynamodb_reads": rru / 1_000_000 * PRICES["dynamodb_on_demand_per_million_rru"],
        "sqs": SQS_REQUESTS_PER_START * 1_000_000 / 1_000_000 * SQS_PER_MILLION_REQUESTS,
        "timeline_events_ingested": timeline_events / 1_000_000 * INGEST_USD_PER_MILLION_EVENTS,
    }
    return {
        "runs_measured": runs,
        "per_run": {
            "transitions": transitions_per_run,
            "lambda_invocations": {name: round(meter.invocations[name] / runs, 2) for name in JOURNEY_FUNCTIONS},
            "lambda_billed_ms": {
                name: round(meter.billed_ms[name] / max(1, meter.invocations[name]), 1) for name in JOURNEY_FUNCTIONS
            },
            "dynamodb_calls": {
                f"{function}:{call}": round(count / runs, 2)
                for (function, call), count in sorted(meter.calls.items())
                if function in JOURNEY_FUNCTIONS and call.startswith("dynamodb.")
            },
            "other_calls": {
                f"{function}:{call}": round(count / runs, 2)
                for (function, call), count in sorted(meter.calls.items())
                if function in JOURNEY_FUNCTIONS and not call.startswith("dynamodb.")
            },
            "wru": round(wru / 1_000_000, 2),
            "rru": round(rru / 1_000_000, 2),
            "timeline_events": round(timeline_events / 1_000_000, 2),
        },
        "memory_gb": memory,
        "usd_per_million_runs": {key: round(value, 2) for key, value in usd.items()}
        | {"total": round(sum(usd.values()), 2)},
    }


def run() -> dict[str, Any]:
    """Start an in-process local stack, run the scenarios, measure; the stack is stopped after."""
    for name in ("CDP_PORT", "CDP_AWS_PORT", "CDP_LINE_API_PORT"):
        os.environ[name] = str(_free_port())
    os.environ.setdefault("CDP_LOCAL_LOG_LEVEL", "WARNING")
    os.environ.setdefault("CDP_SEGMENT_DEFINITIONS_CACHE_SECONDS", "1")
    os.environ.setdefault("CDP_LINE_CHANNEL_SECRET", "local-dev-secret")
    os.environ.setdefault("CDP_WRITE_KEY", "local-dev-write-key")
    os.environ.setdefault("CDP_ADMIN_TOKEN", "local-dev-admin-token")
    os.environ.pop("CDP_LINE_API_BASE_URL", None)

    from infra.local.stack import LocalStack

    stack = LocalStack().start()
    meter = Meter()
    try:
        if stack.resources is not None:
            meter.raw_table = _env(stack, "CDP_RAW_EVENTS_TABLE")
        with meter.installed(stack.runtime):
            return _measure(stack, meter)
    finally:
        stack.stop()


def _measure(local: Any, meter: Meter) -> dict[str, Any]:
    from tests.e2e.conftest import Stack
    from tests.e2e.journey_helpers import (
        admin,
        definition,
        member_id_of,
        published_journey,
        report,
        runs,
        tap,
        template,
        texts,
        wait_for,
        waiting,
    )
    from tests.e2e.test_campaigns import follower, member_on_line, taipei_at

    stack = Stack(local.base_url)
    sfn = local.client("stepfunctions")
    taipei_at(stack, 10)
    results: dict[str, Any] = {}

    # S2: runs that send the reminder, and runs that end on the order -------------------------
    reminder = template(
        stack, "cart-reminder", "購物車還在等您：{% for item in event.items %}{{ item.name }}；{% endfor %}"
    )
    s2 = definition("s2-cart-abandonment", {"cart-reminder": reminder})
    people = [member_on_line(stack, f"Bench {index}") for index in range(S2_RUNS + RESUMES)]
    members = [member_id_of(stack, line_user) for line_user, _ in people]

    def product_added(member: str, cart: str) -> dict[str, Any]:
        item = {"sku": "DRESS-7", "name": "碎花洋裝", "quantity": 1}
        return {"userId": member, "event": "Product Added",
                "properties": {"cart_id": cart, "items": [item]}, "context": {"channel": "web"}}  # fmt: skip

    def batch_of(calls: list[dict[str, Any]]) -> dict[str, Any]:
        return {"batch": [{"type": "track", **call} for call in calls]}

    with published_journey(stack, s2) as s2_id:
        meter.reset()
        batch = [product_added(member, uuid.uuid4().hex[:10]) for member in members[:S2_RUNS]]
        assert stack.segment("batch", batch_of(batch)).status_code == 200
        for _, profile_id in people[:S2_RUNS]:
            waiting(stack, s2_id, profile_id, "wait_order")
        stack.move_clock(advance="PT31M")
        wait_for(stack, lambda: report(stack, s2_id)["runs"]["active"] == 0, "the reminders", seconds=600)
        assert all(len(texts(stack, line_user)) == 1 for line_user, _ in people[:S2_RUNS])
        machine = _state_machine_of(sfn, s2_id)
        reminded = transitions(_histories(sfn, machine), s2)
        run_item = (
            local.client("dynamodb")
            .get_item(
                TableName=_env(local, "CDP_CORE_TABLE"),
                Key={"pk": {"S": f"JRUN#{runs(stack, s2_id, people[0][1])[0]['run_id']}"}, "sk": {"S": "RUN"}},
            )
            .get("Item")
        )
        from tests.bench.capacity import item_size

        run_item_bytes = item_size(run_item) if run_item else 0
        memory = {name: _memory_gb(local, name) for name in JOURNEY_FUNCTIONS}
        per_run = statistics.mean(reminded["per_run"]["compiled"])
        results["s2_cost"] = cost_per_million(
            meter, S2_RUNS, per_run, memory, max(1, math.ceil(run_item_bytes / 1024))
        ) | {"run_item_bytes": run_item_bytes}

        # Resume latency: orders for waiting carts, timed from the post to the run's next node.
        latencies = []
        for member, (_, profile_id) in zip(members[S2_RUNS:], people[S2_RUNS:], strict=True):
            cart = uuid.uuid4().hex[:10]
            assert stack.segment("track", product_added(member, cart)).status_code == 200
            waiting(stack, s2_id, profile_id, "wait_order")
            order = {"userId": member, "event": "Order Completed", "properties": {"cart_id": cart, "revenue": 990}}
            started = time.perf_counter()
            assert stack.segment("track", order).status_code == 200
            while True:
                found = runs(stack, s2_id, profile_id)[0]
                if found["node"] != "wait_order" or found["status"] != "active":
                    break
                if time.perf_counter() - started > 60:
                    raise RuntimeError("a run did not resume within 60 s")
                time.sleep(0.01)
            latencies.append((time.perf_counter() - started) * 1000)
        ordered = transitions(_histories(sfn, machine), s2)
        results["resume_latency_ms"] = {
            "runs": len(latencies),
            "median": round(statistics.median(latencies), 1),
            "p95": round(sorted(latencies)[max(0, math.ceil(len(latencies) * 0.95) - 1)], 1),
            "max": round(max(latencies), 1),
        }
        results["s2_transitions"] = {
            "reminded": reminded,
            "all_runs_including_ordered": ordered,
        }

    # S3: clicked, LINE nudge, email nudge ---------------------------------------------------------
    ids = {
        "welcome": template(stack, "welcome", "歡迎！新款鞋款 https://shop.example.com/c/shoes"),
        "shoes-promotion": template(stack, "shoes-promo", "鞋款 85 折"),
        "nudge": template(stack, "nudge", "本週新品", email=True),
    }
    s3 = definition("s3-welcome", ids)
    with published_journey(stack, s3) as s3_id:
        clickers = [follower(stack, f"bench-click-{i}") for i in range(S3_RUNS // 3)]
        quiet = [follower(stack, f"bench-quiet-{i}") for i in range(S3_RUNS // 3)]
        mailers = []
        for index in range(S3_RUNS // 3):
            line_user, profile_id = member_on_line(
                stack, f"Bench Mail {index}", email=f"bench-{uuid.uuid4().hex[:8]}@example.com"
            )
            admin(stack, "POST", f"/admin/v1/profiles/{profile_id}/consent", {"channel": "email", "granted": True})
            mailers.append((line_user, profile_id))
        for _, profile_id in clickers + quiet + mailers:
            waiting(stack, s3_id, profile_id, "wait_click")
        for line_user, _ in clickers:
            text = texts(stack, line_user)[0]
            tap(stack, text[text.index("http://") :].split()[0])
        for _, profile_id in clickers:  # the clicks take their path before the others time out
            wait_for(stack, lambda p=profile_id: runs(stack, s3_id, p)[0]["status"] == "exited", "a click")
        stack.move_clock(advance="P2DT1M")
        wait_for(stack, lambda: report(stack, s3_id)["runs"]["active"] == 0, "the S3 runs", seconds=600)
        histories = _histories(sfn, _state_machine_of(sfn, s3_id))
        results["s3_transitions"] = transitions(histories, s3)

    # Runs started per second ---------------------------------------------------------------------
    burst = dict(s2, name="Burst", max_concurrent_runs=100)
    burst_people = members[: max(1, math.ceil(ENTRIES / 100))]
    with published_journey(stack, burst) as burst_id:
        machine = _state_machine_of(sfn, burst_id)
        entries = [product_added(burst_people[i % len(burst_people)], f"b{i:05d}") for i in range(ENTRIES)]
        started = time.perf_counter()
        for first in range(0, ENTRIES, 100):
            assert stack.segment("batch", batch_of(entries[first : first + 100])).status_code == 200

        def all_started() -> bool:
            count = sum(
                len(page["executions"])
                for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
            )
            return count >= ENTRIES

        while not all_started():
            if time.perf_counter() - started > 900:
                raise RuntimeError("the burst did not start within 900 s")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        results["starts"] = {
            "entries": ENTRIES,
            "seconds": round(elapsed, 2),
            "runs_started_per_second": round(ENTRIES / elapsed, 1),
            "starts_per_second_setting": int(os.environ.get("CDP_JOURNEY_STARTS_PER_SECOND", "100")),
        }
    stack.move_clock(real=True)
    return results


def summary(results: dict[str, Any]) -> list[str]:
    if "error" in results:
        return [f"journeys: not measured ({results['error']})"]
    s2 = results["s2_transitions"]["reminded"]
    s3 = results["s3_transitions"]
    cost = results["s2_cost"]
    kinds = ", ".join(
        f"{kind} {figures['compiled']} (interpreter {figures['interpreter']})"
        for kind, figures in {**s3["per_node_kind"], **s2["per_node_kind"]}.items()
    )
    return [
        f"journeys: transitions per node kind: {kinds}",
        f"journeys: S2 run (reminder) {statistics.mean(s2['per_run']['compiled']):.1f} transitions "
        f"(interpreter {statistics.mean(s2['per_run']['interpreter']):.1f}); S3 runs "
        f"{min(s3['per_run']['compiled'])}-{max(s3['per_run']['compiled'])} "
        f"(interpreter {min(s3['per_run']['interpreter'])}-{max(s3['per_run']['interpreter'])})",
        f"journeys: US$ {cost['usd_per_million_runs']['total']} per 1,000,000 cart-abandonment runs "
        f"({cost['usd_per_million_runs']})",
        f"journeys: {results['starts']['runs_started_per_second']} runs started/s locally; resume latency "
        f"median {results['resume_latency_ms']['median']} ms, p95 {results['resume_latency_ms']['p95']} ms",
    ]


def main() -> None:
    started = datetime.now(tz=UTC)
    results = {"started_at": started.isoformat(), **run()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"journeys-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    print("\n".join(summary(results)))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
