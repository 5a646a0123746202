"""A person's rows in member-import CSVs: found by their identifiers however a brand wrote them."""

from __future__ import annotations

from cdp.privacy.erase_files import Needles, csv_without

AMY = Needles.of(["phone#+886912345678", "email#amy@example.com", "member_id#M-1", "line#p1:Uabc"])


def test_phones_match_in_any_formatting_and_national_form() -> None:
    for cell in ("+886912345678", "0912-345-678", " 0912 345 678 ", "886912345678", "912345678"):
        assert AMY.match(cell), cell
    assert not AMY.match("0912345679") and not AMY.match("12345") and not AMY.match("")


def test_texts_match_whole_cells_in_any_case() -> None:
    assert AMY.match("Amy@Example.com ") and AMY.match("m-1") and AMY.match("Uabc")
    assert not AMY.match("amy@example.com.tw") and not AMY.match("M-10")


def test_the_persons_rows_are_left_out_and_the_rest_kept_byte_for_byte() -> None:
    data = "\ufeffname,phone,email\r\nAmy,0912-345-678,\r\nBen,0922222222,ben@example.com\r\nA2,,AMY@example.com\r\n"
    out, removed = csv_without(data.encode("utf-8"), AMY)
    assert removed == 2
    assert out.decode("utf-8") == "\ufeffname,phone,email\r\nBen,0922222222,ben@example.com\r\n"
    same, none = csv_without(out, AMY)
    assert none == 0 and same == out  # a second pass changes nothing
    assert csv_without(b"", AMY) == (b"", 0)
