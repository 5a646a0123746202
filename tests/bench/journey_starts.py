"""Journey starts benchmark (part of `make bench`; alone: `python -m tests.bench.journey_starts`).

1. CDP_BENCH_JOURNEY_ENTRIES entries (default 10,000: one entry event each for as many people) go
   through the real starter handler (functions/journey_starter: 8 starts at once per invocation)
   in the starts queue's batches of 50, two starters at once (the event source mapping's maximum
   concurrency), with the real Step Functions adapter against moto in-process. The run and
   admission stores are the in-memory ones (as in the campaigns bench: moto's DynamoDB copies the
   whole table on every transaction, so a 10,000-entry run would measure moto, not the starter).
   Unpaced: the starter's own ceiling here; paced at the deployed CDP_JOURNEY_STARTS_PER_SECOND
   (100 per deployment, 50 per starter): under Step Functions' StartExecution quota (150/s in
   ap-northeast-1). Then every entry is delivered again: no execution may start twice.
2. CDP_BENCH_JOURNEY_DYNAMODB_ENTRIES entries (default 200) on the DynamoDB adapters over moto:
   the DynamoDB requests one start makes, by operation (exact: counted on the client).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

ENTRIES = int(os.environ.get("CDP_BENCH_JOURNEY_ENTRIES", "10000"))
DYNAMODB_ENTRIES = int(os.environ.get("CDP_BENCH_JOURNEY_DYNAMODB_ENTRIES", "200"))
BATCH = 50  # infra/cdp_infra/journey_flow.py STARTER_BATCH
STARTERS = 2  # the event source mapping's maximum concurrency
STARTS_PER_SECOND = 100  # the deployed default
QUOTA = 150  # StartExecution per second, ap-northeast-1
AT = "2026-03-01T10:00:00.000Z"


def _environment() -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "ap-northeast-1",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)


@contextlib.contextmanager
def _serialised_moto() -> Iterator[None]:
    """moto in-process does not lock; DynamoDB applies each request atomically (as the
    integration suite does, requests are serialised). Put back afterwards."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def one_at_a_time(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = one_at_a_time  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


def _table(dynamodb: Any, name: str) -> None:
    string = "S"
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": attribute, "AttributeType": string} for attribute in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def _bodies(journey_id: str, count: int) -> list[str]:
    from cdp.journeys.ports import EntryRequest
    from cdp.journeys.starter import entry_to_json

    return [
        entry_to_json(
            EntryRequest(
                journey_id=journey_id,
                version=1,
                profile_id=f"p{index:06d}",
                entry_key=f"C{index:06d}",
                cause_id=f"evt-{journey_id}-{index}",
                entered_at=AT,
                entry={"event": "Product Added", "properties": {"cart_id": f"C{index:06d}"}},
            )
        )
        for index in range(count)
    ]


def _drain(invoke: Any, bodies: list[str]) -> tuple[float, int]:
    """Two starters take batches of 50 off the list, as the event source mapping hands them out."""
    batches = [bodies[start : start + BATCH] for start in range(0, len(bodies), BATCH)]
    failed = 0
    started = time.perf_counter()
    with ThreadPoolExecutor(STARTERS) as pool:
        answers = pool.map(
            lambda batch: invoke({"Records": [{"messageId": str(i), "body": body} for i, body in enumerate(batch)]}),
            batches,
        )
        failed = sum(len(answer["batchItemFailures"]) for answer in answers)
    return time.perf_counter() - started, failed


def run_all() -> dict[str, Any]:
    _environment()
    from moto import mock_aws

    with _serialised_moto(), mock_aws():
        return _run()


def _run() -> dict[str, Any]:
    import boto3
    from cdp.adapters.journey_flow import StepFunctionsExecutions
    from cdp.journeys.starter import Starter, pacer_for

    from infra.local.lambda_runtime import LambdaRuntime
    from tests.fakes import FixedClock
    from tests.fakes_journey_flow import InMemoryAdmissions
    from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore
    from tests.unit.journey_flow_helpers import CART, version

    sfn = boto3.client("stepfunctions")
    journeys = InMemoryJourneyStore()
    for journey_id in ("unpaced", "paced"):
        machine = sfn.create_state_machine(
            name=f"LineCdp-journey-{journey_id}-v1",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/journeys",
        )["stateMachineArn"]
        journeys.add_version(replace(version(journey_id, CART), state_machine_arn=machine))
    runs = InMemoryRunStore()
    admissions = InMemoryAdmissions(runs, FixedClock())
    executions = StepFunctionsExecutions(sfn)
    module = LambdaRuntime().module("journey_starter")
    results: dict[str, Any] = {"entries": ENTRIES, "starters": STARTERS, "batch": BATCH}

    def measure(journey_id: str, per_second: float) -> dict[str, Any]:
        starters = threading.local()  # one starter (and pacer share) per concurrent invocation

        def build() -> Starter:
            if not hasattr(starters, "starter"):
                starters.starter = Starter(
                    journeys, admissions, runs, executions, pacer_for(per_second, STARTERS), cache_seconds=5
                )
            return starters.starter  # type: ignore[no-any-return]

        module.build = build
        bodies = _bodies(journey_id, ENTRIES)
        elapsed, failed = _drain(lambda event: module.lambda_handler(event, _Context()), bodies)
        machine = journeys.version(journey_id, 1).state_machine_arn  # type: ignore[union-attr]
        started = _count_executions(sfn, machine)
        again, failed_again = _drain(lambda event: module.lambda_handler(event, _Context()), bodies)
        return {
            "seconds": round(elapsed, 1),
            "starts_per_second": round(ENTRIES / elapsed, 1),
            "executions": started,
            "failed": failed,
            "redelivered_seconds": round(again, 1),
            "executions_after_redelivery": _count_executions(sfn, machine),
            "failed_on_redelivery": failed_again,
        }

    results["unpaced"] = measure("unpaced", 1e6)
    results["paced"] = {**measure("paced", STARTS_PER_SECOND), "target_per_second": STARTS_PER_SECOND, "quota": QUOTA}
    results["dynamodb"] = _dynamodb_requests(sfn)
    return results


def _dynamodb_requests(sfn: Any) -> dict[str, Any]:
    """The DynamoDB requests per start on the real adapters (moto), counted on the client."""
    import boto3
    from cdp.adapters.dynamodb.journey_runs import DynamoAdmissions, DynamoRunStore
    from cdp.adapters.journey_flow import StepFunctionsExecutions
    from cdp.clock import SystemClock
    from cdp.journeys.starter import Starter, entry_from_json, pacer_for

    from tests.fakes_journeys import InMemoryJourneyStore
    from tests.unit.journey_flow_helpers import CART, version

    dynamodb = boto3.client("dynamodb")
    _table(dynamodb, "bench-core")
    calls: Counter[str] = Counter()
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    machine = sfn.create_state_machine(
        name="LineCdp-journey-counted-v1",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/journeys",
    )["stateMachineArn"]
    journeys = InMemoryJourneyStore()
    journeys.add_version(replace(version("counted", CART), state_machine_arn=machine))
    runs = DynamoRunStore(dynamodb, "bench-core")
    starter = Starter(
        journeys,
        DynamoAdmissions(dynamodb, "bench-core", runs, SystemClock()),
        runs,
        StepFunctionsExecutions(sfn),
        pacer_for(1e6, 1),
        cache_seconds=5,
    )
    started = time.perf_counter()
    for body in _bodies("counted", DYNAMODB_ENTRIES):
        starter.start(entry_from_json(body))
    elapsed = time.perf_counter() - started
    return {
        "entries": DYNAMODB_ENTRIES,
        "per_start": {name: round(count / DYNAMODB_ENTRIES, 2) for name, count in sorted(calls.items())},
        "starts_per_second_on_moto_dynamodb": round(DYNAMODB_ENTRIES / elapsed, 1),
    }


def _count_executions(sfn: Any, machine: str) -> int:
    return sum(
        len(page["executions"]) for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
    )


class _Context:
    function_name = "journey_starter"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:journey_starter"
    aws_request_id = "bench"


def summary(results: dict[str, Any]) -> list[str]:
    lines = [
        f"Journey starts: {results['entries']:,} entries, {results['starters']} starters, batches of {results['batch']}"
    ]
    for mode in ("unpaced", "paced"):
        r = results[mode]
        lines.append(
            f"  {mode}: {r['starts_per_second']}/s ({r['seconds']} s), {r['executions']:,} executions, "
            f"{r['failed']} failed; redelivered: {r['executions_after_redelivery']:,} executions"
        )
    calls = results["dynamodb"]["per_start"]
    lines.append(f"  DynamoDB requests per start: {calls}")
    return lines


if __name__ == "__main__":
    outcome = run_all()
    print(json.dumps(outcome, indent=2))
    print("\n".join(summary(outcome)))
