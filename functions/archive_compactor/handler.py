"""Daily archive compaction (cdp.archive.compaction): the files of closed days become one per kind."""

from __future__ import annotations

import functools
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.s3_archive import S3Archive
from cdp.archive.compaction import compact
from cdp.clock import SystemClock
from cdp.observability import logger
from cdp.settings import ArchiveWriterSettings
from pydantic import BaseModel, ConfigDict


class CompactionInput(BaseModel):
    """The daily schedule's input: `{}` (the day compacted is always the clock's yesterday and before)."""

    model_config = ConfigDict(extra="forbid")


@functools.cache
def archive() -> S3Archive:
    return S3Archive(client("s3"), ArchiveWriterSettings.from_env().archive_bucket, Path(tempfile.gettempdir()))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parse(event=event or {}, model=CompactionInput)  # anything else is a misrouted invocation: fail it
    today = datetime.fromtimestamp(SystemClock().now_ms() / 1000, tz=UTC).date()
    report = compact(archive(), today).as_dict()
    logger.info("archive compacted", extra=report)
    return report
