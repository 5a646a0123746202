"""Identifier normalisation: phones to E.164, emails trimmed and lower-cased, junk never used as a key."""

from __future__ import annotations

import pytest
from cdp.identity.identifiers import (
    IDENTIFIER_TYPES,
    Identifier,
    IdentifierNormalizer,
    RejectedIdentifier,
    line_identifier,
)


@pytest.fixture
def normalizer() -> IdentifierNormalizer:
    return IdentifierNormalizer()  # TW by default


# phones -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        "0912-345-678",
        "0912345678",
        "0912 345 678",
        "+886 912 345 678",
        "+886-912-345-678",
        "+886912345678",
        "886912345678",
        "(09)12345678",
        " 0912345678\t",
    ],
)
def test_taiwan_mobile_in_any_local_or_international_form_becomes_e164(
    raw: str, normalizer: IdentifierNormalizer
) -> None:
    # Given a Taiwanese mobile number written the way forms and POS systems write it
    # When it is normalised with the default region
    result = normalizer.normalize("phone", raw)

    # Then every form is the same E.164 key
    assert result == Identifier("phone", "+886912345678")


def test_taiwan_landline_becomes_e164(normalizer: IdentifierNormalizer) -> None:
    # Given a Taipei landline in local form
    # When / Then it is E.164 with the area code
    assert normalizer.normalize("phone", "02-2345-6789") == Identifier("phone", "+886223456789")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("+1 415-555-0132", "+14155550132"), ("+81 90-1234-5678", "+819012345678"), ("+852 9123 4567", "+85291234567")],
)
def test_numbers_with_another_country_code_keep_their_country(
    raw: str, expected: str, normalizer: IdentifierNormalizer
) -> None:
    # Given a foreign number written with its country code
    # When it is normalised with the TW default
    # Then its own country wins
    assert normalizer.normalize("phone", raw) == Identifier("phone", expected)


def test_default_region_is_configurable() -> None:
    # Given a workspace whose customers are in Japan
    japan = IdentifierNormalizer(default_region="JP")

    # When a local Japanese mobile is normalised
    # Then it reads as Japanese, where the TW default would not
    assert japan.normalize("phone", "090-1234-5678") == Identifier("phone", "+819012345678")
    assert IdentifierNormalizer().normalize("phone", "090-1234-5678") != Identifier("phone", "+819012345678")


@pytest.mark.parametrize(
    "raw", ["12345", "0912-345", "09123456789012", "not a phone", "+886 1234", "(415) 555-0132", "+999 123456789"]
)
def test_invalid_phone_is_rejected(raw: str, normalizer: IdentifierNormalizer) -> None:
    # Given something in a phone field that is not a valid number (a US local number is not TW)
    # When it is normalised
    result = normalizer.normalize("phone", raw)

    # Then it is rejected, never used as a key
    assert result == RejectedIdentifier("phone", raw.strip(), "invalid_phone")


@pytest.mark.parametrize("raw", ["0000000000", "+886000000000", "null", "N/A", "  ", ""])
def test_junk_phone_is_blocked(raw: str, normalizer: IdentifierNormalizer) -> None:
    # Given a placeholder that forms put in the phone field
    # When it is normalised
    result = normalizer.normalize("phone", raw)

    # Then it is blocked (it would glue strangers together)
    assert isinstance(result, RejectedIdentifier)
    assert result.reason == "blocked_value"


def test_workspace_blocklist_applies_to_the_normalised_phone() -> None:
    # Given a workspace that blocks its own test number, listed in E.164
    normalizer = IdentifierNormalizer(blocked_values=frozenset({"+886912345678"}))

    # When the same number arrives in local form
    result = normalizer.normalize("phone", "0912-345-678")

    # Then it is blocked after normalisation
    assert result == RejectedIdentifier("phone", "0912-345-678", "blocked_value")


# emails -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("amy@example.com", "amy@example.com"),
        ("  Amy.Lin@Example.COM  ", "amy.lin@example.com"),
        ("AMY+vip@GMAIL.com", "amy+vip@gmail.com"),
        ("林小美@例子.台灣", "林小美@例子.台灣"),
    ],
)
def test_email_is_trimmed_and_lower_cased(raw: str, expected: str, normalizer: IdentifierNormalizer) -> None:
    # Given an email as typed into a form
    # When it is normalised
    # Then it is one key however it was cased or padded
    assert normalizer.normalize("email", raw) == Identifier("email", expected)


@pytest.mark.parametrize(
    "raw", ["amy", "amy@", "@example.com", "amy@@example.com", "amy@example", "amy lin@example.com"]
)
def test_invalid_email_is_rejected(raw: str, normalizer: IdentifierNormalizer) -> None:
    # Given something in an email field that is not an address
    # When it is normalised
    # Then it is rejected with the reason
    assert normalizer.normalize("email", raw) == RejectedIdentifier("email", raw, "invalid_email")


@pytest.mark.parametrize("raw", ["test@test.com", "TEST@Test.com", " test@test.com ", "null", "undefined"])
def test_junk_email_is_blocked(raw: str, normalizer: IdentifierNormalizer) -> None:
    # Given a placeholder email
    # When it is normalised
    result = normalizer.normalize("email", raw)

    # Then it is blocked in any casing
    assert isinstance(result, RejectedIdentifier)
    assert result.reason == "blocked_value"


# other types --------------------------------------------------------------------------------
@pytest.mark.parametrize("id_type", ["member_id", "anonymous_id", "wechat_unionid", "wechat_openid", "idfa"])
def test_opaque_ids_are_trimmed_and_kept_case_sensitive(id_type: str, normalizer: IdentifierNormalizer) -> None:
    # Given an opaque id with padding and mixed case
    # When it is normalised
    # Then only the padding goes (ids are case-sensitive)
    assert normalizer.normalize(id_type, "  oX9a-Bc12  ") == Identifier(id_type, "oX9a-Bc12")


@pytest.mark.parametrize("raw", [None, "", "null", "NULL", "undefined", "None", "n/a", "-", "0", "unknown"])
def test_junk_member_ids_are_blocked(raw: object, normalizer: IdentifierNormalizer) -> None:
    # Given a placeholder where a member id should be
    # When it is normalised
    result = normalizer.normalize("member_id", raw)

    # Then it is blocked
    assert isinstance(result, RejectedIdentifier)
    assert result.reason == "blocked_value"


def test_numeric_member_id_is_kept_as_text(normalizer: IdentifierNormalizer) -> None:
    assert normalizer.normalize("member_id", 100234) == Identifier("member_id", "100234")


def test_overlong_id_is_rejected(normalizer: IdentifierNormalizer) -> None:
    # Given an id longer than any real one (a pasted document)
    result = normalizer.normalize("anonymous_id", "a" * 513)

    # Then it is rejected, and the report keeps only a prefix
    assert isinstance(result, RejectedIdentifier)
    assert (result.reason, len(result.raw)) == ("too_long", 64)


def test_unknown_identifier_type_is_rejected(normalizer: IdentifierNormalizer) -> None:
    assert normalizer.normalize("passport", "X1234567") == RejectedIdentifier("passport", "X1234567", "unknown_type")


def test_line_identifier_is_scoped_by_provider() -> None:
    # Given the same LINE user id seen under two providers
    a = line_identifier("2001234567", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")
    b = line_identifier("2009999999", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")

    # Then they are two different keys (LINE user ids are per provider)
    assert a != b
    assert a.key == "line#2001234567:U4af4980629a1b2c3d4e5f6a7b8c9d0e1"
    assert "line" in IDENTIFIER_TYPES
