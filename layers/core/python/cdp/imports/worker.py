"""The import worker: scan the file once, then process it chunk by chunk from a checkpoint.

Each chunk is: read up to `chunk_rows` records from the checkpoint, validate them, write the good
rows as raw events (idempotent overwrites of deterministic items), write the chunk's rejected rows
as one part object (keyed by the chunk's first row), then advance the checkpoint with a
conditional update that also adds the chunk's counts. A chunk run twice (a crash before the
commit, an async retry, two workers) rewrites identical events and the same part, and only one
commit succeeds: nothing is counted twice. When the invocation's remaining time gets short the
worker asks for a fresh invocation that resumes from the checkpoint, so no file ever meets the
15-minute Lambda limit.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from itertools import islice
from typing import Any

from cdp.clock import iso_from_ms
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.imports.errors import ImportFileError
from cdp.imports.members import HeaderMap, Issue, RejectedRow, RowValidator, member_event, scan_file
from cdp.imports.model import (
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    ChunkCommit,
    ImportRecord,
    ScanCheckpoint,
    duplicates_key,
    issues_part_key,
    rejected_key,
)
from cdp.imports.ports import ImportFiles, ImportStore, RawEventWriter
from cdp.imports.records import Record, read_records
from cdp.imports.uploads import MAX_FILE_BYTES
from cdp.observability import logger
from cdp.ports import Clock

CHUNK_ROWS = 500  # 20 BatchWriteItem requests and one checkpoint per chunk
MIN_REMAINING_MS = 10_000
SLOWEST_CHUNK_FACTOR = 3  # continue while three of the slowest chunks so far still fit
ISSUE_COLUMNS = ("row", "outcome", "reasons", "details")
REJECTED = "rejected"
WARNED = "accepted_with_warnings"


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    import_id: str
    status: str
    rows_done: int
    chunks: int = 0
    continued: bool = False  # a new invocation will carry on from the checkpoint
    superseded: bool = False  # another invocation committed first; it carries on

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def issue_row(record: Record, outcome: str, issues: Sequence[Issue]) -> list[str]:
    cells = record.cells if record.cells is not None else [record.raw.rstrip("\r\n")]
    details = "; ".join(f"{issue.column}: {issue.message}" if issue.column else issue.message for issue in issues)
    return [str(record.number), outcome, ";".join(issue.code for issue in issues), details, *cells]


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # CRLF: what spreadsheets write and expect
    return buffer.getvalue().encode("utf-8")


class MemberImportWorker:
    def __init__(
        self,
        *,
        store: ImportStore,
        files: ImportFiles,
        events: RawEventWriter,
        normalizer: IdentifierNormalizer,
        clock: Clock,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self._store = store
        self._files = files
        self._events = events
        self._normalizer = normalizer
        self._clock = clock
        self._chunk_rows = chunk_rows

    def run(
        self, import_id: str, *, remaining_ms: Callable[[], int], continue_import: Callable[[str], None]
    ) -> WorkerOutcome:
        record = self._store.get(import_id)
        if record is None:
            logger.warning("import not found", extra={"import_id": import_id})
            return WorkerOutcome(import_id, "not_found", 0)
        if record.status == QUEUED:
            self._store.transition(import_id, expected=QUEUED, status=RUNNING, now=self._now())
            record = self._reload(import_id)
        if record.status == RUNNING and not record.scanned:
            record = self._scan(record)
        if record.status != RUNNING:  # finished, failed, or not uploaded yet: nothing to do
            return WorkerOutcome(import_id, record.status, record.rows_done)
        return self._process(record, remaining_ms, continue_import)

    # scan ----------------------------------------------------------------------------------------
    def _scan(self, record: ImportRecord) -> ImportRecord:
        """Refuse a file that cannot be imported before any row is; find rows and duplicates."""
        size = self._files.size(record.file_key)
        try:
            if size is None:
                raise ImportFileError("the uploaded file is missing", code="upload_missing")
            if size > MAX_FILE_BYTES:
                raise ImportFileError(f"the file is {size} bytes, the limit is {MAX_FILE_BYTES}", code="file_too_large")
            scan = scan_file(self._files.read_from(record.file_key, 0), self._normalizer)
        except ImportFileError as error:
            logger.warning("import refused", extra={"import_id": record.import_id, "error": error.code})
            self._store.finish(record.import_id, status=FAILED, now=self._now(), error=(error.code, error.message))
            return self._reload(record.import_id)
        dup_key = None
        if scan.duplicates:
            dup_key = duplicates_key(record.import_id)
            body = json.dumps({str(row): first for row, first in scan.duplicates.items()}).encode()
            self._files.put(dup_key, body, "application/json")
        checkpoint = ScanCheckpoint(
            rows_total=scan.rows_total,
            header=scan.header.header,
            next_row=scan.header_row + 1,
            byte_offset=scan.data_offset,
            duplicates_key=dup_key,
            details={"columns": scan.header.columns, "ignored_columns": scan.header.ignored},
        )
        self._store.save_scan(record.import_id, checkpoint, self._now())  # False: another run saved the same
        return self._reload(record.import_id)

    # chunks --------------------------------------------------------------------------------------
    def _process(
        self, record: ImportRecord, remaining_ms: Callable[[], int], continue_import: Callable[[str], None]
    ) -> WorkerOutcome:
        assert record.next_row is not None and record.byte_offset is not None  # set by the scan
        duplicates: dict[int, int] = {}
        if record.duplicates_key:
            loaded = json.loads(self._files.read(record.duplicates_key))
            duplicates = {int(row): int(first) for row, first in loaded.items()}
        validator = RowValidator(
            HeaderMap.from_header(record.header),
            self._normalizer,
            today=date.fromisoformat(record.created_at[:10]),  # the same verdicts on every run of a row
            duplicates=duplicates,
        )
        records: Iterator[Record] = read_records(
            self._files.read_from(record.file_key, record.byte_offset),
            start_offset=record.byte_offset,
            start_number=record.next_row,
        )
        start_row, rows_done, chunks, slowest_ms = record.next_row, record.rows_done, 0, 0.0
        while True:
            if remaining_ms() < max(MIN_REMAINING_MS, SLOWEST_CHUNK_FACTOR * slowest_ms):
                continue_import(record.import_id)  # raises if it cannot: the async retry resumes instead
                logger.info("import continues in a new invocation", extra={"import_id": record.import_id})
                return WorkerOutcome(record.import_id, RUNNING, rows_done, chunks, continued=True)
            started = time.perf_counter()
            chunk = list(islice(records, self._chunk_rows))
            if not chunk:
                return self._complete(record.import_id, start_row, chunks)
            commit = self._write_chunk(record, validator, chunk, start_row)
            if not self._store.commit_chunk(record.import_id, commit, self._now()):
                logger.info("chunk committed by another run", extra={"import_id": record.import_id, "row": start_row})
                return WorkerOutcome(record.import_id, RUNNING, rows_done, chunks, superseded=True)
            chunks += 1
            rows_done += commit.rows
            start_row = commit.next_row
            slowest_ms = max(slowest_ms, (time.perf_counter() - started) * 1000)

    def _write_chunk(
        self, record: ImportRecord, validator: RowValidator, chunk: list[Record], start_row: int
    ) -> ChunkCommit:
        events: list[RawEvent] = []
        issues: list[list[str]] = []
        rejected = warned = 0
        for row in chunk:
            if row.blank:
                continue
            result = validator.validate(row)
            if isinstance(result, RejectedRow):
                rejected += 1
                issues.append(issue_row(row, REJECTED, result.reasons))
                continue
            events.append(member_event(result, import_id=record.import_id, created_at=record.created_at))
            if result.warnings:
                warned += 1
                issues.append(issue_row(row, WARNED, result.warnings))
        if events:
            self._events.put_all(events)
        if issues:
            part = issues_part_key(record.import_id, start_row)
            self._files.put(part, csv_bytes(issues), "text/csv; charset=utf-8")
        return ChunkCommit(
            start_row=start_row,
            next_row=chunk[-1].number + 1,
            byte_offset=chunk[-1].end_offset,
            accepted=len(events),
            rejected=rejected,
            with_warnings=warned,
            wrote_part=bool(issues),
        )

    def _complete(self, import_id: str, at_row: int, chunks: int) -> WorkerOutcome:
        record = self._reload(import_id)
        key = None
        if record.issue_parts:
            key = rejected_key(import_id)
            self._files.put_stream(key, self._rejected_file(record), "text/csv; charset=utf-8")
        if not self._store.finish(import_id, status=COMPLETED, now=self._now(), at_row=at_row, rejected_key=key):
            record = self._reload(import_id)
            return WorkerOutcome(import_id, record.status, record.rows_done, chunks, superseded=True)
        record = self._reload(import_id)
        logger.info(
            "import completed",
            extra={
                "import_id": import_id,
                "rows_accepted": record.rows_accepted,
                "rows_rejected": record.rows_rejected,
                "rows_with_warnings": record.rows_with_warnings,
            },
        )
        return WorkerOutcome(import_id, record.status, record.rows_done, chunks)

    def _rejected_file(self, record: ImportRecord) -> Iterator[bytes]:
        # A BOM so that spreadsheets read the Chinese names in the file as UTF-8.
        yield "\ufeff".encode() + csv_bytes([[*ISSUE_COLUMNS, *record.header]])
        for start_row in sorted(record.issue_parts):
            yield self._files.read(issues_part_key(record.import_id, start_row))

    def _reload(self, import_id: str) -> ImportRecord:
        record = self._store.get(import_id)
        if record is None:  # status items are never deleted while an import runs
            raise RuntimeError(f"import {import_id} disappeared")
        return record

    def _now(self) -> str:
        return iso_from_ms(self._clock.now_ms())
