"""Campaign adapters beside DynamoDB: the sender's SQS queue, the campaigns' EventBridge Scheduler
schedules, the fan-out's continuation (an asynchronous invoke of itself) and LINE's quota."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cdp.adapters.dynamodb.errors import error_code, unavailable
from cdp.adapters.line_api import LineApiClient
from cdp.adapters.sqs_batches import send_bodies
from cdp.campaigns.model import Campaign
from cdp.campaigns.ports import LineQuota
from cdp.ingestion.channels import LineChannels

SCHEDULE_PREFIX = "campaign-"  # the campaigns' namespace in the messages schedule group


def schedule_name(campaign_id: str) -> str:
    return SCHEDULE_PREFIX + campaign_id


class SqsSendQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def enqueue(self, batches: Sequence[list[dict[str, Any]]]) -> None:
        # A failure retries the fan-out; the sender's ledger drops what was already queued.
        bodies = [json.dumps({"requests": batch}, ensure_ascii=False, separators=(",", ":")) for batch in batches]
        send_bodies(self._client, self._url, bodies, doing="queueing send requests")


class SchedulerCampaignSchedules:
    """One schedule per campaign, `campaign-<id>`, in the messages schedule group: `at(...)` in
    the campaign's time zone (deleted after it fires) or its cron()/rate() expression. Its input
    carries the firing's scheduled time, which names the run of a recurring campaign."""

    def __init__(self, client: Any, *, group: str, target_arn: str, role_arn: str) -> None:
        self._client = client
        self._group = group
        self._target = target_arn
        self._role = role_arn

    def put(self, campaign: Campaign) -> str:
        name = schedule_name(campaign.campaign_id)
        schedule = campaign.schedule
        expression = f"at({schedule.at})" if schedule.kind == "at" else str(schedule.expression)
        request: dict[str, Any] = {
            "Name": name,
            "GroupName": self._group,
            "ScheduleExpression": expression,
            "ScheduleExpressionTimezone": schedule.time_zone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": self._target,
                "RoleArn": self._role,
                "Input": json.dumps(
                    {
                        "campaign_fire": {
                            "campaign_id": campaign.campaign_id,
                            "scheduled_time": "<aws.scheduler.scheduled-time>",
                        }
                    }
                ),
                "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
            },
            "Description": f"Campaign {campaign.campaign_id}",
        }
        if schedule.kind == "at":
            request["ActionAfterCompletion"] = "DELETE"
        try:
            try:
                self._client.create_schedule(**request)
            except ClientError as exc:
                if error_code(exc) != "ConflictException":
                    raise
                self._client.update_schedule(**request)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"scheduling campaign {campaign.campaign_id}") from exc
        return name

    def delete(self, campaign_id: str) -> None:
        try:
            self._client.delete_schedule(Name=schedule_name(campaign_id), GroupName=self._group)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise unavailable(exc, f"deleting the schedule of campaign {campaign_id}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"deleting the schedule of campaign {campaign_id}") from exc


class LambdaCampaignInvoker:
    """Starts a run (`send` with `now`) or continues a fan-out in a fresh invocation of the runner."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def fire(self, campaign_id: str) -> None:
        self._invoke({"campaign_fire": {"campaign_id": campaign_id, "scheduled_time": None}})

    def continue_run(self, campaign_id: str, run_id: str) -> None:
        self._invoke({"campaign_continue": {"campaign_id": campaign_id, "run_id": run_id, "nonce": uuid.uuid4().hex}})

    def _invoke(self, payload: dict[str, Any]) -> None:
        try:
            self._client.invoke(
                FunctionName=self._function, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "starting the campaign runner") from exc


class LambdaPreflightSteps:
    """A preflight job's next step: an asynchronous invoke of the admin function that serves it."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function = function_name

    def continue_preflight(self, step: dict[str, Any]) -> None:
        payload = json.dumps({"campaign_preflight": step}, separators=(",", ":")).encode()
        try:
            self._client.invoke(FunctionName=self._function, InvocationType="Event", Payload=payload)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "starting the preflight job") from exc


class LineQuotaSource:
    def __init__(self, channels: LineChannels | None, api: LineApiClient) -> None:
        self._channels = channels
        self._api = api

    def quota(self, line_channel: str) -> LineQuota | None:
        channel = self._channels.find(line_channel) if self._channels else None
        if channel is None or not channel.access_token:
            return None
        limit, used = self._api.message_quota(access_token=channel.access_token)
        return LineQuota(limit, used)
