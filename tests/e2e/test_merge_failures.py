"""A merge whose Lambda step fails mid-way is retried by the state machine and ends exactly once.

Runs its own in-process local stack, so the test can make the workflow's `move` step fail the
first time it runs (as a crashed or timed-out Lambda would) and watch Step Functions retry it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from infra.local.stack import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    saved = dict(os.environ)
    os.environ.update({"CDP_PORT": "0", "CDP_AWS_PORT": "0", "CDP_LINE_API_PORT": "0", "CDP_LOCAL_LOG_LEVEL": "ERROR"})
    stack = LocalStack()
    try:
        yield stack.start()
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


def _ingest(stack: LocalStack, call: str, body: dict[str, Any]) -> None:
    auth = base64.b64encode(f"{stack.config.write_key}:".encode()).decode()
    response = requests.post(
        f"{stack.base_url}/v1/{call}", json=body, headers={"Authorization": f"Basic {auth}"}, timeout=10
    )
    assert response.status_code == 200, response.text


def _lookup(stack: LocalStack, id_type: str, value: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.base_url}/admin/v1/profiles/lookup",
        params={"type": id_type, "value": value},
        headers={"Authorization": f"Bearer {stack.config.admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_failed_move_step_is_retried_and_nothing_is_lost_or_doubled(local: LocalStack) -> None:
    # Given a member with a purchase and an anonymous browser with three page views
    _ingest(local, "identify", {"userId": "M-FAIL", "messageId": "f-1", "context": {"channel": "pos"}})
    _ingest(local, "track", {"userId": "M-FAIL", "event": "Order Completed", "messageId": "f-2",
                             "properties": {"revenue": 1200}, "context": {"channel": "pos"}})  # fmt: skip
    for n in range(3):
        _ingest(local, "page", {"anonymousId": "b-fail", "name": f"Page {n}", "messageId": f"f-page-{n}"})
    assert local.drain()
    # and the merge's move step will crash the first time it runs
    workflow = local.runtime.module("identity_merge").build()
    failures: list[str] = []

    def fail_once(step: str) -> None:
        if step == "move" and not failures:
            failures.append(step)
            raise RuntimeError("injected: the Lambda died while moving timeline entries")

    workflow._fail_at = fail_once

    # When the member logs in on that browser
    _ingest(local, "identify", {"userId": "M-FAIL", "anonymousId": "b-fail", "messageId": "f-login"})
    assert local.drain(60)

    # Then the state machine retried the failed step and succeeded
    assert failures == ["move"]
    sfn = local.client("stepfunctions")
    merge_arn = next(
        arn
        for logical, arn in local.resources.state_machines.items()
        if "Merge" in logical and "Unmerge" not in logical
    )
    (execution,) = sfn.list_executions(stateMachineArn=merge_arn)["executions"]
    assert execution["status"] == "SUCCEEDED"
    history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    assert any(event["type"] == "LambdaFunctionFailed" for event in history)
    output = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["output"])
    assert output["status"] == "merged"

    # and the person has every event exactly once, with the browser's identifier
    member = _lookup(local, "member_id", "M-FAIL")
    assert _lookup(local, "anonymous_id", "b-fail")["profile_id"] == member["profile_id"]
    assert member["stats"]["event_count"] == 6
    message_ids = [event["messageId"] for event in member["events"]]
    assert sorted(message_ids) == sorted(["f-1", "f-2", "f-page-0", "f-page-1", "f-page-2", "f-login"])
    assert member["orders"]["count"] == 1
