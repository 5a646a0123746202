"""The core table's stream -> the Parquet archive (cdp.archive): one profile file and one event
file per stream batch, named after the batch so a redelivery overwrites instead of duplicating.
Records the archive cannot encode are quarantined with their reason (cdp.archive.writer)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.archive_stream import archive_batch
from cdp.adapters.s3_archive import S3Archive
from cdp.archive.writer import write_batch
from cdp.observability import logger
from cdp.settings import ArchiveWriterSettings


@functools.cache
def archive() -> S3Archive:
    settings = ArchiveWriterSettings.from_env()
    return S3Archive(client("s3"), settings.archive_bucket, Path(tempfile.gettempdir()))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch = archive_batch(event.get("Records") or [])
    with tempfile.TemporaryDirectory() as folder:
        written = write_batch(batch, archive(), Path(folder))
    if "quarantined" in written:
        logger.error("archive records quarantined", extra=written)
    else:
        logger.info("archived", extra=written)
    return written
