"""Scheduled RFM (cdp.profiles.rfm_job): daily by EventBridge Scheduler; the window (days) is the
function's setting, or {"window_days": N} in the invocation."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.s3_archive import S3Archive
from cdp.clock import SystemClock
from cdp.observability import logger
from cdp.profiles.rfm_job import RfmJob
from cdp.settings import RfmSettings
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError


class RfmInput(BaseModel):
    """The schedule's input (`{}`), or `{"window_days": N}` for a one-off run."""

    model_config = ConfigDict(extra="ignore")
    window_days: Annotated[StrictInt, Field(ge=1, le=3650)] | None = None


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
    try:
        window = parse(event=event, model=RfmInput).window_days
    except ValidationError:
        logger.warning("window_days must be 1 to 3650; nothing scored", extra={"event": event})
        return {"error": "invalid_window_days"}
    return job(window or settings().window_days).run().as_dict()
