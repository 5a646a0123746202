"""One step of the merge / unmerge workflows; Step Functions sequences and retries the steps."""

from __future__ import annotations

import functools
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.config_items import CachedConfig
from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.clock import SystemClock
from cdp.identity.merge import MergeWorkflow, StepResult, deadline_after
from cdp.observability import logger
from cdp.settings import IdentityWorkflowSettings

# Hand back to the state machine with this much time left, so a step never dies mid-transaction.
SAFETY_MARGIN_SECONDS = 20.0


@functools.cache
def build() -> MergeWorkflow:
    settings = IdentityWorkflowSettings.from_env()
    store = DynamoProfileStore(client("dynamodb"), settings.core_table)
    return MergeWorkflow(
        store=store,
        publisher=EventBridgePublisher(client("events"), settings.event_bus_name),
        clock=SystemClock(),
        rules=CachedConfig(DynamoIdentityRules(client("dynamodb"), settings.core_table).get),
    )


def run_step(workflow: MergeWorkflow, event: dict[str, Any], remaining_seconds: float) -> StepResult:
    action, merge_id = event.get("action"), event.get("mergeId", "")
    deadline = deadline_after(max(1.0, remaining_seconds - SAFETY_MARGIN_SECONDS))
    if action == "plan":
        return workflow.plan(
            event["survivor"], event["loser"], requested_by=event.get("requestedBy", ""), merge_id=merge_id or None
        )
    if action == "move":
        return workflow.move(merge_id, deadline=deadline)
    if action == "finalize":
        return workflow.finalize(merge_id)
    if action == "begin_unmerge":
        return workflow.begin_unmerge(merge_id)
    if action == "move_back":
        return workflow.move_back(merge_id, deadline=deadline)
    if action == "finalize_unmerge":
        return workflow.finalize_unmerge(merge_id)
    raise ValueError(f"unknown identity workflow action {action!r}")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run_step(build(), event, context.get_remaining_time_in_millis() / 1000)
    logger.info("identity workflow step", extra={"action": event.get("action"), **result.as_dict()})
    return result.as_dict()
