"""The message sender: every message (campaigns, auto-replies, journeys, operators, released holds)
goes through the send point here (cdp.messaging.send_point).

Input, from a direct or scheduled invoke: `{"requests": [SendRequest, ...]}`; or an SQS batch whose
bodies have that shape (partial batch failures); or SES's own events about sent email, from the
configuration set through EventBridge (cdp.messaging.feedback). A request that fails validation is answered in
the result (`invalid_request`) and never retried; a send whose provider answer is unknown fails
the invocation (or its SQS record), so it is retried with the same send key and LINE retry key.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.dynamodb.send_ledger import DynamoSuppressionList
from cdp.campaigns.gate import CampaignGate
from cdp.clock import SystemClock
from cdp.messaging.feedback import SES_SOURCE, EmailFeedback
from cdp.messaging.request import SendRequest
from cdp.messaging.send_point import RETRY, SendPoint, SendResult
from cdp.messaging.wiring import build_send_point, production_renderer
from cdp.observability import logger, metrics
from cdp.settings import MessageSenderSettings
from pydantic import ValidationError


class RetryLater(Exception):
    """A provider's answer is unknown: fail the invocation so it is retried with the same keys."""


@functools.cache
def build(target_arn: str) -> SendPoint:
    """Once per container; `target_arn` is this function's own ARN, where held sends come back."""
    settings = MessageSenderSettings.from_env()
    return build_send_point(settings, production_renderer(settings), target_arn)


@functools.cache
def build_feedback() -> EmailFeedback:
    settings = MessageSenderSettings.from_env()
    dynamodb = client("dynamodb")
    return EmailFeedback(
        events=DynamoRawEventStore(dynamodb, settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        suppressions=DynamoSuppressionList(dynamodb, settings.core_table),
        clock=SystemClock(),
    )


def parse_requests(body: Any) -> tuple[list[SendRequest], list[dict[str, Any]]]:
    """The valid requests, and an `invalid_request` answer per invalid one (never retried)."""
    items = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return [], [{"error": "invalid_request", "message": 'the body must be {"requests": [...]}'}]
    valid: list[SendRequest] = []
    invalid: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            valid.append(SendRequest.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
            key = item.get("send_key") if isinstance(item, dict) else None
            invalid.append({"index": index, "send_key": key, "error": "invalid_request", "message": problems})
    return valid, invalid


@functools.cache
def build_gate() -> CampaignGate:
    settings = MessageSenderSettings.from_env()
    return CampaignGate(DynamoCampaignStore(client("dynamodb"), settings.core_table), SystemClock())


def handle(body: Any, point: SendPoint, gate: CampaignGate | None = None) -> tuple[dict[str, Any], bool]:
    """(the answer, whether any send must be retried). A campaign send whose campaign or run is
    paused, cancelled or stopped by LINE's monthly limit is answered `skipped` without a send or a
    record; a send LINE refuses for the monthly limit stops its campaign run (cdp.campaigns.gate)."""
    requests, invalid = parse_requests(body)
    for problem in invalid:
        logger.warning("send request refused", extra={"refused": problem})
    skipped: list[SendResult] = []
    if gate is not None:
        going: list[SendRequest] = []
        for request in requests:
            reason = gate.stopped(request.send_key)
            if reason is None:
                going.append(request)
            else:
                skipped.append(SendResult(request.send_key, "skipped", reason=reason))
        requests = going
    sent: list[SendResult] = point.send_many(requests) if requests else []
    if gate is not None:
        gate.stop_exhausted(sent)  # LINE's monthly limit stops the campaign's run
    results = sent + skipped
    for state, count in Counter(result.state for result in results).items():
        metrics.add_metric(name=f"Message{state.title().replace('_', '')}", unit=MetricUnit.Count, value=count)
    answer = {"results": [r.as_dict() for r in results], "invalid": invalid}
    return answer, any(r.state == RETRY for r in results)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == SES_SOURCE:
        outcome = build_feedback().record(event)
        logger.info("email feedback", extra={"kind": outcome.kind, "recorded": outcome.recorded})
        return {"kind": outcome.kind, "recorded": outcome.recorded, "suppressed": len(outcome.suppressed)}
    point = build(context.invoked_function_arn)
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        failures = []
        for record in event["Records"]:
            try:
                body = json.loads(record.get("body") or "")
            except ValueError:
                logger.warning("SQS body is not JSON; dropped", extra={"message_id": record.get("messageId")})
                continue
            try:
                _answer, retry = handle(body, point, build_gate())
            except Exception:  # this record only: the others' sends are done and recorded
                logger.exception("send batch failed; it is retried", extra={"message_id": record.get("messageId")})
                retry = True
            if retry:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}
    answer, retry = handle(event, point, build_gate())
    if retry:
        raise RetryLater(json.dumps(answer["results"], ensure_ascii=False))
    return answer
