"""ImportStore: FakeImportStore and DynamoImportStore behave alike (every write conditional)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cdp.adapters.dynamodb.imports import DynamoImportStore
from cdp.errors import StoreUnavailable
from cdp.imports.model import (
    AWAITING_UPLOAD,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    ChunkCommit,
    ImportRecord,
    ScanCheckpoint,
)

from tests.fakes_imports import FakeImportStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws

T0, T1, T2 = "2026-05-01T00:00:00.000Z", "2026-05-01T00:00:01.000Z", "2026-05-01T00:00:02.000Z"
SCAN = ScanCheckpoint(
    rows_total=5,
    header=("member_id", "email"),
    next_row=0,
    byte_offset=20,
    duplicates_key=None,
    details={"columns": {"email": "email"}},
)


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoImportStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeImportStore()


def new_import(store: Any, status: str = AWAITING_UPLOAD) -> str:
    import_id = f"imp_{uuid.uuid4().hex}"
    store.create(
        ImportRecord(
            import_id=import_id, status=status, created_at=T0, updated_at=T0, file_key=f"imports/{import_id}/upload.csv"
        )
    )
    return import_id


def chunk(start: int, end: int, *, rejected: int = 0, wrote_part: bool = False) -> ChunkCommit:
    return ChunkCommit(
        start_row=start,
        next_row=end,
        byte_offset=end * 10,
        accepted=end - start - rejected,
        rejected=rejected,
        with_warnings=0,
        wrote_part=wrote_part,
    )


def test_create_then_get_round_trips_and_a_taken_id_is_refused_as_unavailable(store: Any) -> None:
    import_id = new_import(store)
    record = store.get(import_id)
    assert (record.import_id, record.status, record.created_at, record.scanned, record.rows_done) == (
        import_id,
        AWAITING_UPLOAD,
        T0,
        False,
        0,
    )
    assert store.get(f"imp_{uuid.uuid4().hex}") is None
    with pytest.raises(StoreUnavailable):
        store.create(record)


def test_transition_only_from_the_expected_status_and_stamps_the_start(store: Any) -> None:
    import_id = new_import(store)
    assert store.transition(import_id, expected=QUEUED, status=RUNNING, now=T1) is False
    assert store.transition(import_id, expected=AWAITING_UPLOAD, status=QUEUED, now=T1, file_bytes=123) is True
    assert store.transition(import_id, expected=QUEUED, status=RUNNING, now=T2) is True
    assert store.transition(import_id, expected=QUEUED, status=RUNNING, now=T2) is False  # a second worker
    record = store.get(import_id)
    assert (record.status, record.file_bytes, record.started_at, record.updated_at) == (RUNNING, 123, T2, T2)
    assert store.transition(f"imp_{uuid.uuid4().hex}", expected=QUEUED, status=RUNNING, now=T1) is False


def test_the_scan_checkpoint_is_saved_once_on_a_running_import(store: Any) -> None:
    import_id = new_import(store, status=QUEUED)
    assert store.save_scan(import_id, SCAN, T1) is False  # not running yet
    store.transition(import_id, expected=QUEUED, status=RUNNING, now=T1)
    assert store.save_scan(import_id, SCAN, T1) is True
    assert store.save_scan(import_id, SCAN, T2) is False
    record = store.get(import_id)
    assert (record.scanned, record.rows_total, record.header, record.next_row, record.byte_offset, record.details) == (
        True,
        5,
        ("member_id", "email"),
        0,
        20,
        {"columns": {"email": "email"}},
    )


def test_a_chunk_commits_exactly_once_from_its_checkpoint_and_counts_add_up(store: Any) -> None:
    import_id = new_import(store, status=QUEUED)
    store.transition(import_id, expected=QUEUED, status=RUNNING, now=T1)
    store.save_scan(import_id, SCAN, T1)
    assert store.commit_chunk(import_id, chunk(0, 3, rejected=1, wrote_part=True), T1) is True
    assert store.commit_chunk(import_id, chunk(0, 3, rejected=1, wrote_part=True), T1) is False  # replayed
    assert store.commit_chunk(import_id, chunk(3, 5), T2) is True
    record = store.get(import_id)
    assert (record.next_row, record.byte_offset, record.rows_done, record.rows_accepted, record.rows_rejected) == (
        5,
        50,
        5,
        4,
        1,
    )
    assert record.issue_parts == (0,)


def test_completing_needs_the_final_checkpoint_and_happens_once(store: Any) -> None:
    import_id = new_import(store, status=QUEUED)
    store.transition(import_id, expected=QUEUED, status=RUNNING, now=T1)
    store.save_scan(import_id, SCAN, T1)
    store.commit_chunk(import_id, chunk(0, 5), T1)
    with pytest.raises(ValueError):
        store.finish(import_id, status=COMPLETED, now=T2)
    assert store.finish(import_id, status=COMPLETED, now=T2, at_row=3) is False
    assert store.finish(import_id, status=COMPLETED, now=T2, at_row=5, rejected_key="imports/x/rejected.csv") is True
    assert store.finish(import_id, status=FAILED, now=T2, error=("late", "too late")) is False
    record = store.get(import_id)
    assert (record.status, record.completed_at, record.rejected_key, record.error_code) == (
        COMPLETED,
        T2,
        "imports/x/rejected.csv",
        None,
    )


def test_failing_records_the_error_from_running(store: Any) -> None:
    import_id = new_import(store, status=QUEUED)
    assert store.finish(import_id, status=FAILED, now=T1, error=("bad_file", "not a CSV")) is False
    store.transition(import_id, expected=QUEUED, status=RUNNING, now=T1)
    assert store.finish(import_id, status=FAILED, now=T2, error=("bad_file", "not a CSV")) is True
    record = store.get(import_id)
    assert (record.status, record.error_code, record.error_message) == (FAILED, "bad_file", "not a CSV")
