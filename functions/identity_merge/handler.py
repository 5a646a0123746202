"""One step of the merge / unmerge workflows; Step Functions sequences and retries the steps."""

from __future__ import annotations

import functools
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.config_items import CachedConfig
from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.clock import SystemClock
from cdp.identity.merge import MergeWorkflow, StepResult, deadline_after
from cdp.observability import logger
from cdp.settings import IdentityWorkflowSettings
from pydantic import BaseModel, ConfigDict, Field

# Hand back to the state machine with this much time left, so a step never dies mid-transaction.
SAFETY_MARGIN_SECONDS = 20.0


class StepInput(BaseModel):
    """The state machines' input to each step (infra/cdp_infra/identity_workflows.py)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    action: Literal["plan", "move", "finalize", "begin_unmerge", "move_back", "finalize_unmerge"]
    merge_id: str = Field(default="", alias="mergeId")
    survivor: str | None = None
    loser: str | None = None
    requested_by: str = Field(default="", alias="requestedBy")


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
    """A malformed input fails the step (ValidationError): Step Functions records why."""
    step = parse(event=event, model=StepInput)
    merge_id = step.merge_id
    deadline = deadline_after(max(1.0, remaining_seconds - SAFETY_MARGIN_SECONDS))
    if step.action == "plan":
        if not step.survivor or not step.loser:
            raise ValueError("plan needs survivor and loser")
        return workflow.plan(step.survivor, step.loser, requested_by=step.requested_by, merge_id=merge_id or None)
    if step.action == "move":
        return workflow.move(merge_id, deadline=deadline)
    if step.action == "finalize":
        return workflow.finalize(merge_id)
    if step.action == "begin_unmerge":
        return workflow.begin_unmerge(merge_id)
    if step.action == "move_back":
        return workflow.move_back(merge_id, deadline=deadline)
    return workflow.finalize_unmerge(merge_id)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run_step(build(), event, context.get_remaining_time_in_millis() / 1000)
    logger.info("identity workflow step", extra={"action": event.get("action"), **result.as_dict()})
    return result.as_dict()
