"""DynamoDB capacity arithmetic: item sizes and request units as DynamoDB bills them.

Sizes follow "DynamoDB item sizes and formats" (developer guide, CapacityUnitCalculations):
an item is the sum of its attribute names and values; a string is its UTF-8 bytes, a number
about one byte per two significant digits plus one, binary its raw bytes, null and boolean one
byte; a list or map adds 3 bytes plus 1 byte per element to the size of its elements (a map's
element also counts its key's bytes); a set is the sum of its members.

Units: a write is 1 WRU per started KB of the larger of the item's old and new images (minimum
1); a read is 1 RRU per started 4 KB, strongly consistent, half that eventually consistent;
GetItem and BatchGetItem round each item up, Query rounds the sum of the items it read up once
per page; a read that finds nothing still costs the minimum. Transactional reads and writes cost
twice that. A conditional write whose condition fails still consumes, by the existing item's
size. A global secondary index write costs the same per projected index entry, and an update
that changes the index key writes the old entry's removal and the new one (2 writes).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
CONTAINER_OVERHEAD = 3
ELEMENT_OVERHEAD = 1


def number_size(text: str) -> int:
    """Bytes of a DynamoDB number: leading and trailing zeros trimmed, 1 byte per 2 significant
    digits, plus 1."""
    digits = Decimal(text).as_tuple().digits
    significant = "".join(map(str, digits)).strip("0")
    return math.ceil(len(significant) / 2) + 1


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(base64.b64decode(value))  # wire form (DynamoDB JSON of a stream record)


def value_size(value: Mapping[str, Any]) -> int:
    """Size of one typed attribute value (`{"S": ...}`, `{"M": {...}}`, ...), name excluded."""
    ((kind, data),) = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return number_size(str(data))
    if kind == "B":
        return _binary_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(member.encode("utf-8")) for member in data)
    if kind == "NS":
        return sum(number_size(member) for member in data)
    if kind == "BS":
        return sum(_binary_size(member) for member in data)
    if kind == "L":
        return CONTAINER_OVERHEAD + sum(ELEMENT_OVERHEAD + value_size(element) for element in data)
    if kind == "M":
        return CONTAINER_OVERHEAD + sum(
            ELEMENT_OVERHEAD + len(name.encode("utf-8")) + value_size(element) for name, element in data.items()
        )
    raise ValueError(f"not a DynamoDB attribute type: {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Bytes of an item in DynamoDB's low-level JSON (what boto3's client sends and returns)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(old_size: int, new_size: int, *, transactional: bool = False) -> int:
    """WRU of one item write: the larger image, per started KB, at least 1; twice in a transaction."""
    units = max(1, math.ceil(max(old_size, new_size) / WRITE_UNIT_BYTES))
    return units * 2 if transactional else units


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RRU of reading `size` bytes in one unit of rounding (an item, or a Query page)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


def projected(
    item: Mapping[str, Any], index_keys: tuple[str, ...], table_keys: tuple[str, ...], projection: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The entry an index holds for `item`, or None when the item lacks the index's key attributes
    (a sparse index holds nothing for it)."""
    if not all(name in item for name in index_keys):
        return None
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return dict(item)
    wanted = set(index_keys) | set(table_keys)
    if kind == "INCLUDE":
        wanted |= set(projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in wanted}
