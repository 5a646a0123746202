"""The capacity arithmetic the cost bench prices DynamoDB with (tests/bench/capacity.py)."""

from __future__ import annotations

import pytest

from tests.bench import capacity


def test_string_attribute_is_name_plus_utf8_bytes() -> None:
    assert capacity.item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert capacity.item_size({"名": {"S": "新品"}}) == 3 + 6  # CJK: 3 bytes per character


@pytest.mark.parametrize(
    ("number", "size"),
    [("0", 1), ("7", 2), ("12", 2), ("123", 3), ("1200", 2), ("0.0012", 2), ("-1234567", 5), ("1700000000", 2)],
)
def test_number_is_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert capacity.number_size(number) == size


def test_null_boolean_and_binary() -> None:
    assert capacity.item_size({"a": {"NULL": True}, "b": {"BOOL": False}}) == (1 + 1) + (1 + 1)
    assert capacity.item_size({"bin": {"B": b"\x00\x01\x02"}}) == 3 + 3
    assert capacity.item_size({"bin": {"B": "AAEC"}}) == 3 + 3  # base64 on the wire: raw bytes count


def test_lists_and_maps_carry_three_bytes_plus_one_per_element() -> None:
    assert capacity.item_size({"l": {"L": []}}) == 1 + 3
    assert capacity.item_size({"m": {"M": {}}}) == 1 + 3
    # list: 3 + (1 + 1) + (1 + 2); map: 3 + (1 + len("k") + 1)
    assert capacity.item_size({"l": {"L": [{"S": "a"}, {"N": "12"}]}}) == 1 + 3 + 2 + 3
    assert capacity.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1


def test_sets_are_the_sum_of_their_members() -> None:
    assert capacity.item_size({"s": {"SS": ["ab", "c"]}}) == 1 + 3
    assert capacity.item_size({"n": {"NS": ["12", "3"]}}) == 1 + 2 + 2


def test_write_units_round_up_per_started_kilobyte_of_the_larger_image() -> None:
    assert capacity.write_units(0, 1) == 1
    assert capacity.write_units(0, 1024) == 1
    assert capacity.write_units(0, 1025) == 2
    assert capacity.write_units(3000, 500) == 3  # a shrinking rewrite pays for the old image
    assert capacity.write_units(0, 0) == 1  # a failed condition on a missing item still costs 1


def test_transactions_bill_twice() -> None:
    assert capacity.write_units(0, 1500, transactional=True) == 4
    assert capacity.read_units(5000, consistent=True, transactional=True) == 4.0


def test_read_units_per_started_four_kilobytes_halved_when_eventually_consistent() -> None:
    assert capacity.read_units(0, consistent=True) == 1.0  # nothing found still costs the minimum
    assert capacity.read_units(4096, consistent=True) == 1.0
    assert capacity.read_units(4097, consistent=True) == 2.0
    assert capacity.read_units(4097, consistent=False) == 1.0
    assert capacity.read_units(100, consistent=False) == 0.5


def test_a_sparse_index_holds_only_items_with_its_keys() -> None:
    keys, table = ("gsi1pk", "gsi1sk"), ("pk", "sk")
    item = {"pk": {"S": "MERGE#1"}, "sk": {"S": "MERGE"}, "gsi1pk": {"S": "x"}, "gsi1sk": {"S": "y"}, "doc": {"S": "z"}}
    assert capacity.projected(item, keys, table, {"ProjectionType": "ALL"}) == item
    assert capacity.projected(item, keys, table, {"ProjectionType": "KEYS_ONLY"}) == {
        name: value for name, value in item.items() if name != "doc"
    }
    assert capacity.projected({"pk": {"S": "a"}, "sk": {"S": "b"}}, keys, table, {"ProjectionType": "ALL"}) is None


def test_a_hand_checked_item() -> None:
    """A raw LINE event item as the webhook writes it, counted by hand."""
    item = {
        "pk": {"S": "line#default#01ABC"},  # 2 + 18
        "origin": {"S": "line"},  # 6 + 4
        "expires_at": {"N": "1767225600"},  # 10 + (8 significant digits -> 4) + 1
        "payload": {"S": '{"text":"請問"}'},  # 7 + (11 ASCII + 2 x 3)
    }
    assert capacity.item_size(item) == 20 + 10 + 15 + 24
