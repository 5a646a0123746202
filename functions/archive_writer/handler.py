"""The core table's stream -> the Parquet archive (cdp.archive): one profile file and one event
file per stream batch, named after the batch so a redelivery overwrites instead of duplicating."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from cdp.adapters.aws import client
from cdp.adapters.dynamodb.archive_stream import archive_batch
from cdp.adapters.s3_archive import EVENTS, PROFILES, S3Archive
from cdp.archive.duck import write_parquet
from cdp.archive.rows import EVENT_COLUMNS, PROFILE_COLUMNS
from cdp.observability import logger
from cdp.settings import ArchiveWriterSettings


@functools.cache
def archive() -> S3Archive:
    settings = ArchiveWriterSettings.from_env()
    return S3Archive(client("s3"), settings.archive_bucket, Path(tempfile.gettempdir()))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    batch = archive_batch(event.get("Records") or [])
    written: dict[str, Any] = {"profiles": len(batch.profiles), "events": len(batch.events), "keys": []}
    with tempfile.TemporaryDirectory() as folder:
        for kind, rows, columns in ((PROFILES, batch.profiles, PROFILE_COLUMNS), (EVENTS, batch.events, EVENT_COLUMNS)):
            if rows:
                path = Path(folder) / f"{kind}.parquet"
                write_parquet(rows, columns, path)
                written["keys"].append(archive().put(kind, batch.day, batch.name, path))
    logger.info("archived", extra=written)
    return written
