"""Real-time segments: profile.updated / profile.merged / profile.unmerged from the bus in,
memberships and segment.entered / segment.exited out (cdp.segments.realtime)."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.clock import SystemClock
from cdp.domain_events import PROFILE_MERGED, PROFILE_UNMERGED, PROFILE_UPDATED
from cdp.observability import SEGMENT_ENTERED, SEGMENT_EXITED, logger, metrics
from cdp.segments.realtime import EvaluationResult, SegmentEvaluator
from cdp.settings import SegmentEvaluatorSettings
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ProfileChangeData(BaseModel):
    """`detail.data` of profile.updated / profile.merged / profile.unmerged (cdp.domain_events)."""

    model_config = ConfigDict(extra="ignore")
    profileId: str = Field(min_length=1)
    mergedProfileId: str | None = None
    restoredProfileId: str | None = None
    changes: list[Any] = []


class ProfileChangeDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")
    data: ProfileChangeData


class ProfileChange(BaseModel):
    """The EventBridge event, as far as this function reads it."""

    model_config = ConfigDict(extra="ignore")
    detail_type: str = Field(alias="detail-type")
    detail: ProfileChangeDetail


@functools.cache
def build() -> SegmentEvaluator:
    settings = SegmentEvaluatorSettings.from_env()
    return SegmentEvaluator(
        DynamoSegmentStore(client("dynamodb"), settings.core_table),
        DynamoProfileStore(client("dynamodb"), settings.core_table),
        EventBridgePublisher(client("events"), settings.event_bus_name),
        SystemClock(),
        cache_ms=settings.definitions_cache_seconds * 1000,
    )


def dispatch(evaluator: SegmentEvaluator, event: dict[str, Any]) -> list[EvaluationResult]:
    name = event.get("detail-type")
    try:
        change = parse(event=event, model=ProfileChange)
    except ValidationError:  # a malformed event is logged, not retried until the DLQ
        logger.warning("no profileId; ignored", extra={"detail_type": name})
        return []
    data = change.detail.data
    profile_id, other = data.profileId, data.mergedProfileId or data.restoredProfileId
    if name == PROFILE_UPDATED:
        return [evaluator.on_profile_changed(profile_id, [c for c in data.changes if isinstance(c, str)])]
    if name in (PROFILE_MERGED, PROFILE_UNMERGED) and other:
        if name == PROFILE_MERGED:
            return [evaluator.on_profile_merged(profile_id, other)]
        return evaluator.on_profile_unmerged(profile_id, other)
    logger.warning("not a profile change this function handles; ignored", extra={"detail_type": name})
    return []


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = dispatch(build(), event)
    entered = sum(len(result.entered) for result in results)
    exited = sum(len(result.exited) + sum(map(len, result.exited_elsewhere.values())) for result in results)
    if entered:
        metrics.add_metric(name=SEGMENT_ENTERED, unit=MetricUnit.Count, value=entered)
    if exited:
        metrics.add_metric(name=SEGMENT_EXITED, unit=MetricUnit.Count, value=exited)
    summary = {"detailType": event.get("detail-type"), "results": [result.as_dict() for result in results]}
    # Most profile changes move nobody between segments: only moves are worth a paid log line.
    (logger.info if entered or exited else logger.debug)("segments evaluated", extra=summary)
    return summary
