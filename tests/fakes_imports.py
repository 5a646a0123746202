"""In-memory fakes of cdp.imports.ports, with the adapters' observable semantics.

The store applies the same conditions as the DynamoDB adapter (status, checkpoint), so a worker
run twice behaves here as it does on DynamoDB; the files fake hands out small chunks so record
boundaries fall across chunk boundaries.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence

from cdp.errors import StoreUnavailable
from cdp.events.raw import RawEvent
from cdp.imports.model import COMPLETED, RUNNING, ChunkCommit, ImportRecord, ScanCheckpoint


class FakeImportStore:
    def __init__(self) -> None:
        self.records: dict[str, ImportRecord] = {}
        self.commits: list[tuple[str, int]] = []  # (import id, chunk start row) of accepted commits
        self.refused_commits: list[tuple[str, int]] = []

    def create(self, record: ImportRecord) -> None:
        if record.import_id in self.records:  # like the adapter's conditional put: a store failure
            raise StoreUnavailable("creating an import: the id exists", details={"aws_error": "ConditionalCheckFailed"})
        self.records[record.import_id] = copy.deepcopy(record)

    def get(self, import_id: str) -> ImportRecord | None:
        record = self.records.get(import_id)
        return copy.deepcopy(record) if record else None

    def transition(
        self, import_id: str, *, expected: str, status: str, now: str, file_bytes: int | None = None
    ) -> bool:
        record = self.records.get(import_id)
        if record is None or record.status != expected:
            return False
        record.status, record.updated_at = status, now
        if status == RUNNING:
            record.started_at = now
        if file_bytes is not None:
            record.file_bytes = file_bytes
        return True

    def save_scan(self, import_id: str, scan: ScanCheckpoint, now: str) -> bool:
        record = self.records.get(import_id)
        if record is None or record.status != RUNNING or record.scanned:
            return False
        record.scanned, record.rows_total, record.header = True, scan.rows_total, scan.header
        record.next_row, record.byte_offset, record.duplicates_key = (
            scan.next_row,
            scan.byte_offset,
            scan.duplicates_key,
        )
        record.details, record.updated_at = dict(scan.details), now
        return True

    def commit_chunk(self, import_id: str, commit: ChunkCommit, now: str) -> bool:
        record = self.records.get(import_id)
        if record is None or record.status != RUNNING or record.next_row != commit.start_row:
            self.refused_commits.append((import_id, commit.start_row))
            return False
        record.next_row, record.byte_offset, record.updated_at = commit.next_row, commit.byte_offset, now
        record.rows_done += commit.rows
        record.rows_accepted += commit.accepted
        record.rows_rejected += commit.rejected
        record.rows_with_warnings += commit.with_warnings
        if commit.wrote_part:
            record.issue_parts = tuple(sorted({*record.issue_parts, commit.start_row}))
        self.commits.append((import_id, commit.start_row))
        return True

    def finish(
        self,
        import_id: str,
        *,
        status: str,
        now: str,
        at_row: int | None = None,
        rejected_key: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> bool:
        if status == COMPLETED and at_row is None:
            raise ValueError("completing an import needs the checkpoint it ends at")
        record = self.records.get(import_id)
        if record is None or record.status != RUNNING:
            return False
        if status == COMPLETED and record.next_row != at_row:
            return False
        record.status, record.updated_at, record.completed_at = status, now, now
        if rejected_key is not None:
            record.rejected_key = rejected_key
        if error is not None:
            record.error_code, record.error_message = error
        return True

    def replace(self, import_id: str, **changes: object) -> None:
        """Test helper: rewind or alter a stored record."""
        self.records[import_id] = dataclasses.replace(self.records[import_id], **changes)  # type: ignore[arg-type]


class FakeImportFiles:
    def __init__(self, chunk_bytes: int = 7) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.chunk_bytes = chunk_bytes
        self.reads_from: list[tuple[str, int]] = []

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key], self.content_types[key] = bytes(data), content_type

    def put_stream(self, key: str, parts: Iterable[bytes], content_type: str) -> None:
        self.put(key, b"".join(parts), content_type)

    def read(self, key: str) -> bytes:
        if key not in self.objects:  # the adapter: S3 answers NoSuchKey, a store failure
            raise StoreUnavailable(f"reading {key}", details={"aws_error": "NoSuchKey"})
        return self.objects[key]

    def read_from(self, key: str, offset: int) -> Iterator[bytes]:
        self.reads_from.append((key, offset))
        if key not in self.objects:
            raise FileNotFoundError(key)
        data = self.objects[key]
        for start in range(offset, len(data), self.chunk_bytes):
            yield data[start : start + self.chunk_bytes]

    def size(self, key: str) -> int | None:
        return len(self.objects[key]) if key in self.objects else None

    def presigned_get(self, key: str, *, expires_seconds: int, filename: str) -> str:
        return f"https://files.example/{key}?expires={expires_seconds}&filename={filename}"

    def presigned_put(self, key: str, *, expires_seconds: int, content_type: str) -> str:
        return f"https://files.example/{key}?put&expires={expires_seconds}"


class FakeRawEventWriter:
    """put_all overwrites by id, like the unconditional batch write."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.events: dict[str, RawEvent] = {}
        self.writes = 0  # events written, overwrites included
        self.fail_after = fail_after  # raise StoreUnavailable once this many events have been written

    def put_all(self, events: Sequence[RawEvent]) -> None:
        for event in events:  # a failure part-way leaves the earlier items written, like batches do
            if self.fail_after is not None and self.writes >= self.fail_after:
                raise StoreUnavailable("raw events table throttled")
            self.events[event.event_id] = event
            self.writes += 1


class FakeStarter:
    def __init__(self, fail: bool = False) -> None:
        self.started: list[str] = []
        self.fail = fail

    def start(self, import_id: str) -> None:
        if self.fail:
            raise StoreUnavailable("Lambda Invoke failed: ResourceNotFoundException")
        self.started.append(import_id)


class CountdownTimer:
    """remaining_ms() for the worker: plenty for `calls` checks, then too little."""

    def __init__(self, calls: int, plenty_ms: int = 600_000, low_ms: int = 1_000) -> None:
        self.calls = calls
        self.plenty_ms, self.low_ms = plenty_ms, low_ms
        self.checks = 0

    def __call__(self) -> int:
        self.checks += 1
        return self.plenty_ms if self.checks <= self.calls else self.low_ms


def never_continue(import_id: str) -> None:
    raise AssertionError(f"the worker asked to continue {import_id} unexpectedly")


Continue = Callable[[str], None]
