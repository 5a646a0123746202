"""CSV records over a byte stream: offsets to resume from, quoting, BOM, CRLF, broken rows contained."""

from __future__ import annotations

import pytest
from cdp.imports.errors import ImportFileError
from cdp.imports.records import MAX_RECORD_LINES, Record, read_records


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def cells(records: list[Record]) -> list[list[str] | None]:
    return [record.cells for record in records]


MIXED = (
    "\ufeffmember_id,name,note\r\n"
    'M1,"Lin, Amy",plain\r\n'
    'M2,王小明,"two\r\nlines"\r\n'
    "\r\n"
    'M3,"She said ""hi""",x\r\n'
    "M4,陳,no newline at end"
).encode()


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 64, 1 << 20])
def test_records_do_not_depend_on_how_the_bytes_are_chunked(chunk_size: int) -> None:
    # Given a file with a BOM, CRLF endings, quoted commas, a quoted newline and Chinese text
    # When it is read in chunks of any size (multi-byte characters get split across chunks)
    records = list(read_records(chunked(MIXED, chunk_size)))
    # Then the records are the same, and the BOM is not part of the first header
    assert cells(records) == [
        ["member_id", "name", "note"],
        ["M1", "Lin, Amy", "plain"],
        ["M2", "王小明", "two\r\nlines"],
        [],
        ["M3", 'She said "hi"', "x"],
        ["M4", "陳", "no newline at end"],
    ]
    assert [record.number for record in records] == [1, 2, 3, 4, 5, 6]
    assert records[3].blank and not records[1].blank
    assert records[-1].end_offset == len(MIXED)


def test_every_end_offset_is_a_place_to_resume_from() -> None:
    # Given the records of a whole file
    records = list(read_records([MIXED]))
    for index, record in enumerate(records):
        # When reading resumes at a record's end offset with the next number
        rest = list(
            read_records(
                chunked(MIXED[record.end_offset :], 5), start_offset=record.end_offset, start_number=record.number + 1
            )
        )
        # Then it yields exactly the records that follow, with the same numbers and offsets
        assert rest == records[index + 1 :]


def test_a_bom_in_the_middle_of_the_file_is_data() -> None:
    records = list(read_records([b"a\n", "\ufeffb\n".encode()]))
    assert cells(records) == [["a"], ["\ufeffb"]]


def test_a_broken_quote_rejects_its_row_and_the_next_rows_are_read() -> None:
    # Given a row whose quoted field is followed by text (invalid CSV), between good rows
    data = b'member_id,name\nM1,ok\nM2,"bad"x\nM3,fine\n'
    # When read
    records = list(read_records([data]))
    # Then that row alone is malformed, and keeps its text for the rejected-rows file
    assert [(r.number, r.cells, r.error) for r in records] == [
        (1, ["member_id", "name"], None),
        (2, ["M1", "ok"], None),
        (3, None, "malformed_row"),
        (4, ["M3", "fine"], None),
    ]
    assert records[2].raw == 'M2,"bad"x\n'


def test_a_quote_that_never_closes_costs_one_line_not_the_rest_of_the_file() -> None:
    # Given an opening quote that is never closed, followed by many good rows
    good = [f"M{i},name{i}\n" for i in range(MAX_RECORD_LINES * 2)]
    data = ("member_id,name\n" + 'M0,"Amy\n' + "".join(good)).encode()
    # When read
    records = list(read_records(chunked(data, 10)))
    # Then only the line with the stray quote is reported, and every following row is read
    assert records[1].error == "unterminated_quote"
    assert records[1].raw == 'M0,"Amy\n'
    assert cells(records[2:]) == [[f"M{i}", f"name{i}"] for i in range(MAX_RECORD_LINES * 2)]
    assert [r.number for r in records] == list(range(1, len(good) + 3))
    assert records[-1].end_offset == len(data)


def test_an_unclosed_quote_at_the_end_of_the_file_is_one_bad_row() -> None:
    data = b'member_id\nM1\n"M2\nM3\n'
    records = list(read_records([data]))
    assert [(r.cells, r.error) for r in records] == [
        (["member_id"], None),
        (["M1"], None),
        (None, "unterminated_quote"),
        (["M3"], None),
    ]


def test_resuming_after_an_unterminated_quote_reads_what_the_first_pass_read() -> None:
    data = ("member_id\n" + 'M0,"x\n' + "".join(f"M{i}\n" for i in range(1, 30))).encode()
    records = list(read_records([data]))
    bad = records[1]
    assert bad.error == "unterminated_quote"
    rest = list(read_records([data[bad.end_offset :]], start_offset=bad.end_offset, start_number=bad.number + 1))
    assert rest == records[2:]


def test_invalid_utf8_is_a_file_error_with_its_offset() -> None:
    # Big5 (a common export encoding in Taiwan) is not UTF-8
    data = b"member_id,name\nM1," + "王".encode("big5") + b"\n"
    with pytest.raises(ImportFileError) as raised:
        list(read_records([data]))
    assert raised.value.code == "invalid_encoding"
    assert raised.value.details == {"offset": 18}


def test_lone_carriage_returns_make_a_malformed_row() -> None:
    # Old Mac line endings: csv refuses a bare CR inside an unquoted field
    records = list(read_records([b"a,b\rc,d\r"]))
    assert [(r.cells, r.error) for r in records] == [(None, "malformed_row")]


def test_empty_input_has_no_records() -> None:
    assert list(read_records([])) == []
    assert list(read_records([b""])) == []
