"""Scheduled segment recompute (cdp.segments.batch): started by EventBridge Scheduler with
{"segment_id": ...} per segment (its cadence), or by the admin API's "recompute now"."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.s3_archive import S3Archive
from cdp.clock import SystemClock
from cdp.observability import logger
from cdp.segments.batch import SegmentRecompute
from cdp.segments.realtime import SegmentEvaluator
from cdp.settings import SegmentRecomputeSettings


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


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    segment_id = event.get("segment_id")
    if segment_id is not None and not isinstance(segment_id, str):
        logger.warning("segment_id must be a string; nothing recomputed", extra={"event": event})
        return {"reports": []}
    reports = build().run([segment_id] if segment_id else None)
    return {"reports": [report.as_dict() for report in reports]}
