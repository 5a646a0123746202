"""Scheduled segment recompute (cdp.segments.batch): started by EventBridge Scheduler with
{"segment_id": ...} per segment (its cadence), or by the admin API's "recompute now".

After each segment's run, its LINE audience is brought up to date if one is kept in sync
(cdp.segments.audience_sync). That step never fails the recompute: its errors are logged and
recorded on the sync record, and the next run retries."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

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
from cdp.observability import logger
from cdp.segments.audience_sync import AudienceSyncer
from cdp.segments.batch import RecomputeReport, SegmentRecompute
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


def sync_audiences(reports: list[RecomputeReport]) -> list[dict[str, Any]]:
    """Each recomputed segment's synced LINE audience, brought up to date; failures only logged."""
    outcomes: list[dict[str, Any]] = []
    try:
        syncer = audience_syncer() if reports else None
    except Exception:  # misconfigured: the recompute itself still stands
        logger.exception("LINE audience sync is not configured correctly; nothing synced")
        return outcomes
    for report in reports:
        if syncer is None:
            return outcomes
        try:
            outcome = syncer.sync(report.segment_id, rule_version=report.rule_version)
        except Exception:  # the recompute is done and recorded; the sync retries on the next run
            logger.exception("LINE audience sync failed", extra={"segment_id": report.segment_id})
            outcomes.append({"segment_id": report.segment_id, "mode": "error"})
            continue
        if outcome is not None:
            outcomes.append(outcome.as_dict())
    return outcomes


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        segment_id = parse(event=event, model=RecomputeInput).segment_id
    except ValidationError:
        logger.warning("segment_id must be a string; nothing recomputed", extra={"event": event})
        return {"reports": []}
    reports = build().run([segment_id] if segment_id else None)
    return {"reports": [report.as_dict() for report in reports], "audience_syncs": sync_audiences(reports)}
