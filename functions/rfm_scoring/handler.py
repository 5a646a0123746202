"""Scheduled RFM (cdp.profiles.rfm_job): daily by EventBridge Scheduler; the window (days) is the
function's setting, or {"window_days": N} in the invocation."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.s3_archive import S3Archive
from cdp.clock import SystemClock
from cdp.observability import logger
from cdp.profiles.rfm_job import RfmJob
from cdp.settings import RfmSettings


@functools.cache
def settings() -> RfmSettings:
    return RfmSettings.from_env()


def job(window_days: int) -> RfmJob:
    config = settings()
    return RfmJob(
        S3Archive(client("s3"), config.archive_bucket, Path(config.archive_cache_dir)),
        DynamoProfileStore(client("dynamodb"), config.core_table),
        DynamoRawEventStore(client("dynamodb"), config.raw_events_table, config.raw_event_ttl_days * 86400),
        SystemClock(),
        window_days=window_days,
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    window = event.get("window_days", settings().window_days)
    if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 3650:
        logger.warning("window_days must be 1 to 3650; nothing scored", extra={"event": event})
        return {"error": "invalid_window_days"}
    return job(window).run().as_dict()
