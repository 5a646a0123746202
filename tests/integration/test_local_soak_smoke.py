"""A small soak of the local runtime: the cost of an event does not grow with what is stored.

The real ingest handler and event processor on moto (patched as the local stack patches it),
fed by the local stream dispatcher, in three equal steps. Asserted on ratios of the process's
CPU time (not wall time: the machine may be loaded), with a generous bound; the full-size
measurement over HTTP is `make bench` (tests/bench/soak.py).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from moto.dynamodbstreams.models import dynamodbstreams_backends

from infra.local import moto_patches
from infra.local.stream_dispatcher import StreamDispatcher
from tests.bench.soak import events
from tests.integration.conftest import WRITE_KEY, Stack, api_event

STEPS = 3
STEP_EVENTS = 120
MAX_CPU_RATIO = 2.5  # last step / first step; moto's whole-table copies made it grow with every step


@pytest.fixture(autouse=True)
def local_moto() -> Iterator[None]:
    undo = moto_patches.install()
    yield
    undo()


def ingest(stack: Stack, batch: list[dict[str, Any]]) -> None:
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    response = stack.invoke(
        "ingest",
        api_event("POST", "/v1/batch", body=json.dumps({"batch": batch}), headers={"Authorization": auth}),
    )
    assert response["statusCode"] == 200, response


def test_each_step_of_events_costs_about_the_same(stack: Stack) -> None:
    mapping = stack.resources.stream_mappings[0]
    dispatcher = StreamDispatcher(
        streams=stack.client("dynamodbstreams"),
        sqs=stack.client("sqs"),
        stream_arn=stack.raw_stream_arn,
        mapping=mapping,
        invoke=stack.runtime.invoke,
        on_failure_queue_url=stack.on_failure_queue_url,
    )
    dispatcher.start()
    cpu: list[float] = []
    try:
        for step in range(STEPS):
            started = time.process_time()
            ingest(stack, events(step * STEP_EVENTS, STEP_EVENTS, "smoke"))
            deadline = time.monotonic() + 120
            while dispatcher.processed < (step + 1) * STEP_EVENTS and time.monotonic() < deadline:
                time.sleep(0.05)
            assert dispatcher.processed == (step + 1) * STEP_EVENTS
            cpu.append(time.process_time() - started)
    finally:
        dispatcher.stop()

    assert dispatcher.failed_batches == 0
    print(f"process CPU per step of {STEP_EVENTS} events: {[round(s, 2) for s in cpu]}")
    assert cpu[-1] < cpu[0] * MAX_CPU_RATIO, cpu
    # Idle polls hand back the same iterator: the backend keeps a handful, not one per poll.
    kept = sum(
        len(backend.shard_iterators) for account in dynamodbstreams_backends.values() for backend in account.values()
    )
    assert kept < 50
