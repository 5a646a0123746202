"""Member CSV rows: header mapping, validation with reason codes, and the identify event of a row.

Policy (what is rejected, what is only warned about):

- A row is **rejected** (nothing is imported from it) when it has no usable key or no reliable
  shape: `missing_member_id`, `invalid_member_id` (junk such as `null`, or too long),
  `duplicate_member_id_in_file` (a later row with a member_id an earlier accepted row has: two
  rows of one member in one file would race each other, so the first one wins), `too_many_columns`,
  `malformed_row`, `unterminated_quote`.
- A row is **accepted with warnings** when only an optional value is bad: the value is left out
  and the reason is reported (`invalid_phone`, `blocked_phone`, `invalid_email`, `blocked_email`,
  `invalid_birthday`, `invalid_consent_value`, `value_too_long`). The member_id is what keys the
  row; a typo in a phone column must not drop the member's name and consents, and a value that
  is left out can neither glue strangers together (identifiers) nor grant a consent nobody gave
  (an unreadable consent stays unknown). Fixing the value and importing the row again adds it.

Both kinds are listed in the rejected-rows file with their reasons.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cdp.events.raw import RawEvent, partner_event_id
from cdp.identity.identifiers import Identifier, IdentifierNormalizer
from cdp.imports.errors import ImportFileError
from cdp.imports.records import Record, read_records
from cdp.profiles.consent import TEXT_VERSION, TEXT_VERSION_CONTEXT

IMPORT_SOURCE = "member-import"  # the partner source of the raw events an import writes
MAX_ROWS = 100_000  # data rows per file; a bigger file is refused before anything is imported
MAX_TEXT_CHARS = 200  # name and store

# Canonical column -> accepted header spellings, compared after `_header_key` (case, spaces,
# `_`, `-` and `.` ignored), so `Member ID`, `memberId` and `MEMBER_ID` are one column.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "member_id": (
        "member_id",
        "memberid",
        "member_no",
        "member_number",
        "member_code",
        "customer_id",
        "user_id",
        "會員編號",
        "會員id",
        "會員代號",
        "會員號碼",
        "會員卡號",
    ),
    "phone": (
        "phone",
        "phone_number",
        "mobile",
        "mobile_phone",
        "mobile_number",
        "cellphone",
        "tel",
        "telephone",
        "手機",
        "手機號碼",
        "電話",
        "行動電話",
        "聯絡電話",
    ),
    "email": ("email", "e-mail", "email_address", "mail", "電子郵件", "電子信箱", "信箱"),
    "name": ("name", "full_name", "member_name", "customer_name", "姓名", "名字", "會員姓名"),
    "birthday": ("birthday", "birth_date", "birthdate", "date_of_birth", "dob", "生日", "出生日期"),
    "store": (
        "store",
        "store_id",
        "store_code",
        "store_name",
        "shop",
        "branch",
        "門市",
        "門市代號",
        "分店",
        "開卡門市",
    ),
    "consent_line": ("consent_line", "line_consent", "line_opt_in", "line_optin", "同意line", "line行銷同意"),
    "consent_email": (
        "consent_email",
        "email_consent",
        "email_opt_in",
        "email_optin",
        "同意email",
        "同意電子郵件",
        "email行銷同意",
    ),
    "consent_sms": ("consent_sms", "sms_consent", "sms_opt_in", "sms_optin", "同意簡訊", "簡訊行銷同意"),
    # the version of the consent text the member signed (cdp.profiles.consent)
    "consent_text_version": ("consent_text_version", "consent_version", "terms_version", "同意條款版本", "條款版本"),
}
# Consent column -> the consent key of the profile model (`<channel>:<purpose>`).
CONSENT_KEYS = {"consent_line": "line:marketing", "consent_email": "email:marketing", "consent_sms": "sms:marketing"}
CONSENT_VALUES = {
    **dict.fromkeys(("true", "yes", "y", "1", "是", "同意"), True),
    **dict.fromkeys(("false", "no", "n", "0", "否", "不同意"), False),
}
_BIRTHDAY = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")

# Reason codes. Rejections:
MISSING_MEMBER_ID = "missing_member_id"
INVALID_MEMBER_ID = "invalid_member_id"
DUPLICATE_MEMBER_ID = "duplicate_member_id_in_file"
TOO_MANY_COLUMNS = "too_many_columns"
# Warnings:
INVALID_PHONE = "invalid_phone"
BLOCKED_PHONE = "blocked_phone"
INVALID_EMAIL = "invalid_email"
BLOCKED_EMAIL = "blocked_email"
INVALID_BIRTHDAY = "invalid_birthday"
INVALID_CONSENT_VALUE = "invalid_consent_value"
INVALID_CONSENT_TEXT_VERSION = "invalid_consent_text_version"
VALUE_TOO_LONG = "value_too_long"


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-.]+", "", text.strip().lower())


_ALIAS_INDEX = {_header_key(alias): column for column, aliases in HEADER_ALIASES.items() for alias in aliases}


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    column: str | None = None  # the canonical column the issue is about
    message: str = ""


@dataclass(frozen=True, slots=True)
class HeaderMap:
    """Which cell of a row holds which canonical column."""

    header: tuple[str, ...]  # the header row as written
    positions: Mapping[str, int]  # canonical column -> cell index

    @classmethod
    def from_header(cls, cells: Sequence[str]) -> HeaderMap:
        header = tuple(cell.strip() for cell in cells)
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            column = _ALIAS_INDEX.get(_header_key(name))
            if column is None:
                continue
            if column in positions:
                raise ImportFileError(
                    f"columns {header[positions[column]]!r} and {name!r} are both {column}",
                    code="duplicate_column",
                    details={"column": column, "headers": [header[positions[column]], name]},
                )
            positions[column] = index
        if "member_id" not in positions:
            raise ImportFileError(
                "the header row has no member_id column",
                code="missing_member_id_column",
                details={"headers": list(header), "accepted": list(HEADER_ALIASES["member_id"])},
            )
        return cls(header=header, positions=positions)

    @property
    def columns(self) -> dict[str, str]:
        """Canonical column -> the header it was read from."""
        return {column: self.header[index] for column, index in sorted(self.positions.items(), key=lambda p: p[1])}

    @property
    def ignored(self) -> list[str]:
        used = set(self.positions.values())
        return [name for index, name in enumerate(self.header) if index not in used and name]

    def cell(self, cells: Sequence[str], column: str) -> str:
        index = self.positions.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""


def header_from_record(record: Record | None) -> HeaderMap:
    if record is None:
        raise ImportFileError("the file is empty: a header row with a member_id column is required", code="empty_file")
    if record.cells is None:
        raise ImportFileError(
            "the header row is not valid CSV", code="malformed_header", details={"row": record.number}
        )
    return HeaderMap.from_header(record.cells)


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A row that will be imported: its values in normalised form and the warnings it had."""

    row: int
    member_id: str
    traits: dict[str, str]
    consent: dict[str, bool]
    warnings: tuple[Issue, ...] = ()
    consent_text_version: str | None = None  # applies to the row's consents


@dataclass(frozen=True, slots=True)
class RejectedRow:
    row: int
    reasons: tuple[Issue, ...]


@dataclass(slots=True)
class RowValidator:
    """Validates rows of one file. `key_of` alone (cheap) decides whether a row is kept."""

    header: HeaderMap
    normalizer: IdentifierNormalizer
    today: date
    duplicates: Mapping[int, int] = field(default_factory=dict)  # row -> earlier row with its member_id

    def key_of(self, record: Record) -> str | Issue:
        """The row's member_id, or why the row is rejected. No phone/email parsing: the scan runs it."""
        if record.cells is None:
            return Issue(record.error or "malformed_row", message="the row is not valid CSV")
        extra = record.cells[len(self.header.header) :]
        if any(cell.strip() for cell in extra):
            return Issue(
                TOO_MANY_COLUMNS,
                message=f"{len(record.cells)} cells for {len(self.header.header)} header columns",
            )
        raw = self.header.cell(record.cells, "member_id")
        if not raw:
            return Issue(MISSING_MEMBER_ID, "member_id", "member_id is empty")
        normalized = self.normalizer.normalize("member_id", raw)
        if not isinstance(normalized, Identifier):
            return Issue(INVALID_MEMBER_ID, "member_id", f"member_id {raw[:64]!r} is {normalized.reason}")
        return normalized.value

    def validate(self, record: Record) -> MemberRow | RejectedRow:
        key = self.key_of(record)
        if isinstance(key, Issue):
            return RejectedRow(record.number, (key,))
        if record.number in self.duplicates:
            first = self.duplicates[record.number]
            return RejectedRow(
                record.number, (Issue(DUPLICATE_MEMBER_ID, "member_id", f"member_id {key!r} is also on row {first}"),)
            )
        assert record.cells is not None  # key_of rejected unparsed rows
        cells = record.cells
        warnings: list[Issue] = []
        traits: dict[str, str] = {}
        for column in ("phone", "email"):
            raw = self.header.cell(cells, column)
            if raw:
                value = self._identifier(column, raw, warnings)
                if value is not None:
                    traits[column] = value
        for column in ("name", "store"):
            raw = self.header.cell(cells, column)
            if len(raw) > MAX_TEXT_CHARS:
                warnings.append(Issue(VALUE_TOO_LONG, column, f"{column} is longer than {MAX_TEXT_CHARS} characters"))
            elif raw:
                traits[column] = raw
        raw_birthday = self.header.cell(cells, "birthday")
        if raw_birthday:
            birthday = parse_birthday(raw_birthday, self.today)
            if birthday is None:
                warnings.append(
                    Issue(INVALID_BIRTHDAY, "birthday", f"birthday {raw_birthday[:32]!r} is not a past YYYY-MM-DD date")
                )
            else:
                traits["birthday"] = birthday
        consent: dict[str, bool] = {}
        for column, key_name in CONSENT_KEYS.items():
            raw = self.header.cell(cells, column)
            if not raw:
                continue  # empty: unknown, the profile keeps what it had
            flag = CONSENT_VALUES.get(raw.lower())
            if flag is None:
                warnings.append(
                    Issue(
                        INVALID_CONSENT_VALUE,
                        column,
                        f"{column} {raw[:32]!r} is not one of true/false/yes/no/1/0/是/否",
                    )
                )
            else:
                consent[key_name] = flag
        version = self.header.cell(cells, "consent_text_version") or None
        if version is not None and not TEXT_VERSION.fullmatch(version):
            message = f"consent_text_version {version[:32]!r} is not a label such as 2026-03"
            warnings.append(Issue(INVALID_CONSENT_TEXT_VERSION, "consent_text_version", message))
            version = None
        return MemberRow(record.number, key, traits, consent, tuple(warnings), version if consent else None)

    def _identifier(self, column: str, raw: str, warnings: list[Issue]) -> str | None:
        result = self.normalizer.normalize(column, raw)
        if isinstance(result, Identifier):
            return result.value
        blocked = result.reason == "blocked_value"
        code = {"phone": (INVALID_PHONE, BLOCKED_PHONE), "email": (INVALID_EMAIL, BLOCKED_EMAIL)}[column][blocked]
        what = "a blocked value (junk or test data)" if blocked else "not valid"
        warnings.append(Issue(code, column, f"{column} {raw[:64]!r} is {what}; imported without it"))
        return None


def parse_birthday(raw: str, today: date) -> str | None:
    """YYYY-MM-DD or YYYY/MM/DD (one-digit month and day too) -> ISO date, if real and not in the future."""
    match = _BIRTHDAY.fullmatch(raw.strip())
    if match is None:
        return None
    try:
        value = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    if value.year < 1900 or value > today:
        return None
    return value.isoformat()


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one pass over the whole file established before any row is imported."""

    header: HeaderMap
    header_row: int
    data_offset: int  # byte offset just after the header record
    rows_total: int  # data rows (blank rows are not rows)
    duplicates: dict[int, int]  # row -> earlier kept row with the same member_id


def scan_file(chunks: Iterable[bytes], normalizer: IdentifierNormalizer, *, max_rows: int = MAX_ROWS) -> ScanResult:
    """Check the encoding and header, count rows, find duplicate member_ids. Cheap: no phone/email parsing.

    Raises ImportFileError for a file that cannot be imported at all, including one with more than
    `max_rows` data rows (refused as a whole, so a partial import never has to be explained).
    """
    records = read_records(_refuse_binary(chunks))
    header_record = next((record for record in records if not record.blank), None)
    header = header_from_record(header_record)
    assert header_record is not None
    validator = RowValidator(header, normalizer, date.max)
    first_rows: dict[str, int] = {}
    duplicates: dict[int, int] = {}
    rows = 0
    for record in records:
        if record.blank:
            continue
        rows += 1
        if rows > max_rows:
            raise ImportFileError(
                f"the file has more than {max_rows} data rows; split it into several imports",
                code="too_many_rows",
                details={"max_rows": max_rows},
            )
        key = validator.key_of(record)
        if isinstance(key, str):
            first = first_rows.setdefault(key, record.number)
            if first != record.number:
                duplicates[record.number] = first
    if rows == 0:
        raise ImportFileError("the file has a header row but no data rows", code="no_data_rows")
    return ScanResult(header, header_record.number, header_record.end_offset, rows, duplicates)


@dataclass(frozen=True, slots=True)
class UploadCheck:
    header: HeaderMap
    rows_total: int  # the worker's scan recounts exactly (its rules for broken quoting differ slightly)


def check_upload(data: bytes, *, max_rows: int = MAX_ROWS) -> UploadCheck:
    """What the admin API checks before it accepts a file: cheap enough for a small function.

    Encoding, header and row count only, with one C-speed `csv.reader` pass instead of the
    record-by-record reader; rows themselves are the worker's business.
    """
    first = next(_refuse_binary([data]), b"")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"the file is not UTF-8 (bad bytes at offset {exc.start}); save it as 'CSV UTF-8'",
            code="invalid_encoding",
            details={"offset": exc.start},
        ) from exc
    header_record = next((record for record in read_records([data]) if not record.blank), None)
    header = header_from_record(header_record)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    rows = -1  # the header is the first non-blank record
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            cells = ["?"]  # a broken row is still a row
        if any(cell.strip() for cell in cells):
            rows += 1
    if rows > max_rows:
        raise ImportFileError(
            f"the file has {rows} data rows, more than {max_rows}; split it into several imports",
            code="too_many_rows",
            details={"max_rows": max_rows, "rows": rows},
        )
    if rows <= 0:
        raise ImportFileError("the file has a header row but no data rows", code="no_data_rows")
    return UploadCheck(header, rows)


# Signatures of what people upload instead of CSV: xlsx (zip), gzip kept compressed, old .xls.
_BINARY_SIGNATURES = (b"PK\x03\x04", b"\x1f\x8b", b"\xd0\xcf\x11\xe0")


def _refuse_binary(chunks: Iterable[bytes]) -> Iterator[bytes]:
    first = True
    for chunk in chunks:
        if first and chunk:
            first = False
            if chunk.startswith(_BINARY_SIGNATURES) or b"\x00" in chunk[:4096]:
                raise ImportFileError(
                    "the file is not CSV text (a spreadsheet or an archive?); save it as 'CSV UTF-8'", code="not_csv"
                )
        yield chunk


def identify_payload(row: MemberRow, *, import_id: str, created_at: str) -> dict[str, Any]:
    """The Segment identify a row becomes; the event processor turns it into a profile update."""
    context: dict[str, Any] = {"channel": "crm", "import": {"id": import_id, "row": row.row}}
    if row.consent:
        context["consent"] = dict(row.consent)
    if row.consent and row.consent_text_version:
        context[TEXT_VERSION_CONTEXT] = row.consent_text_version
    return {
        "type": "identify",
        "userId": row.member_id,
        "messageId": f"{import_id}:{row.row}",
        "timestamp": created_at,
        "traits": dict(row.traits),
        "context": context,
    }


def member_event(row: MemberRow, *, import_id: str, created_at: str) -> RawEvent:
    """Deterministic per (import, row): writing a row again produces the identical item."""
    return RawEvent(
        event_id=partner_event_id(IMPORT_SOURCE, f"{import_id}:{row.row}"),
        origin="partner",
        source=IMPORT_SOURCE,
        received_at=created_at,
        payload=identify_payload(row, import_id=import_id, created_at=created_at),
    )
