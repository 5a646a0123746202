"""The journey step function: every Task of a compiled journey state machine calls it with
`{"op", "node", "entered", "run", ...}` (cdp.journeys.compiler); the ops are in
cdp.journeys.stepper. Sends go through the send point in-process, synchronously, with the run and
node's send key. An unknown provider answer raises `RetryLater`, which the state machine retries
with the same key; a bad payload raises BadRequest, which its Catch records as a failed run.
"""

from __future__ import annotations

import functools
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.journey_runs import DynamoRunStore, DynamoWaitStore
from cdp.adapters.dynamodb.journeys import DynamoJourneyStore
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.clock import SystemClock
from cdp.journeys.model import PublishedVersion
from cdp.journeys.stepper import JourneyStepper, RetryLater, RunEnded
from cdp.messaging.wiring import build_send_point, production_renderer
from cdp.observability import logger
from cdp.settings import JourneyStepSettings, MessageSenderSettings

__all__ = ["RetryLater", "RunEnded", "build", "lambda_handler"]


@functools.cache
def build() -> JourneyStepper:
    settings = JourneyStepSettings.from_env()
    sender = MessageSenderSettings.from_env()
    dynamodb = client("dynamodb")
    clock = SystemClock()
    point = build_send_point(sender, production_renderer(sender), settings.message_sender_function)
    journeys = DynamoJourneyStore(dynamodb, settings.core_table, clock)
    versions: dict[tuple[str, int], PublishedVersion] = {}

    def version(journey_id: str, number: int) -> PublishedVersion | None:
        # Published versions never change: read once per container.
        if (journey_id, number) not in versions:
            found = journeys.version(journey_id, number)
            if found is None:
                return None
            versions[(journey_id, number)] = found
        return versions[(journey_id, number)]

    return JourneyStepper(
        runs=DynamoRunStore(dynamodb, settings.core_table),
        waits=DynamoWaitStore(dynamodb, settings.core_table, clock),
        versions=version,
        profiles=DynamoProfileStore(dynamodb, settings.core_table),
        members=DynamoSegmentStore(dynamodb, settings.core_table),
        events=DynamoRawEventStore(dynamodb, settings.raw_events_table, settings.raw_event_ttl_days * 86400),
        send=point.send,
        clock=clock,
        publisher=EventBridgePublisher(client("events"), settings.event_bus_name) if settings.event_bus_name else None,
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(op=event.get("op"), node=event.get("node"), run_id=(event.get("run") or {}).get("run_id"))
    return build().handle(event)
