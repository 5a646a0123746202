"""The admin API's side of an import: check the file up front, store it, queue it, start the worker.

A file is refused with a 4xx (and nothing stored) when it cannot be imported at all: empty, not
CSV, not UTF-8, no header with a member_id column, more than MAX_ROWS rows. Everything about
single rows is the worker's business and never refuses the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cdp.clock import iso_from_ms
from cdp.errors import NotFound, PayloadTooLarge, StoreUnavailable, UnsupportedMediaType
from cdp.imports.errors import ImportConflict
from cdp.imports.members import check_upload
from cdp.imports.model import (
    AWAITING_UPLOAD,
    COMPLETED,
    QUEUED,
    ImportRecord,
    is_import_id,
    new_import_id,
    upload_key,
)
from cdp.imports.ports import ImportFiles, ImportStarter, ImportStore
from cdp.observability import logger
from cdp.ports import Clock

MAX_FILE_BYTES = 50 * 1024 * 1024  # any upload; 100k member rows are ~10 MB
# A body is held in the admin function's memory, decompressed: bigger files take the presigned path.
MAX_BODY_BYTES = 25 * 1024 * 1024
# What can arrive inline at all: Lambda refuses a synchronous request over 6 MB, and API Gateway
# passes the body base64-encoded (binary media types `*/*`) inside the event with its headers and
# request context. Over this, a body the function received locally would be cut off in AWS.
LAMBDA_REQUEST_PAYLOAD_BYTES = 6 * 1024 * 1024
EVENT_ENVELOPE_BYTES = 64 * 1024  # headers (twice: single and multi-value) and request context
MAX_INLINE_BODY_BYTES = (LAMBDA_REQUEST_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) // 4 * 3  # 4,669,440
PRESIGNED_SECONDS = 900
CSV_MEDIA_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/comma-separated-values",
        "text/plain",
        "application/octet-stream",
        "application/vnd.ms-excel",  # what Windows browsers label a .csv file
    }
)


def check_csv_media_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in CSV_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"send the CSV file as the body with Content-Type text/csv, not {media_type}",
            code="unsupported_media_type",
        )


@dataclass(slots=True)
class ImportUploads:
    store: ImportStore
    files: ImportFiles
    starter: ImportStarter | None  # None: no worker configured, imports stay queued
    clock: Clock
    new_id: Callable[[], str] = new_import_id

    def create_from_body(self, body: bytes) -> ImportRecord:
        """Check the whole file, store it, queue the import and start the worker."""
        check = check_upload(body)  # raises ImportFileError: a 4xx, nothing stored
        now = iso_from_ms(self.clock.now_ms())
        import_id = self.new_id()
        record = ImportRecord(
            import_id=import_id,
            status=QUEUED,
            created_at=now,
            updated_at=now,
            file_key=upload_key(import_id),
            file_bytes=len(body),
            rows_total=check.rows_total,
            details={"columns": check.header.columns, "ignored_columns": check.header.ignored},
        )
        self.files.put(record.file_key, body, "text/csv; charset=utf-8")
        self.store.create(record)
        self._start(record.import_id)
        return record

    def create_presigned(self) -> tuple[ImportRecord, str]:
        """Two-step upload for files over API Gateway's 10 MB: a presigned PUT, then `start`."""
        now = iso_from_ms(self.clock.now_ms())
        import_id = self.new_id()
        record = ImportRecord(
            import_id=import_id, status=AWAITING_UPLOAD, created_at=now, updated_at=now, file_key=upload_key(import_id)
        )
        self.store.create(record)
        url = self.files.presigned_put(record.file_key, expires_seconds=PRESIGNED_SECONDS, content_type="text/csv")
        return record, url

    def start(self, import_id: str) -> ImportRecord:
        """Queue an uploaded file (two-step upload), or start a queued import again."""
        record = self.get(import_id)
        if record.status == AWAITING_UPLOAD:
            size = self.files.size(record.file_key)
            if size is None:
                raise ImportConflict("nothing has been uploaded to the presigned URL yet", code="upload_missing")
            if size > MAX_FILE_BYTES:
                raise PayloadTooLarge(
                    f"the uploaded file is {size} bytes, the limit is {MAX_FILE_BYTES}", code="file_too_large"
                )
            now = iso_from_ms(self.clock.now_ms())
            if not self.store.transition(import_id, expected=AWAITING_UPLOAD, status=QUEUED, now=now, file_bytes=size):
                record = self.get(import_id)
                if record.status != QUEUED:
                    raise ImportConflict(f"the import is {record.status}", code="import_already_started")
        elif record.status != QUEUED:
            raise ImportConflict(f"the import is {record.status}", code="import_already_started")
        self._start(import_id)
        return self.get(import_id)

    def get(self, import_id: str) -> ImportRecord:
        record = self.store.get(import_id) if is_import_id(import_id) else None
        if record is None:
            raise NotFound(f"no import {import_id!r}", code="import_not_found")
        return record

    def rejected_rows_url(self, import_id: str) -> tuple[ImportRecord, str]:
        """A short-lived download URL of the rejected-rows CSV of a completed import."""
        record = self.get(import_id)
        if record.status != COMPLETED:
            raise ImportConflict(
                f"the import is {record.status}; rejected rows are available once it has completed",
                code="import_not_completed",
            )
        if record.rejected_key is None:
            raise NotFound("the import has no rejected rows", code="no_rejected_rows")
        if self.files.size(record.rejected_key) is None:
            raise NotFound("the rejected-rows file has expired", code="rejected_rows_expired")
        url = self.files.presigned_get(
            record.rejected_key, expires_seconds=PRESIGNED_SECONDS, filename=f"{import_id}-rejected.csv"
        )
        return record, url

    def _start(self, import_id: str) -> None:
        if self.starter is None:
            logger.warning("no import worker configured; the import stays queued", extra={"import_id": import_id})
            return
        try:
            self.starter.start(import_id)
        except StoreUnavailable as error:  # queued and retryable through POST .../start
            logger.warning("import worker not started", extra={"import_id": import_id, "error": error.message})
