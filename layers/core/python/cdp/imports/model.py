"""An import's status item: lifecycle, progress counters, the checkpoint, where its files are."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

# Lifecycle: awaiting_upload (two-step upload only) -> queued -> running -> completed | failed.
AWAITING_UPLOAD = "awaiting_upload"
QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
FINISHED = (COMPLETED, FAILED)

MEMBERS = "members"
_IMPORT_ID = re.compile(r"imp_[0-9a-f]{32}")


def new_import_id() -> str:
    return f"imp_{uuid.uuid4().hex}"


def is_import_id(value: str) -> bool:
    return _IMPORT_ID.fullmatch(value) is not None


# Object keys in the imports bucket, all under one prefix per import.
def upload_key(import_id: str) -> str:
    return f"imports/{import_id}/upload.csv"


def duplicates_key(import_id: str) -> str:
    return f"imports/{import_id}/duplicates.json"


def issues_part_key(import_id: str, start_row: int) -> str:
    # Keyed by the chunk's first row: a chunk run again overwrites its own part, never adds one.
    return f"imports/{import_id}/issues/part-{start_row:09d}.csv"


def rejected_key(import_id: str) -> str:
    return f"imports/{import_id}/rejected.csv"


@dataclass(slots=True)
class ImportRecord:
    import_id: str
    status: str
    created_at: str  # ISO-8601 UTC ms; also every event's timestamp and received_at
    updated_at: str
    file_key: str
    kind: str = MEMBERS
    file_bytes: int | None = None
    rows_total: int | None = None  # data rows, once the file has been checked
    rows_done: int = 0  # accepted + rejected
    rows_accepted: int = 0  # including rows accepted with warnings
    rows_rejected: int = 0
    rows_with_warnings: int = 0
    # Checkpoint: the next chunk starts at record `next_row`, at `byte_offset` in the file.
    scanned: bool = False
    next_row: int | None = None
    byte_offset: int | None = None
    header: tuple[str, ...] = ()
    duplicates_key: str | None = None
    issue_parts: tuple[int, ...] = ()  # first rows of the chunks that wrote a part of rejected rows
    rejected_key: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # columns mapping, ignored columns

    def view(self) -> dict[str, Any]:
        """The admin API's status representation."""
        progress = None
        if self.rows_total:
            progress = round(self.rows_done / self.rows_total, 4)
        elif self.status == COMPLETED:
            progress = 1.0
        body: dict[str, Any] = {
            "import_id": self.import_id,
            "kind": self.kind,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "rows_with_warnings": self.rows_with_warnings,
            "progress": progress,
            "file_bytes": self.file_bytes,
            "columns": self.details.get("columns"),
            "ignored_columns": self.details.get("ignored_columns"),
            "error": {"code": self.error_code, "message": self.error_message} if self.error_code else None,
            "status_url": f"/admin/v1/imports/{self.import_id}",
            "rejected_rows_url": None,
        }
        if self.status == COMPLETED and self.rejected_key:
            body["rejected_rows_url"] = f"/admin/v1/imports/{self.import_id}/rejected"
        return body


@dataclass(frozen=True, slots=True)
class ScanCheckpoint:
    """The first checkpoint, written once the whole file has been checked."""

    rows_total: int
    header: tuple[str, ...]
    next_row: int
    byte_offset: int
    duplicates_key: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChunkCommit:
    """One processed chunk: applied only if the checkpoint is still at `start_row` (exactly once)."""

    start_row: int
    next_row: int
    byte_offset: int
    accepted: int
    rejected: int
    with_warnings: int
    wrote_part: bool

    @property
    def rows(self) -> int:
        return self.accepted + self.rejected
