"""CSV records over a byte stream, each with the byte offset just after it.

The worker resumes a file from a checkpoint with an S3 range request, so it must know where each
record ends in bytes. `csv` over a text stream hides that, so lines are split here (keeping their
endings), decoded one by one and handed to `csv.reader` one record at a time: the reader pulls
exactly the lines of one record, never more.

A stray opening quote would make `csv` swallow every following line into one field. A record may
therefore span at most `MAX_RECORD_LINES` lines: past that (or at the end of the file inside a
quote) only the first line is reported as `unterminated_quote` and the other lines are read again
as records of their own, so one bad cell never takes good rows down with it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cdp.imports.errors import ImportFileError

MAX_RECORD_LINES = 20  # a quoted multi-line cell (an address, a note) is a few lines, not pages
BOM = "\ufeff"  # Excel's "CSV UTF-8" starts with one

MALFORMED_ROW = "malformed_row"
UNTERMINATED_QUOTE = "unterminated_quote"

Line = tuple[str, int]  # (decoded text with its line ending, byte offset just after it)


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based record number; with the header first, what a spreadsheet calls the row
    cells: list[str] | None  # None when the record could not be parsed
    raw: str  # the record's text as read, for the rejected-rows file
    end_offset: int  # byte offset just after the record: resuming there starts at the next one
    error: str | None = None  # malformed_row / unterminated_quote

    @property
    def blank(self) -> bool:
        """An empty line or a row of empty cells (spreadsheets export trailing `,,,` rows)."""
        return self.cells is not None and not any(cell.strip() for cell in self.cells)


class _Runaway(Exception):
    """A record ran past MAX_RECORD_LINES lines."""


class _Lines:
    """Lines of a byte stream (endings kept), decoded as UTF-8, with push-back."""

    def __init__(self, chunks: Iterable[bytes], offset: int) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self._position = 0
        self._offset = offset
        self._at_start = offset == 0
        self._eof = False
        self._pushed: list[Line] = []

    def next(self) -> Line | None:
        if self._pushed:
            return self._pushed.pop()
        while True:
            end = self._buffer.find(b"\n", self._position)
            if end >= 0:
                return self._take(end + 1)
            if self._eof:
                return self._take(len(self._buffer)) if self._position < len(self._buffer) else None
            chunk = next(self._chunks, None)
            if chunk is None:
                self._eof = True
            else:
                self._buffer = self._buffer[self._position :] + chunk
                self._position = 0

    def push_back(self, lines: list[Line]) -> None:
        self._pushed.extend(reversed(lines))

    def _take(self, end: int) -> Line:
        data = self._buffer[self._position : end]
        start = self._offset
        self._position = end
        self._offset += len(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"the file is not UTF-8 (bad bytes at offset {start + exc.start}); save it as 'CSV UTF-8'",
                code="invalid_encoding",
                details={"offset": start + exc.start},
            ) from exc
        if self._at_start:
            self._at_start = False
            text = text.removeprefix(BOM)
        return text, self._offset


def _feed(lines: _Lines, consumed: list[Line], state: dict[str, bool]) -> Iterator[str]:
    while True:
        line = lines.next()
        if line is None:
            state["eof"] = True
            return
        consumed.append(line)
        if len(consumed) > MAX_RECORD_LINES:
            raise _Runaway
        yield line[0]


def read_records(chunks: Iterable[bytes], *, start_offset: int = 0, start_number: int = 1) -> Iterator[Record]:
    """Records from `start_offset` (0 or a record's `end_offset`), numbered from `start_number`."""
    lines = _Lines(chunks, start_offset)
    number = start_number
    while True:
        consumed: list[Line] = []
        state = {"eof": False}
        try:
            cells = next(csv.reader(_feed(lines, consumed, state), strict=True))
        except StopIteration:
            return
        except (_Runaway, csv.Error) as exc:
            if isinstance(exc, _Runaway) or state["eof"]:
                # An opening quote that never closed: drop only its line, read the rest again.
                first = consumed[0]
                lines.push_back(consumed[1:])
                yield Record(number, None, first[0], first[1], UNTERMINATED_QUOTE)
            else:
                yield Record(number, None, "".join(text for text, _ in consumed), consumed[-1][1], MALFORMED_ROW)
            number += 1
            continue
        yield Record(number, cells, "".join(text for text, _ in consumed), consumed[-1][1])
        number += 1
