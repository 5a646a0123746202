"""POST /v1/{batch,track,identify,page,screen,group,alias,import} (and analytics.js's /v1/{b,t,i,p,s,g,a}):
Segment-compatible ingestion.

Every answer, errors included, carries the CORS headers of the deploy's allowed origins (cdp.cors),
so browser SDKs can read it; API Gateway answers the preflight.
"""

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
from cdp.cors import response_headers
from cdp.errors import CdpError
from cdp.events.segment import MAX_BATCH_BYTES
from cdp.http import error_response, header, json_response, raw_body
from cdp.ingestion.calls import call_from_path
from cdp.ingestion.channels import WriteKeys, write_key_from_basic_auth
from cdp.ingestion.partner import accept_partner_call
from cdp.observability import INGEST_REJECTED, logger, metrics
from cdp.settings import PartnerIngestSettings


@functools.cache
def build() -> tuple[WriteKeys, DynamoRawEventStore, DynamoIngestRejections | None, tuple[str, ...]]:
    settings = PartnerIngestSettings.from_env()
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    store = DynamoRawEventStore(client("dynamodb"), settings.raw_events_table, settings.raw_event_ttl_days * 86400)
    rejections = DynamoIngestRejections(client("dynamodb"), settings.core_table) if settings.core_table else None
    return WriteKeys(secrets, settings.write_keys_secret_id), store, rejections, settings.allowed_origins


def count_rejected(events: int) -> None:
    """One EMF line for the invocation's rejected events (nothing written when there are none)."""
    metrics.add_metric(name=INGEST_REJECTED, unit=MetricUnit.Count, value=events)
    metrics.flush_metrics()


def cors_headers(event: dict[str, Any]) -> dict[str, str]:
    try:
        allowed = build()[3]
    except Exception:  # a broken setting is answered (and logged) by the call itself
        return {}
    return response_headers(allowed, header(event, "origin"))


# The request id is every log line's correlation_id: API Gateway answers it in x-amzn-RequestId.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = answer(event)
    response["headers"] = {**response["headers"], **cors_headers(event)}
    return response


def answer(event: dict[str, Any]) -> dict[str, Any]:
    call = call_from_path(str(event.get("resource") or event.get("path") or ""))
    try:
        write_keys, store, rejections, _ = build()
        result = accept_partner_call(
            call=call,
            body=raw_body(event, max_bytes=MAX_BATCH_BYTES),
            header_write_key=write_key_from_basic_auth(header(event, "authorization")),
            write_keys=write_keys,
            store=store,
            clock=SystemClock(),
            rejections=rejections,
        )
    except CdpError as error:
        logger.warning("ingest refused", extra={"call": call, "error": error.code, "status": error.status})
        if 400 <= error.status < 500 and error.status != 401:
            count_rejected(1)
        return error_response(error)
    except Exception:  # answer 5xx with a body: LINE and the SDKs retry, and nothing was half-acknowledged
        logger.exception("ingest failed")
        return json_response(500, {"error": "internal_error", "message": "the event was not accepted; retry"})
    logger.info(
        "ingest accepted",
        extra={
            "call": call,
            "source": result.source,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
        },
    )
    for rejection in result.recorded:  # the reason and how to find the event; no event content
        logger.warning(
            "ingest event refused",
            extra={
                "call": call,
                "source": result.source,
                "index": rejection.index,
                "error": rejection.error,
                "field": rejection.field,
                "message_id": rejection.message_id,
            },
        )
    if result.rejected:
        count_rejected(len(result.rejected))
    return json_response(200, result.as_dict())
