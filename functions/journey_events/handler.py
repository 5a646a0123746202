"""The journey event consumer (cdp.journeys.flow): from the bus, `event.received`,
`segment.entered`, `segment.exited`, `profile.merged` and `profile.unmerged`; from a journey's schedule,
`{"cohort": {"journey_id", "version", "scheduled_time"}}` (and its own continuations, with
`after`); from the admin API on archive, `{"end_runs": {"journey_id", "reason"}}`; from the erase
workflow, `{"end_person": {"profile_id", "reason"}}`; from its daily
schedule, `{"retire_versions": {}}` (cdp.journeys.retirement).

A failure raises: the bus (or the asynchronous invoke) retries, then keeps the event on the
rule's dead-letter queue. Every effect repeats safely, and a handled envelope is skipped.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.config_items import CachedConfig
from cdp.adapters.dynamodb.journey_live import DynamoLiveJourneyEvents
from cdp.adapters.dynamodb.journey_runs import (
    DynamoAdmissions,
    DynamoEventMarks,
    DynamoRunStore,
    DynamoWaitStore,
)
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.journey_flow import LambdaCohortContinuation, SqsEntryQueue, StepFunctionsExecutions
from cdp.clock import SystemClock
from cdp.journeys.flow import ExitRecorder, JourneyFlow
from cdp.journeys.runs import ARCHIVED, ERASED
from cdp.observability import logger
from cdp.settings import JourneyEventsSettings
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

ENDING_RESERVE_MS = 20_000  # ending one run takes well under a second


class Cohort(BaseModel):
    model_config = ConfigDict(extra="ignore")
    journey_id: StrictStr = Field(min_length=1)
    version: StrictInt = Field(ge=1)
    scheduled_time: StrictStr | None = None
    after: StrictStr | None = None


class EndRuns(BaseModel):
    model_config = ConfigDict(extra="ignore")
    journey_id: StrictStr = Field(min_length=1)
    reason: StrictStr = ARCHIVED


class EndPerson(BaseModel):
    model_config = ConfigDict(extra="ignore")
    profile_id: StrictStr = Field(min_length=1)
    reason: StrictStr = ERASED


@functools.cache
def build(function_arn: str) -> JourneyFlow:
    from cdp.adapters.dynamodb.journeys import DynamoJourneyStore  # the journey definitions' store

    settings = JourneyEventsSettings.from_env()
    dynamodb, clock = client("dynamodb"), SystemClock()
    journeys = DynamoJourneyStore(dynamodb, settings.core_table)
    runs = DynamoRunStore(dynamodb, settings.core_table)
    return JourneyFlow(
        journeys=journeys,
        # Like the processor's identity rules: a publish or pause applies within this delay.
        live=CachedConfig(journeys.live, settings.journey_cache_seconds),
        runs=runs,
        waits=DynamoWaitStore(dynamodb, settings.core_table, clock),
        executions=StepFunctionsExecutions(client("stepfunctions")),
        queue=SqsEntryQueue(client("sqs"), settings.starts_queue_url),
        marks=DynamoEventMarks(dynamodb, settings.core_table, clock),
        members=DynamoSegmentStore(dynamodb, settings.core_table),
        exits=ExitRecorder(
            EventBridgePublisher(client("events"), settings.event_bus_name),
            DynamoProfileStore(dynamodb, settings.core_table),
        ),
        clock=clock,
        continuation=LambdaCohortContinuation(client("lambda"), function_arn),
        # An event no live journey listens to is dropped before any read.
        listened=CachedConfig(DynamoLiveJourneyEvents(dynamodb, settings.core_table), settings.journey_cache_seconds),
        admissions=DynamoAdmissions(dynamodb, settings.core_table, runs, clock),
    )


def retire_versions() -> list[str]:
    from cdp.adapters.dynamodb.journeys import DynamoJourneyStore
    from cdp.adapters.journey_machines import StepFunctionsMachineRetirement
    from cdp.journeys.retirement import retire_superseded

    settings = JourneyEventsSettings.from_env()
    store = DynamoJourneyStore(client("dynamodb"), settings.core_table)
    now = datetime.fromtimestamp(SystemClock().now_ms() / 1000, tz=UTC)
    retired = retire_superseded(store, StepFunctionsMachineRetirement(client("stepfunctions")), now)
    return [f"{journey_id} v{number}" for journey_id, number in retired]


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    flow = build(context.invoked_function_arn)
    if not isinstance(event, dict):
        logger.warning("journey event consumer input not understood")
        return {"error": "invalid_input"}
    try:
        if "cohort" in event:
            cohort = Cohort.model_validate(event["cohort"])
            outcome = flow.on_cohort(cohort.journey_id, cohort.version, cohort.scheduled_time, cohort.after)
            logger.info("cohort entries queued", extra={"journey_id": cohort.journey_id, **outcome.as_dict()})
            return outcome.as_dict()
        if "retire_versions" in event:
            retired = retire_versions()
            logger.info("superseded journey versions retired", extra={"retired": retired})
            return {"retired": len(retired)}
        if "end_person" in event:
            person = EndPerson.model_validate(event["end_person"])
            ended = flow.end_person(person.profile_id, person.reason)
            logger.info("a person's journey runs ended", extra={"ended": ended, "reason": person.reason})
            return {"ended": ended}
        if "end_runs" in event:
            ending = EndRuns.model_validate(event["end_runs"])
            # Stop with time to spare: the rest goes on in a fresh invocation.
            ended, done = flow.end_runs(
                ending.journey_id, ending.reason, lambda: context.get_remaining_time_in_millis() > ENDING_RESERVE_MS
            )
            logger.info("journey runs ended", extra={"journey_id": ending.journey_id, "ended": ended, "done": done})
            return {"ended": ended} if done else {"ended": ended, "continued": True}
    except ValidationError as exc:
        logger.warning(
            "journey event consumer input refused",
            extra={"problems": exc.errors(include_url=False, include_input=False)},
        )
        return {"error": "invalid_input"}
    detail = event.get("detail")
    detail_type = str(event.get("detail-type") or "")
    if not isinstance(detail, dict):
        logger.warning("not a bus event; ignored", extra={"detail_type": detail_type})
        return {"error": "invalid_input"}
    outcome = flow.on_bus_event(detail_type, detail)
    summary = {"detailType": detail_type, **outcome.as_dict()}
    # Most events touch no journey: only those that did are worth a paid log line.
    touched = outcome.resumed or outcome.exited or outcome.entries or outcome.clicks or outcome.conversions
    (logger.info if touched else logger.debug)("journey event handled", extra=summary)
    return summary
