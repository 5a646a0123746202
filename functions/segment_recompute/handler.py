"""Scheduled segment recompute (cdp.segments.batch): started by EventBridge Scheduler with
{"segment_id": ...} per segment (its cadence), or by the admin API's "recompute now".

After each segment's run, its LINE audience is brought up to date if one is kept in sync
(cdp.segments.audience_sync.sync_recomputed), without ever failing the recompute."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.line_api import LineApiClient, LineAudienceApi
from cdp.adapters.s3_archive import S3Archive
from cdp.adapters.secrets import CachedSecrets
from cdp.clock import SystemClock
from cdp.ingestion.channels import LineChannels
from cdp.observability import SEGMENT_ENTERED, SEGMENT_EXITED, logger, metrics
from cdp.segments.audience_sync import AudienceSyncer, sync_recomputed
from cdp.segments.batch import SegmentRecompute
from cdp.segments.realtime import SegmentEvaluator
from cdp.settings import SegmentRecomputeSettings
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError


class RecomputeInput(BaseModel):
    """EventBridge Scheduler's input (`{"segment_id": ...}`, or `{}` for every segment) or the
    admin API's "recompute now"."""

    model_config = ConfigDict(extra="ignore")
    segment_id: StrictStr | None = None


@functools.cache
def build() -> SegmentRecompute:
    settings = SegmentRecomputeSettings.from_env()
    segments = DynamoSegmentStore(client("dynamodb"), settings.core_table)
    profiles = DynamoProfileStore(client("dynamodb"), settings.core_table)
    clock = SystemClock()
    # Definitions are read fresh on every run: a schedule fires for the segment as saved.
    evaluator = SegmentEvaluator(
        segments, profiles, EventBridgePublisher(client("events"), settings.event_bus_name), clock, cache_ms=0
    )
    archive = S3Archive(client("s3"), settings.archive_bucket, Path(settings.archive_cache_dir))
    return SegmentRecompute(segments, evaluator, profiles, archive, clock)


def audience_syncer() -> AudienceSyncer | None:
    """None when this deployment has no LINE channels configured for the function. Built per
    invocation: it costs nothing until a segment has a synced audience (the secret is read then)."""
    settings = SegmentRecomputeSettings.from_env()
    if not settings.line_channels_secret_id:
        return None
    secrets = CachedSecrets(client("secretsmanager"), settings.secrets_cache_seconds)
    return AudienceSyncer(
        DynamoSegmentStore(client("dynamodb"), settings.core_table),
        DynamoProfileStore(client("dynamodb"), settings.core_table),
        LineChannels(secrets, settings.line_channels_secret_id),
        LineAudienceApi(LineApiClient(settings.line_api_base_url)),
        SystemClock(),
    )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        segment_id = parse(event=event, model=RecomputeInput).segment_id
    except ValidationError:
        logger.warning("segment_id must be a string; nothing recomputed", extra={"event": event})
        return {"reports": []}
    reports = build().run([segment_id] if segment_id else None)
    entered, exited = sum(report.entered for report in reports), sum(report.exited for report in reports)
    if entered:
        metrics.add_metric(name=SEGMENT_ENTERED, unit=MetricUnit.Count, value=entered)
    if exited:
        metrics.add_metric(name=SEGMENT_EXITED, unit=MetricUnit.Count, value=exited)
    return {
        "reports": [report.as_dict() for report in reports],
        "audience_syncs": sync_recomputed(reports, audience_syncer),
    }
