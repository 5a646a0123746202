"""ImportFiles: FakeImportFiles and S3ImportFiles behave alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cdp.adapters.s3 import PART_BYTES, S3ImportFiles
from cdp.errors import StoreUnavailable

from tests.fakes_imports import FakeImportFiles
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws


@pytest.fixture(params=IMPLEMENTATIONS)
def files(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return S3ImportFiles(moto_stack.s3, moto_stack.bucket)
    return FakeImportFiles()


def key() -> str:
    return f"imports/imp_{uuid.uuid4().hex}/upload.csv"


def test_put_then_read_size_and_read_from_an_offset(files: Any) -> None:
    name, data = key(), b"member_id,email\nM1,a@example.com\nM2,b@example.com\n"
    files.put(name, data, "text/csv")
    assert files.read(name) == data
    assert files.size(name) == len(data)
    assert b"".join(files.read_from(name, 16)) == data[16:]
    assert b"".join(files.read_from(name, len(data))) == b""


def test_a_missing_object_has_no_size_and_cannot_be_read(files: Any) -> None:
    name = key()
    assert files.size(name) is None
    with pytest.raises(FileNotFoundError):
        list(files.read_from(name, 0))
    with pytest.raises(StoreUnavailable):
        files.read(name)


def test_put_again_replaces_the_object(files: Any) -> None:
    name = key()
    files.put(name, b"first", "text/csv")
    files.put(name, b"second", "text/csv")
    assert files.read(name) == b"second"


def test_put_stream_joins_small_and_multipart_sized_pieces(files: Any) -> None:
    small, large = key(), key()
    files.put_stream(small, [b"a,b\n", b"", b"1,2\n"], "text/csv")
    assert files.read(small) == b"a,b\n1,2\n"
    pieces = [b"x" * (1024 * 1024)] * (PART_BYTES // (1024 * 1024) + 1) + [b"tail"]  # one full part and a last one
    files.put_stream(large, pieces, "text/csv")
    assert files.size(large) == sum(len(p) for p in pieces)
    assert files.read(large).endswith(b"xtail")


def test_presigned_urls_name_the_object(files: Any) -> None:
    name = key()
    assert name in files.presigned_put(name, expires_seconds=300, content_type="text/csv")
    assert name in files.presigned_get(name, expires_seconds=300, filename="rejected.csv")
