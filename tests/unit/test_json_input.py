"""cdp.json_input: the one strict reader of request bodies (codes and JSON pointers)."""

from __future__ import annotations

import json

import pytest
from cdp.errors import BadRequest
from cdp.json_input import MAX_JSON_DEPTH, loads, nesting_depth, parse, pointer, problems


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param(b'{"traits": {"revenue": NaN}}', "non_finite_number", "/traits/revenue", id="nan"),
        pytest.param(b'{"traits": {"age": Infinity}}', "non_finite_number", "/traits/age", id="infinity"),
        pytest.param(b'{"a": [1, -Infinity]}', "non_finite_number", "/a/1", id="minus-infinity"),
        pytest.param(b'{"x": 1e999}', "non_finite_number", "/x", id="overflowing-float"),
        pytest.param(b'{"traits": {"n": 18446744073709551616}}', "integer_out_of_range", "/traits/n", id="2^64"),
        pytest.param(b'{"n": 9223372036854775808}', "integer_out_of_range", "/n", id="2^63"),
        pytest.param(b'{"n": -9223372036854775809}', "integer_out_of_range", "/n", id="-2^63-1"),
        pytest.param(b'{"p": {"x": 1e200}}', "number_out_of_range", "/p/x", id="float-past-1e126"),
        pytest.param(b'{"p": [-1e-200]}', "number_out_of_range", "/p/0", id="float-under-1e-130"),
        pytest.param(b'{"name": "a\\ud800b"}', "invalid_encoding", "/name", id="lone-surrogate"),
        pytest.param(b'{"k": {"\\udfff": 1}}', "invalid_encoding", "/k/\udfff", id="surrogate-key"),
        pytest.param(b'{"a/b": {"c~d": [NaN]}}', "non_finite_number", "/a~1b/c~0d/0", id="pointer-escapes"),
    ],
)
def test_unstorable_values_are_refused_naming_the_field(body: bytes, code: str, field: str) -> None:
    # Given a body Python's json accepts but no store can keep
    # When it is read
    with pytest.raises(BadRequest) as raised:
        loads(body)

    # Then the code is stable and the field is the value's JSON pointer
    assert raised.value.code == code
    assert raised.value.details == {"field": field}
    assert raised.value.status == 400


def test_64_bit_edges_and_ordinary_values_pass() -> None:
    # Given the extremes of a signed 64-bit integer, the extremes of DynamoDB's number range, zero
    # and valid non-BMP text
    body = json.dumps(
        {"max": 2**63 - 1, "min": -(2**63), "f": 9.99e125, "g": -1e-130, "z": 0.0, "emoji": "😀", "th": "สินค้าใหม่"}
    )

    # When / Then it reads unchanged
    assert loads(body.encode()) == json.loads(body)


def test_10000_levels_are_refused_before_any_recursion() -> None:
    # Given 10,000 nested arrays (Python's parser would raise RecursionError)
    body = b"[" * 10_000 + b"]" * 10_000

    # When / Then it is a 400 json_too_deep, not a crash
    with pytest.raises(BadRequest) as raised:
        loads(body)
    assert raised.value.code == "json_too_deep"


def test_depth_limit_is_exact_and_brackets_in_strings_do_not_count() -> None:
    # Given nesting at the limit, one over, 900 levels (under Python's own recursion guard), and
    # brackets inside strings
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    over = '{"a":' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"
    in_strings = json.dumps({"s": "[[[[{{{{" * 100, "t": 'x\\"[[[['})

    # When / Then
    assert loads(at_limit) is not None
    for body in (over, "[" * 900 + "]" * 900):
        with pytest.raises(BadRequest) as raised:
            loads(body)
        assert raised.value.code == "json_too_deep"
    assert nesting_depth(json.loads(in_strings)) == 1
    assert nesting_depth(json.loads(at_limit)) == MAX_JSON_DEPTH
    assert nesting_depth(7) == 0


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b'{"a": 1,}', b"[1 2]"], ids=repr)
def test_invalid_json_is_invalid_json(body: bytes) -> None:
    with pytest.raises(BadRequest) as raised:
        loads(body)
    assert raised.value.code == "invalid_json"


def test_parse_leaves_values_to_the_caller_and_says_when_to_look() -> None:
    # Given a batch whose second event holds NaN, and one whose text cannot hold a bad value
    suspect = parse(b'{"batch": [{"a": 1}, {"a": NaN}]}')
    clean = parse('{"batch": [{"a": 1, "b": "新品", "c": 1.5e10}]}'.encode())

    # When / Then the first is read and flagged, and the caller can refuse only that event
    assert suspect.suspect and not clean.suspect
    assert [next(problems(event), None) is None for event in suspect.document["batch"]] == [True, False]


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": "\\udc00"}',
        '{"a": 12345678901234567890}',
        '{"a": 1e400}',
        '{"a": 1e200}',
    ],
)
def test_every_unstorable_value_makes_the_text_suspect(text: str) -> None:
    # The fast path may only skip the walk when none of these can be in the document
    assert parse(text).suspect


def test_pointer_escapes_rfc6901() -> None:
    assert pointer("", "a/b~c") == "/a~1b~0c"
    assert pointer("/x", 3) == "/x/3"
