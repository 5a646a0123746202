"""Archive upkeep: the daily compaction (cdp.archive.compaction: the files of closed days become
one per kind) followed by a snapshot refresh, and the snapshot refresh alone on its own, more
frequent schedule (cdp.archive.snapshot.refresh: the changes since folded into a new snapshot)."""

from __future__ import annotations

import functools
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from cdp.adapters.aws import client
from cdp.adapters.s3_archive import S3Archive
from cdp.archive.compaction import compact
from cdp.archive.snapshot import refresh
from cdp.clock import SystemClock
from cdp.observability import logger
from cdp.settings import ArchiveWriterSettings
from pydantic import BaseModel, ConfigDict


class CompactionInput(BaseModel):
    """A schedule's input: `{}` or `{"task": "compact"}` (the day compacted is always the clock's
    yesterday and before, then the snapshot is refreshed), or `{"task": "snapshot"}` (refresh only)."""

    model_config = ConfigDict(extra="forbid")
    task: Literal["compact", "snapshot"] = "compact"


@functools.cache
def archive() -> S3Archive:
    return S3Archive(client("s3"), ArchiveWriterSettings.from_env().archive_bucket, Path(tempfile.gettempdir()))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    task = parse(event=event or {}, model=CompactionInput).task  # anything else is a misrouted invocation: fail it
    now = datetime.fromtimestamp(SystemClock().now_ms() / 1000, tz=UTC)
    report: dict[str, Any] = {}
    if task == "compact":
        report["compaction"] = compact(archive(), now.date()).as_dict()
        logger.info("archive compacted", extra=report["compaction"])
    report["snapshot"] = refresh(archive(), now, Path(tempfile.gettempdir()))
    logger.info("archive snapshot refreshed", extra=report["snapshot"])
    return report
