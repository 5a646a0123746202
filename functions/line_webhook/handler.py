"""POST /line/webhook/{channel}: verify LINE's signature, store each event once, answer fast."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.ingest_rejections import DynamoIngestRejections
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.secrets import CachedSecrets
from cdp.clock import SystemClock
from cdp.errors import CdpError
from cdp.events.line_webhook import MAX_BODY_BYTES
from cdp.http import error_response, header, json_response, raw_body
from cdp.ingestion.channels import LineChannels
from cdp.ingestion.line import accept_line_delivery
from cdp.observability import INGEST_REJECTED, logger, metrics
from cdp.settings import LineWebhookSettings


@functools.cache
def build() -> tuple[LineChannels, DynamoRawEventStore, DynamoIngestRejections | None]:
    settings = LineWebhookSettings.from_env()
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    store = DynamoRawEventStore(client("dynamodb"), settings.raw_events_table, settings.raw_event_ttl_days * 86400)
    rejections = DynamoIngestRejections(client("dynamodb"), settings.core_table) if settings.core_table else None
    return LineChannels(secrets, settings.line_channels_secret_id, SystemClock()), store, rejections


def count_rejected(events: int) -> None:
    """One EMF line for the delivery's refused events (the same metric as /v1 ingestion)."""
    metrics.add_metric(name=INGEST_REJECTED, unit=MetricUnit.Count, value=events)
    metrics.flush_metrics()


# The request id is every log line's correlation_id: API Gateway answers it in x-amzn-RequestId.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    channel = (event.get("pathParameters") or {}).get("channel", "")
    try:
        channels, store, rejections = build()
        result = accept_line_delivery(
            channel_name=channel,
            body=raw_body(event, max_bytes=MAX_BODY_BYTES),
            signature=header(event, "x-line-signature"),
            channels=channels,
            store=store,
            clock=SystemClock(),
            rejections=rejections,
        )
    except CdpError as error:
        logger.warning("webhook refused", extra={"channel": channel, "error": error.code, "status": error.status})
        return error_response(error)
    except Exception:  # answer 5xx with a body: LINE and the SDKs retry, and nothing was half-acknowledged
        logger.exception("webhook failed")
        return json_response(500, {"error": "internal_error", "message": "the event was not accepted; retry"})
    logger.info(
        "webhook accepted",
        extra={
            "channel": channel,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
        },
    )
    rejected = [
        {"index": r.index, "error": r.reason, "message": r.message, **({"field": r.field} if r.field else {})}
        for r in result.rejected
    ]
    for r in result.rejected:  # reasons and positions only: no event content in logs
        logger.warning(
            "webhook event refused", extra={"channel": channel, "index": r.index, "error": r.reason, "field": r.field}
        )
    if result.rejected:
        count_rejected(len(result.rejected))
    if any(not r.conformant for r in result.rejected):
        # Good events are stored; the malformed ones are named so the problem is visible.
        return json_response(
            400,
            {
                "error": "invalid_events",
                "message": "some events were malformed; the others were stored",
                "stored": result.stored,
                "rejected": rejected,
            },
        )
    body: dict[str, Any] = {"stored": result.stored, "duplicates": result.duplicates}
    if rejected:
        # Valid LINE events that cannot be kept (too large): a redelivery would be refused the same
        # way, so LINE is told the delivery arrived; the refusal is in the log and in the answer.
        body["rejected"] = rejected
    return json_response(200, body)
