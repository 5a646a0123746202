"""The campaign runner (cdp.campaigns.fanout): fans a campaign run out to the message sender's
queue, a few pages of members per invocation.

Input:
- `{"campaign_fire": {"campaign_id", "scheduled_time"}}`: from the campaign's EventBridge
  Scheduler schedule (the scheduled time names a recurring campaign's run) or the admin API's
  `send` with `now` (asynchronous invoke);
- `{"campaign_continue": {"campaign_id", "run_id"}}`: the next pages of a run, from itself.
Both are idempotent: a redelivered firing finds its run; a repeated page is answered by the
sender's ledger.
"""

from __future__ import annotations

import functools
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.campaigns import LambdaCampaignInvoker, SqsSendQueue
from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.campaigns.audience import Audience
from cdp.campaigns.fanout import CampaignRunner
from cdp.clock import SystemClock
from cdp.observability import logger, metrics
from cdp.settings import CampaignRunnerSettings
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError


class Fire(BaseModel):
    model_config = ConfigDict(extra="ignore")
    campaign_id: StrictStr
    scheduled_time: StrictStr | None = None


class Continue(BaseModel):
    model_config = ConfigDict(extra="ignore")
    campaign_id: StrictStr
    run_id: StrictStr


@functools.cache
def build(function_arn: str) -> CampaignRunner:
    settings = CampaignRunnerSettings.from_env()
    dynamodb = client("dynamodb")
    return CampaignRunner(
        store=DynamoCampaignStore(dynamodb, settings.core_table),
        audience=Audience(
            DynamoSegmentStore(dynamodb, settings.core_table), DynamoProfileStore(dynamodb, settings.core_table)
        ),
        queue=SqsSendQueue(client("sqs"), settings.send_queue_url),
        continuation=LambdaCampaignInvoker(client("lambda"), function_arn),
        clock=SystemClock(),
    )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runner = build(context.invoked_function_arn)
    try:
        if isinstance(event, dict) and "campaign_fire" in event:
            fire = Fire.model_validate(event["campaign_fire"])
            return runner.fire(fire.campaign_id, fire.scheduled_time)
        if isinstance(event, dict) and "campaign_continue" in event:
            step = Continue.model_validate(event["campaign_continue"])
            return runner.fan_out(step.campaign_id, step.run_id)
    except ValidationError as exc:
        logger.warning(
            "campaign runner input refused", extra={"problems": exc.errors(include_url=False, include_input=False)}
        )
        return {"error": "invalid_input"}
    logger.warning("campaign runner input not understood")
    return {"error": "invalid_input"}
