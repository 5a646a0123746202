"""Member rows: header aliases, each reason code, the accept/warn/reject policy, the identify event."""

from __future__ import annotations

from datetime import date

import pytest
from cdp.events.raw import partner_event_id
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.imports.errors import ImportFileError
from cdp.imports.members import (
    HEADER_ALIASES,
    MAX_ROWS,
    HeaderMap,
    MemberRow,
    RejectedRow,
    RowValidator,
    check_upload,
    member_event,
    parse_birthday,
    scan_file,
)
from cdp.imports.records import Record, read_records

TODAY = date(2026, 11, 23)
HEADER = ["member_id", "phone", "email", "name", "birthday", "store", "consent_line", "consent_email", "consent_sms"]


@pytest.fixture
def normalizer() -> IdentifierNormalizer:
    return IdentifierNormalizer("TW")


def validator(normalizer: IdentifierNormalizer, header: list[str] = HEADER, **kwargs: dict[int, int]) -> RowValidator:
    return RowValidator(HeaderMap.from_header(header), normalizer, TODAY, **kwargs)


def row(*cells: str, number: int = 2) -> Record:
    return Record(number=number, cells=list(cells), raw=",".join(cells) + "\n", end_offset=0)


def full_row(**values: str) -> Record:
    return row(*(values.get(column, "") for column in HEADER))


def reasons(result: MemberRow | RejectedRow) -> list[str]:
    issues = result.reasons if isinstance(result, RejectedRow) else result.warnings
    return [issue.code for issue in issues]


# header -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spelling",
    ["member_id", "memberId", "MEMBER_ID", " Member ID ", "member-id", "會員編號", "會員ID", "customer_id", "userId"],
)
def test_member_id_header_aliases_are_case_and_separator_insensitive(spelling: str) -> None:
    header = HeaderMap.from_header([spelling, "Mobile", "E-mail", "姓名"])
    assert header.columns == {"member_id": spelling.strip(), "phone": "Mobile", "email": "E-mail", "name": "姓名"}


@pytest.mark.parametrize(("column", "aliases"), sorted(HEADER_ALIASES.items()))
def test_every_declared_alias_maps_to_its_column(column: str, aliases: tuple[str, ...]) -> None:
    for alias in aliases:
        header = HeaderMap.from_header(["member_id", alias] if column != "member_id" else [alias])
        assert column in header.positions, alias


def test_unknown_columns_are_ignored_and_listed() -> None:
    header = HeaderMap.from_header(["會員編號", "手機", "points", "", "tier"])
    assert header.columns == {"member_id": "會員編號", "phone": "手機"}
    assert header.ignored == ["points", "tier"]


def test_a_header_without_member_id_is_refused_with_the_accepted_spellings() -> None:
    with pytest.raises(ImportFileError) as raised:
        HeaderMap.from_header(["phone", "email"])
    assert raised.value.code == "missing_member_id_column"
    assert raised.value.status == 400
    assert raised.value.details["headers"] == ["phone", "email"]
    assert "會員編號" in raised.value.details["accepted"]


def test_two_columns_for_one_field_are_refused() -> None:
    with pytest.raises(ImportFileError) as raised:
        HeaderMap.from_header(["member_id", "phone", "mobile"])
    assert raised.value.code == "duplicate_column"
    assert raised.value.details == {"column": "phone", "headers": ["phone", "mobile"]}


# rows: accepted ------------------------------------------------------------------------------
def test_a_complete_row_is_normalised(normalizer: IdentifierNormalizer) -> None:
    result = validator(normalizer).validate(
        full_row(
            member_id=" M001 ",
            phone="0912-345-679",
            email=" Amy.Lin@Example.COM ",
            name="林小美",
            birthday="1990/5/7",
            store="台北信義店",
            consent_line="是",
            consent_email="No",
            consent_sms="",
        )
    )
    assert result == MemberRow(
        row=2,
        member_id="M001",
        traits={
            "phone": "+886912345679",
            "email": "amy.lin@example.com",
            "name": "林小美",
            "store": "台北信義店",
            "birthday": "1990-05-07",
        },
        consent={"line:marketing": True, "email:marketing": False},  # empty consent_sms: unknown, not set
    )


@pytest.mark.parametrize(
    ("raw", "flag"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("Y", True),
        ("1", True),
        ("是", True),
        ("false", False),
        ("No", False),
        ("n", False),
        ("0", False),
        ("否", False),
    ],
)
def test_consent_values(normalizer: IdentifierNormalizer, raw: str, flag: bool) -> None:
    result = validator(normalizer).validate(full_row(member_id="M1", consent_sms=raw))
    assert isinstance(result, MemberRow)
    assert result.consent == {"sms:marketing": flag}


def test_missing_trailing_cells_count_as_empty(normalizer: IdentifierNormalizer) -> None:
    result = validator(normalizer).validate(row("M1", "0912345679"))
    assert isinstance(result, MemberRow)
    assert result.traits == {"phone": "+886912345679"}


def test_trailing_empty_cells_beyond_the_header_are_tolerated(normalizer: IdentifierNormalizer) -> None:
    result = validator(normalizer, ["member_id", "name"]).validate(row("M1", "Amy", "", " "))
    assert isinstance(result, MemberRow)


# rows: warnings (accepted without the value) --------------------------------------------------
@pytest.mark.parametrize(
    ("values", "code", "missing"),
    [
        ({"phone": "12345"}, "invalid_phone", "phone"),
        ({"phone": "0000000000"}, "blocked_phone", "phone"),  # a form's placeholder
        ({"email": "amy@"}, "invalid_email", "email"),
        ({"email": "test@test.com"}, "blocked_email", "email"),
        ({"birthday": "07/05/1990"}, "invalid_birthday", "birthday"),
        ({"birthday": "1990-02-30"}, "invalid_birthday", "birthday"),
        ({"birthday": "2030-01-01"}, "invalid_birthday", "birthday"),
        ({"name": "x" * 201}, "value_too_long", "name"),
    ],
)
def test_a_bad_optional_value_is_left_out_with_a_warning(
    normalizer: IdentifierNormalizer, values: dict[str, str], code: str, missing: str
) -> None:
    # Given an otherwise good row with one bad optional value
    result = validator(normalizer).validate(full_row(**{"member_id": "M1", "name": "Amy", "store": "S1", **values}))
    # Then the row is imported without that value, and the reason is reported
    assert isinstance(result, MemberRow)
    assert reasons(result) == [code]
    assert result.warnings[0].column == missing
    assert missing not in result.traits
    assert result.traits.get("store") == "S1"


def test_an_unreadable_consent_stays_unknown(normalizer: IdentifierNormalizer) -> None:
    result = validator(normalizer).validate(full_row(member_id="M1", consent_line="maybe", consent_email="yes"))
    assert isinstance(result, MemberRow)
    assert reasons(result) == ["invalid_consent_value"]
    assert result.warnings[0].column == "consent_line"
    assert result.consent == {"email:marketing": True}  # never a guessed line consent


def test_several_warnings_on_one_row(normalizer: IdentifierNormalizer) -> None:
    result = validator(normalizer).validate(full_row(member_id="M1", phone="x", email="y", consent_sms="?"))
    assert reasons(result) == ["invalid_phone", "invalid_email", "invalid_consent_value"]


# rows: rejected ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("record", "code"),
    [
        (row("", "0912345679"), "missing_member_id"),
        (row("   ", "0912345679"), "missing_member_id"),
        (row("null"), "invalid_member_id"),
        (row("undefined"), "invalid_member_id"),
        (row("M" * 600), "invalid_member_id"),
        (row(*["M1"] + [""] * 8 + ["extra"]), "too_many_columns"),
        (Record(2, None, 'M1,"x"y\n', 0, "malformed_row"), "malformed_row"),
        (Record(2, None, 'M1,"x\n', 0, "unterminated_quote"), "unterminated_quote"),
    ],
    ids=["empty", "blank", "null", "undefined", "too-long", "too-many-columns", "malformed", "unterminated"],
)
def test_rows_without_a_usable_key_or_shape_are_rejected(
    normalizer: IdentifierNormalizer, record: Record, code: str
) -> None:
    result = validator(normalizer).validate(record)
    assert isinstance(result, RejectedRow)
    assert reasons(result) == [code]


def test_a_duplicate_member_id_names_the_first_row(normalizer: IdentifierNormalizer) -> None:
    result = validator(normalizer, duplicates={9: 3}).validate(row("M1", number=9))
    assert isinstance(result, RejectedRow)
    assert reasons(result) == ["duplicate_member_id_in_file"]
    assert "row 3" in result.reasons[0].message


# birthdays -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-05-07", "1990-05-07"),
        ("1990/05/07", "1990-05-07"),
        ("1990/5/7", "1990-05-07"),
        ("2000-02-29", "2000-02-29"),
        ("2026-11-23", "2026-11-23"),
        ("1899-12-31", None),
        ("2026-11-24", None),
        ("1990-13-01", None),
        ("19900507", None),
        ("07/05/1990", None),
        ("1990-05-07T00:00:00", None),
        ("", None),
    ],
)
def test_birthday_formats(raw: str, expected: str | None) -> None:
    assert parse_birthday(raw, TODAY) == expected


# the whole file ------------------------------------------------------------------------------
def test_scan_counts_rows_and_finds_duplicates_of_kept_rows(normalizer: IdentifierNormalizer) -> None:
    data = (
        "\ufeff\r\n"  # a blank line before the header
        "會員編號,手機\r\n"
        "M1,0912345679\r\n"
        ",0912345670\r\n"  # no member_id: rejected, so it cannot be the "first" of anything
        "M2,\r\n"
        "\r\n"
        "M1,0900000000\r\n"
        "M2,\r\n"
        "M1,\r\n"
    ).encode()
    scan = scan_file([data], normalizer)
    assert scan.header.columns == {"member_id": "會員編號", "phone": "手機"}
    assert scan.header_row == 2
    assert scan.rows_total == 6
    assert scan.duplicates == {7: 3, 8: 5, 9: 3}
    assert data[scan.data_offset :].startswith(b"M1,0912345679")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\r\n\r\n", "empty_file"),
        (b"phone,email\nx,y\n", "missing_member_id_column"),
        (b'"member_id,name\n', "malformed_header"),
        (b"member_id,name\n", "no_data_rows"),
        (b"member_id\n\n,\n", "no_data_rows"),
        (b"PK\x03\x04\x14\x00\x06\x00", "not_csv"),
        (b"\x1f\x8b\x08\x00", "not_csv"),
        (b"member_id\x00\nM1\n", "not_csv"),
        ("member_id,姓名\nM1,王\n".encode("big5"), "invalid_encoding"),
    ],
    ids=[
        "empty",
        "blank",
        "no-member-id",
        "malformed-header",
        "header-only",
        "blank-rows",
        "xlsx",
        "gzip",
        "nul",
        "big5",
    ],
)
def test_files_that_cannot_be_imported(normalizer: IdentifierNormalizer, data: bytes, code: str) -> None:
    # Both the admin API's quick check and the worker's scan refuse them, with the same code
    with pytest.raises(ImportFileError) as raised:
        scan_file([data], normalizer)
    assert raised.value.code == code
    with pytest.raises(ImportFileError) as raised:
        check_upload(data)
    assert raised.value.code == code


def test_the_quick_check_counts_rows_like_the_scan(normalizer: IdentifierNormalizer) -> None:
    data = '\ufeff\r\n會員編號,備註\r\nM1,"two\r\nlines"\r\n\r\n,,\r\nM2,x\r\n,only a note\r\n'.encode()
    check = check_upload(data)
    assert check.header.columns == {"member_id": "會員編號"}
    assert check.rows_total == scan_file([data], normalizer).rows_total == 3


def test_the_row_limit_is_checked_on_data_rows(normalizer: IdentifierNormalizer) -> None:
    rows = "".join(f"M{i}\n" for i in range(MAX_ROWS))
    at_limit = f"member_id\n{rows}\n\n".encode()  # trailing blank lines are not rows
    assert scan_file([at_limit], normalizer).rows_total == MAX_ROWS
    assert check_upload(at_limit).rows_total == MAX_ROWS
    with pytest.raises(ImportFileError) as raised:
        scan_file([at_limit + b"M-one-too-many\n"], normalizer)
    assert raised.value.code == "too_many_rows"
    assert raised.value.details == {"max_rows": MAX_ROWS}
    with pytest.raises(ImportFileError) as raised:
        check_upload(at_limit + b"M-one-too-many\n")
    assert raised.value.code == "too_many_rows"
    assert raised.value.details == {"max_rows": MAX_ROWS, "rows": MAX_ROWS + 1}


def test_scan_and_validation_agree_on_record_numbers(normalizer: IdentifierNormalizer) -> None:
    data = b'member_id,name\nM1,"a\nb"\nM2,x\nM1,y\n'
    scan = scan_file([data], normalizer)
    records = list(read_records([data[scan.data_offset :]], start_offset=scan.data_offset, start_number=2))
    checker = RowValidator(scan.header, normalizer, TODAY, scan.duplicates)
    results = [checker.validate(record) for record in records]
    assert [type(result).__name__ for result in results] == ["MemberRow", "MemberRow", "RejectedRow"]
    assert scan.duplicates == {4: 2}


# the event -----------------------------------------------------------------------------------
def test_a_row_becomes_a_deterministic_segment_identify() -> None:
    member = MemberRow(
        row=42,
        member_id="M001",
        traits={"phone": "+886912345679", "name": "林小美"},
        consent={"line:marketing": True},
    )
    event = member_event(member, import_id="imp_1", created_at="2026-11-23T03:00:00.000Z")
    assert event.event_id == partner_event_id("member-import", "imp_1:42")
    assert (event.origin, event.source, event.received_at) == ("partner", "member-import", "2026-11-23T03:00:00.000Z")
    assert event.payload == {
        "type": "identify",
        "userId": "M001",
        "messageId": "imp_1:42",
        "timestamp": "2026-11-23T03:00:00.000Z",
        "traits": {"phone": "+886912345679", "name": "林小美"},
        "context": {"channel": "crm", "import": {"id": "imp_1", "row": 42}, "consent": {"line:marketing": True}},
    }
    assert member_event(member, import_id="imp_1", created_at="2026-11-23T03:00:00.000Z") == event


def test_no_consent_key_when_no_flag_is_known() -> None:
    member = MemberRow(row=2, member_id="M1", traits={}, consent={})
    payload = member_event(member, import_id="imp_1", created_at="2026-11-23T03:00:00.000Z").payload
    assert "consent" not in payload["context"]
    assert payload["traits"] == {}


def test_the_consent_text_version_rides_with_the_row_s_consents(normalizer: IdentifierNormalizer) -> None:
    header = ["會員編號", "同意簡訊", "同意條款版本"]
    signed = validator(normalizer, header).validate(row("M1", "是", "2026-03"))
    assert isinstance(signed, MemberRow) and signed.consent_text_version == "2026-03"
    payload = member_event(signed, import_id="imp_1", created_at="2026-11-23T03:00:00.000Z").payload
    assert payload["context"]["consent"] == {"sms:marketing": True}
    assert payload["context"]["consentTextVersion"] == "2026-03"
    # no consent on the row: a version alone records nothing
    unsigned = validator(normalizer, header).validate(row("M2", "", "2026-03"))
    assert isinstance(unsigned, MemberRow) and unsigned.consent_text_version is None
    # a version that is not a label is a warning; the consent itself is kept
    odd = validator(normalizer, header).validate(row("M3", "否", "v 2"))
    assert isinstance(odd, MemberRow) and reasons(odd) == ["invalid_consent_text_version"]
    assert odd.consent == {"sms:marketing": False} and odd.consent_text_version is None
