"""The import lifecycle on in-memory ports: upload, scan, chunks, checkpoints, continuation, reruns."""

from __future__ import annotations

import csv
import io

import pytest
from cdp.errors import StoreUnavailable
from cdp.events.raw import partner_event_id
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.imports.errors import ImportConflict, ImportFileError
from cdp.imports.model import COMPLETED, FAILED, QUEUED, RUNNING, ChunkCommit, ImportRecord, rejected_key
from cdp.imports.uploads import ImportUploads, check_csv_media_type
from cdp.imports.worker import MemberImportWorker, WorkerOutcome

from tests.fakes import FixedClock
from tests.fakes_imports import (
    CountdownTimer,
    FakeImportFiles,
    FakeImportStore,
    FakeRawEventWriter,
    FakeStarter,
    never_continue,
)

CSV_TEXT = (
    "\ufeff會員編號,手機,Email,姓名,生日,門市,consent_line,consent_email,consent_sms,points\r\n"
    "M001,0912-345-601,amy@example.com,林小美,1990/05/07,台北信義店,是,yes,0,10\r\n"
    ",0912345602,,No Id,,,,,,\r\n"  # rejected: missing_member_id
    'M003,12345,bob@example.com,"Chen, Bob",,,,,,\r\n'  # warning: invalid_phone
    "M004,0912345604,,王,,,maybe,,,\r\n"  # warning: invalid_consent_value
    "\r\n"
    "M001,0912345605,,Duplicate,,,,,,\r\n"  # rejected: duplicate of row 2
    'M007,"0912345607",,"Multi\r\nline",,,,,,\r\n'
    'M008,"broken"x,,,,,,,,\r\n'  # rejected: malformed_row
    "M009,0912345609,,,,,,,,,,surplus\r\n"  # rejected: too_many_columns
    "M010,0912345610,c@example.com,Last,2000-02-29,S2,n,n,y,5\r\n"
)
ACCEPTED = ["M001", "M003", "M004", "M007", "M010"]
REJECTED = {3: "missing_member_id", 7: "duplicate_member_id_in_file", 9: "malformed_row", 10: "too_many_columns"}
WARNED = {4: "invalid_phone", 5: "invalid_consent_value"}


class Env:
    def __init__(self, *, chunk_rows: int = 3, writer: FakeRawEventWriter | None = None) -> None:
        self.store = FakeImportStore()
        self.files = FakeImportFiles()
        self.events = writer or FakeRawEventWriter()
        self.starter = FakeStarter()
        self.clock = FixedClock()
        normalizer = IdentifierNormalizer("TW")
        self.uploads = ImportUploads(self.store, self.files, self.starter, self.clock)
        self.worker = MemberImportWorker(
            store=self.store,
            files=self.files,
            events=self.events,
            normalizer=normalizer,
            clock=self.clock,
            chunk_rows=chunk_rows,
        )

    def upload(self, text: str = CSV_TEXT) -> ImportRecord:
        return self.uploads.create_from_body(text.encode())

    def run(self, import_id: str, timer: CountdownTimer | None = None, **kwargs: object) -> WorkerOutcome:
        continued: list[str] = kwargs.get("continued", [])  # type: ignore[assignment]
        return self.worker.run(
            import_id,
            remaining_ms=timer or CountdownTimer(calls=10_000),
            continue_import=continued.append if "continued" in kwargs else never_continue,
        )

    def record(self, import_id: str) -> ImportRecord:
        record = self.store.get(import_id)
        assert record is not None
        return record

    def rejected_rows(self, import_id: str) -> list[list[str]]:
        data = self.files.objects[rejected_key(import_id)]
        assert data.startswith("\ufeff".encode())
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.fixture
def env() -> Env:
    return Env()


def test_an_upload_is_stored_queued_and_started(env: Env) -> None:
    record = env.upload()
    assert record.status == QUEUED
    assert record.rows_total == 9
    assert env.files.objects[record.file_key] == CSV_TEXT.encode()
    assert env.starter.started == [record.import_id]
    assert env.record(record.import_id).details["columns"]["member_id"] == "會員編號"
    assert env.record(record.import_id).details["ignored_columns"] == ["points"]


def test_good_rows_become_events_and_bad_rows_are_reported(env: Env) -> None:
    # Given a file mixing good rows, rows with warnings and rejected rows
    record = env.upload()
    # When the worker runs it in chunks of three records
    outcome = env.run(record.import_id)
    # Then the import is complete with exact counts
    done = env.record(record.import_id)
    assert (outcome.status, outcome.continued, outcome.rows_done) == (COMPLETED, False, 9)
    assert (done.status, done.rows_total, done.rows_done) == (COMPLETED, 9, 9)
    assert (done.rows_accepted, done.rows_rejected, done.rows_with_warnings) == (5, 4, 2)
    assert done.view()["progress"] == 1.0
    assert done.view()["rejected_rows_url"] == f"/admin/v1/imports/{record.import_id}/rejected"
    # And each good row is one identify event keyed by (import, row)
    by_member = {event.payload["userId"]: event for event in env.events.events.values()}
    assert sorted(by_member) == ACCEPTED
    first = by_member["M001"]
    assert first.event_id == partner_event_id("member-import", f"{record.import_id}:2")
    assert first.received_at == record.created_at
    assert first.payload["traits"] == {
        "phone": "+886912345601",
        "email": "amy@example.com",
        "name": "林小美",
        "birthday": "1990-05-07",
        "store": "台北信義店",
    }
    assert first.payload["context"]["consent"] == {
        "line:marketing": True,
        "email:marketing": True,
        "sms:marketing": False,
    }
    assert by_member["M003"].payload["traits"] == {"email": "bob@example.com", "name": "Chen, Bob"}
    assert by_member["M007"].payload["traits"]["name"] == "Multi\r\nline"
    # And the rejected-rows file lists rejected and warned rows in file order with the original cells
    rows = env.rejected_rows(record.import_id)
    assert rows[0][:4] == ["row", "outcome", "reasons", "details"]
    assert rows[0][4:] == list(done.header)
    listed = {int(line[0]): (line[1], line[2]) for line in rows[1:]}
    assert listed == {
        **{number: ("rejected", code) for number, code in REJECTED.items()},
        **{number: ("accepted_with_warnings", code) for number, code in WARNED.items()},
    }
    assert [int(line[0]) for line in rows[1:]] == sorted(listed)
    duplicate = next(line for line in rows if line[0] == "7")
    assert duplicate[4:6] == ["M001", "0912345605"]
    assert "row 2" in duplicate[3]
    malformed = next(line for line in rows if line[0] == "9")
    assert malformed[4] == 'M008,"broken"x,,,,,,,,'  # the raw text when the cells could not be read


def test_a_low_time_budget_continues_from_the_checkpoint_without_double_counting(env: Env) -> None:
    record = env.upload()
    continued: list[str] = []
    # First invocation: time for two chunks only
    first = env.run(record.import_id, CountdownTimer(calls=2), continued=continued)
    assert first.continued and first.chunks == 2
    assert continued == [record.import_id]
    middle = env.record(record.import_id)
    assert middle.status == RUNNING
    assert middle.next_row == 8  # records 2-7 in two chunks of three
    assert middle.rows_done == 5  # six records, one of them blank
    assert middle.view()["progress"] == round(5 / 9, 4)
    writes_before = env.events.writes
    # Second invocation resumes at the checkpoint's byte offset and finishes
    second = env.run(record.import_id)
    assert second.status == COMPLETED
    assert env.files.reads_from[-1] == (record.file_key, middle.byte_offset)
    done = env.record(record.import_id)
    assert (done.rows_done, done.rows_accepted, done.rows_rejected, done.rows_with_warnings) == (9, 5, 4, 2)
    assert env.events.writes - writes_before == 2  # only M007 and M010 were left
    assert sorted(e.payload["userId"] for e in env.events.events.values()) == ACCEPTED


def test_a_chunk_that_failed_before_its_commit_is_redone_once() -> None:
    # Given a raw-events table that fails after the first row of the first chunk was written
    env = Env(writer=FakeRawEventWriter(fail_after=1))
    record = env.upload()
    with pytest.raises(StoreUnavailable):
        env.run(record.import_id)
    stalled = env.record(record.import_id)
    assert (stalled.status, stalled.rows_done, stalled.next_row) == (RUNNING, 0, 2)
    # When the invocation is retried (Lambda's async retry) once the table recovers
    env.events.fail_after = None
    assert env.run(record.import_id).status == COMPLETED
    # Then counts are exact although the first row was written twice (as the identical item)
    done = env.record(record.import_id)
    assert (done.rows_done, done.rows_accepted, done.rows_rejected) == (9, 5, 4)
    assert (env.events.writes, len(env.events.events)) == (6, 5)
    assert env.store.refused_commits == []


def test_a_worker_that_loses_the_race_for_a_chunk_stops(env: Env) -> None:
    record = env.upload()
    original = env.store.commit_chunk

    def other_worker_commits_first(import_id: str, commit: ChunkCommit, now: str) -> bool:
        env.store.commit_chunk = original  # type: ignore[method-assign]
        assert original(import_id, commit, now)  # the same chunk, committed by a duplicate invocation
        return original(import_id, commit, now)

    env.store.commit_chunk = other_worker_commits_first  # type: ignore[method-assign]
    outcome = env.run(record.import_id)
    assert outcome.superseded and outcome.status == RUNNING
    assert env.record(record.import_id).rows_done == 3  # the chunk counted once
    assert env.store.refused_commits == [(record.import_id, 2)]
    assert env.run(record.import_id).status == COMPLETED
    assert env.record(record.import_id).rows_done == 9


def test_a_crash_between_the_writes_and_the_commit_does_not_double_count(env: Env) -> None:
    record = env.upload()
    original = env.store.commit_chunk
    calls = {"n": 0}

    def crash_on_second_commit(import_id: str, commit: ChunkCommit, now: str) -> bool:
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreUnavailable("the invocation died before its checkpoint")
        return original(import_id, commit, now)

    env.store.commit_chunk = crash_on_second_commit  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        env.run(record.import_id)
    assert env.record(record.import_id).rows_done == 3
    part = env.files.objects  # the second chunk's events and its part were already written
    assert any(key.endswith("part-000000005.csv") for key in part)
    assert env.run(record.import_id).status == COMPLETED
    done = env.record(record.import_id)
    assert (done.rows_done, done.rows_accepted, done.rows_rejected, done.rows_with_warnings) == (9, 5, 4, 2)
    assert len(env.rejected_rows(record.import_id)) == 1 + 6  # the rewritten part appears once


def test_running_a_finished_import_again_changes_nothing(env: Env) -> None:
    record = env.upload()
    env.run(record.import_id)
    before, writes = env.record(record.import_id), env.events.writes
    outcome = env.run(record.import_id)
    assert (outcome.status, outcome.chunks) == (COMPLETED, 0)
    assert env.record(record.import_id) == before
    assert env.events.writes == writes


def test_a_clean_file_has_no_rejected_rows_file(env: Env) -> None:
    record = env.upload("member_id,email\nM1,a@example.com\nM2,b@example.com\n")
    env.run(record.import_id)
    done = env.record(record.import_id)
    assert (done.status, done.rows_accepted, done.rejected_key) == (COMPLETED, 2, None)
    assert rejected_key(record.import_id) not in env.files.objects
    with pytest.raises(Exception) as raised:
        env.uploads.rejected_rows_url(record.import_id)
    assert getattr(raised.value, "code", None) == "no_rejected_rows"


def test_a_presigned_upload_that_cannot_be_imported_fails_with_the_reason(env: Env) -> None:
    record, url = env.uploads.create_presigned()
    assert record.status == "awaiting_upload" and record.file_key in url
    env.files.put(record.file_key, b"phone,email\n0912345678,a@example.com\n", "text/csv")
    assert env.uploads.start(record.import_id).status == QUEUED
    outcome = env.run(record.import_id)
    failed = env.record(record.import_id)
    assert outcome.status == FAILED
    assert (failed.status, failed.error_code) == (FAILED, "missing_member_id_column")
    assert failed.view()["error"]["code"] == "missing_member_id_column"
    assert env.events.writes == 0


def test_a_presigned_upload_is_refused_until_the_file_is_there(env: Env) -> None:
    record, _ = env.uploads.create_presigned()
    with pytest.raises(ImportConflict) as raised:
        env.uploads.start(record.import_id)
    assert (raised.value.code, raised.value.status) == ("upload_missing", 409)
    assert env.run(record.import_id).status == "awaiting_upload"  # a stray invocation does nothing
    env.files.put(record.file_key, CSV_TEXT.encode(), "text/csv")
    env.uploads.start(record.import_id)
    assert env.record(record.import_id).file_bytes == len(CSV_TEXT.encode())
    assert env.run(record.import_id).status == COMPLETED
    with pytest.raises(ImportConflict) as raised:
        env.uploads.start(record.import_id)
    assert raised.value.code == "import_already_started"


@pytest.mark.parametrize(
    ("body", "code"),
    [(b"", "empty_file"), (b"name\nAmy\n", "missing_member_id_column"), (b"PK\x03\x04rest", "not_csv")],
)
def test_a_bad_file_is_refused_up_front_and_nothing_is_stored(env: Env, body: bytes, code: str) -> None:
    with pytest.raises(ImportFileError) as raised:
        env.uploads.create_from_body(body)
    assert (raised.value.code, raised.value.status) == (code, 400)
    assert env.files.objects == {} and env.store.records == {} and env.starter.started == []


def test_a_worker_that_cannot_be_started_leaves_the_import_queued(env: Env) -> None:
    env.starter.fail = True
    record = env.upload()
    assert env.record(record.import_id).status == QUEUED
    env.starter.fail = False
    assert env.uploads.start(record.import_id).status == QUEUED  # POST .../start asks again
    assert env.starter.started == [record.import_id]


def test_rejected_rows_are_only_offered_once_the_import_completed(env: Env) -> None:
    record = env.upload()
    with pytest.raises(ImportConflict) as raised:
        env.uploads.rejected_rows_url(record.import_id)
    assert raised.value.code == "import_not_completed"
    env.run(record.import_id)
    _, url = env.uploads.rejected_rows_url(record.import_id)
    assert rejected_key(record.import_id) in url


@pytest.mark.parametrize("import_id", ["imp_" + "0" * 32, "nope", "../imports"])
def test_unknown_imports_are_404(env: Env, import_id: str) -> None:
    with pytest.raises(Exception) as raised:
        env.uploads.get(import_id)
    assert (getattr(raised.value, "code", None), getattr(raised.value, "status", None)) == ("import_not_found", 404)


@pytest.mark.parametrize(
    "content_type", [None, "", "text/csv", "text/csv; charset=utf-8", "application/vnd.ms-excel", "TEXT/PLAIN"]
)
def test_csv_media_types_are_accepted(content_type: str | None) -> None:
    check_csv_media_type(content_type)


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "application/xml", "image/png"])
def test_other_media_types_are_415(content_type: str) -> None:
    with pytest.raises(Exception) as raised:
        check_csv_media_type(content_type)
    assert (getattr(raised.value, "status", None), getattr(raised.value, "code", None)) == (
        415,
        "unsupported_media_type",
    )
