"""The one strict JSON reader for request bodies (stdlib only: it sits on the webhook's cold path).

Python's json accepts what no store downstream can keep: `NaN`, `Infinity` and `-Infinity`,
numbers that overflow to infinity (`1e999`), integers past 64 bits (Parquet and DynamoDB
consumers break on them), escaped lone surrogates (`"\\ud800"`, not encodable as UTF-8), and
nesting deep enough to raise RecursionError. Each is refused here with a 400 whose code is
stable and whose `details.field` is the JSON pointer (RFC 6901) of the offending value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from cdp.errors import BadRequest

MAX_JSON_DEPTH = 64  # Segment events, LINE events and admin bodies nest a handful of levels
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Stable error codes (documented in the API descriptions; clients match on them).
INVALID_JSON = "invalid_json"
JSON_TOO_DEEP = "json_too_deep"
NON_FINITE_NUMBER = "non_finite_number"
INTEGER_OUT_OF_RANGE = "integer_out_of_range"
INVALID_ENCODING = "invalid_encoding"

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonProblem(BadRequest):
    """A body that is JSON but holds a value no store can keep; `field` is its JSON pointer."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message, code=code, details={"field": field})
        self.field = field


def pointer(parent: str, key: str | int) -> str:
    """RFC 6901: `~` and `/` in a key are escaped as `~0` and `~1`."""
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def nesting_depth(text: str) -> int:
    """The deepest array/object nesting, counted without recursion (strings removed first)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(1 if char in "[{" else -1 for char in brackets))


def loads(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, check: bool = True) -> Any:
    """Parse a request body strictly; raise BadRequest with a stable code otherwise.

    `check=False` leaves the value checks to the caller, for bodies that carry many events
    where one bad value should refuse its event alone (see `problems`).
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not valid UTF-8 JSON", code=INVALID_JSON) from exc
    depth = nesting_depth(text)
    if depth > max_depth:
        raise BadRequest(f"body nests {depth} levels deep, the limit is {max_depth}", code=JSON_TOO_DEEP)
    try:
        document = json.loads(text)
    except RecursionError as exc:  # unreachable after the depth check; kept as a guard
        raise BadRequest(f"body nests deeper than {max_depth} levels", code=JSON_TOO_DEEP) from exc
    except ValueError as exc:
        raise BadRequest("body is not valid JSON", code=INVALID_JSON) from exc
    if check:
        check_values(document)
    return document


def check_values(value: Any, at: str = "") -> None:
    """Raise JsonProblem for the first value no store can keep (see module doc)."""
    for problem in problems(value, at):
        raise problem


def problems(value: Any, at: str = "") -> Iterator[JsonProblem]:
    """Every unstorable value under `value`, in document order; `at` is its JSON pointer."""
    if isinstance(value, str):
        if _has_surrogate(value):
            yield JsonProblem(INVALID_ENCODING, f"`{at or '/'}` holds text that is not valid Unicode", at)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield JsonProblem(
                INTEGER_OUT_OF_RANGE, f"`{at or '/'}` is outside the 64-bit integer range (-2^63 to 2^63-1)", at
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield JsonProblem(NON_FINITE_NUMBER, f"`{at or '/'}` must be a finite number (not NaN or Infinity)", at)
    elif isinstance(value, dict):
        for key, item in value.items():
            here = pointer(at, key)
            if _has_surrogate(key):
                yield JsonProblem(INVALID_ENCODING, f"a key under `{at or '/'}` is not valid Unicode", here)
            yield from problems(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from problems(item, pointer(at, index))


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


__all__ = [
    "INTEGER_OUT_OF_RANGE",
    "INVALID_ENCODING",
    "INVALID_JSON",
    "JSON_TOO_DEEP",
    "MAX_JSON_DEPTH",
    "NON_FINITE_NUMBER",
    "JsonProblem",
    "check_values",
    "loads",
    "nesting_depth",
    "pointer",
    "problems",
]
