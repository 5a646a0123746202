"""What imports need from the outside world; adapters in cdp.adapters, fakes in tests/fakes_imports.py."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from cdp.events.raw import RawEvent
from cdp.imports.model import ChunkCommit, ImportRecord, ScanCheckpoint


class ImportStore(Protocol):
    """Status items. Every transition is conditional, so a duplicate worker can never double count."""

    def create(self, record: ImportRecord) -> None: ...

    def get(self, import_id: str) -> ImportRecord | None: ...

    def transition(
        self, import_id: str, *, expected: str, status: str, now: str, file_bytes: int | None = None
    ) -> bool:
        """Move from `expected` to `status` (stamping started_at when it becomes running); False if not in `expected`."""
        ...

    def save_scan(self, import_id: str, scan: ScanCheckpoint, now: str) -> bool:
        """Store the first checkpoint, once, on a running import."""
        ...

    def commit_chunk(self, import_id: str, commit: ChunkCommit, now: str) -> bool:
        """Advance the checkpoint and add the chunk's counts if the checkpoint is still at its start."""
        ...

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
        """Completed (only if the checkpoint is at `at_row`) or failed, from running."""
        ...


class ImportFiles(Protocol):
    """The imports bucket."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_stream(self, key: str, parts: Iterable[bytes], content_type: str) -> None:
        """One object from many pieces without holding them all in memory."""
        ...

    def read(self, key: str) -> bytes: ...

    def read_from(self, key: str, offset: int) -> Iterable[bytes]:
        """The object's bytes from `offset` to the end, in chunks."""
        ...

    def size(self, key: str) -> int | None:
        """None if there is no such object."""
        ...

    def presigned_get(self, key: str, *, expires_seconds: int, filename: str) -> str: ...

    def presigned_put(self, key: str, *, expires_seconds: int, content_type: str) -> str: ...


class RawEventWriter(Protocol):
    def put_all(self, events: Sequence[RawEvent]) -> None:
        """Write every event (an existing one is overwritten by the identical item); raise if any is left."""
        ...


class ImportStarter(Protocol):
    def start(self, import_id: str) -> None:
        """Run the worker asynchronously for this import; raise StoreUnavailable if it could not be asked."""
        ...
