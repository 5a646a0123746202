"""DynamoDB stream of raw events -> profiles, timelines and domain events (partial batch failures)."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.auto_replies import DynamoAutoReplies
from cdp.adapters.dynamodb.config_items import CachedConfig
from cdp.adapters.dynamodb.erasure import DynamoSuppressions
from cdp.adapters.dynamodb.identity_rules import DynamoIdentityRules
from cdp.adapters.dynamodb.journey_live import DynamoLiveJourneyEvents
from cdp.adapters.dynamodb.link_nonces import DynamoLinkNonceStore
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import raw_event_from_item
from cdp.adapters.dynamodb.tag_rules import DynamoTagRules
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.lambda_invoke import LambdaSendRequests
from cdp.adapters.stepfunctions import StepFunctionsIdentityWorkflows
from cdp.clock import SystemClock
from cdp.domain_events import parse_received_selection
from cdp.events.canonical import EventNormalizer
from cdp.identity.account_link import AccountLinks
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.messaging.auto_reply import AutoReplier
from cdp.observability import logger
from cdp.privacy.suppression import SuppressionCheck
from cdp.profiles.processor import EventProcessor
from cdp.settings import ProcessorSettings

batch = BatchProcessor(event_type=EventType.DynamoDBStreams)
outcomes: Counter[str] = Counter()  # this invocation's, for its one log line


@functools.cache
def build() -> EventProcessor:
    settings = ProcessorSettings.from_env()
    dynamodb, clock = client("dynamodb"), SystemClock()
    rules = DynamoIdentityRules(dynamodb, settings.core_table)
    replies = (
        AutoReplier(
            CachedConfig(DynamoAutoReplies(dynamodb, settings.core_table).get, settings.rules_cache_seconds),
            LambdaSendRequests(client("lambda"), settings.message_sender_function),
        )
        if settings.message_sender_function
        else None
    )
    return EventProcessor(
        # Blocked values are part of the workspace's identity rules, so normalisers follow them.
        normalizer=lambda current: EventNormalizer(
            IdentifierNormalizer(settings.default_phone_region, blocked_values=current.blocked_values)
        ),
        store=DynamoProfileStore(dynamodb, settings.core_table),
        publisher=EventBridgePublisher(client("events"), settings.event_bus_name),
        clock=clock,
        rules=CachedConfig(rules.get, settings.rules_cache_seconds),
        merges=(
            StepFunctionsIdentityWorkflows(client("stepfunctions"), merge_arn=settings.merge_state_machine_arn)
            if settings.merge_state_machine_arn
            else None
        ),
        account_links=AccountLinks(DynamoLinkNonceStore(dynamodb, settings.core_table), clock),
        tag_rules=CachedConfig(DynamoTagRules(dynamodb, settings.core_table).get, settings.rules_cache_seconds),
        received=parse_received_selection(settings.publish_event_received),
        auto_replies=replies,
        # The events live journeys listen to reach the bus whatever the selection; a publish or a
        # pause applies within the cache's delay.
        journey_events=CachedConfig(
            DynamoLiveJourneyEvents(dynamodb, settings.core_table), settings.journey_cache_seconds
        ),
        suppression=(
            SuppressionCheck(DynamoSuppressions(dynamodb, settings.core_table, settings.raw_events_table))
            if settings.raw_events_table
            else None
        ),
    )


def record_handler(record: DynamoDBRecord) -> None:
    if record.raw_event.get("eventName") != "INSERT":
        return  # TTL expiry (REMOVE) carries nothing to process; raw events are never modified
    raw = raw_event_from_item(record.raw_event["dynamodb"]["NewImage"])
    result = build().process(raw)
    outcomes[result.outcome] += 1
    logger.debug(
        "event processed",
        extra={"event_id": raw.event_id, "outcome": result.outcome, "profile_id": result.profile_id},
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcomes.clear()
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=record_handler, processor=batch, context=context)
    )
    # One line per batch, not per event: CloudWatch bills each logged byte (docs/costs.md); DEBUG
    # logs each event. Failed records are named with their errors, for the retry and the DLQ.
    failed = [failure["itemIdentifier"] for failure in response.get("batchItemFailures") or []]
    summary = {"records": len(event.get("Records") or []), "failed": len(failed), **dict(outcomes)}
    if failed:
        errors = [f"{type(info[1]).__name__}: {info[1]}" for info in batch.exceptions if info[1] is not None]
        logger.warning("batch processed with failures", extra={**summary, "sequence_numbers": failed, "errors": errors})
    else:
        logger.info("batch processed", extra=summary)
    return response
