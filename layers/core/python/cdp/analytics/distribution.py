"""The distribution of one value: a trait (`traits.<name>`) or computed trait
(`computed.<path>`) over the live profiles now, or an event property (`properties.<name>`) over
the events of one name inside the range.

Numeric (every present value a JSON number, or `kind=numeric`: values that read as numbers):
count, min, max, mean, median and a histogram with nice bins (width 1, 2 or 5 x 10^k,
`[lower, upper)`, the last bin closed). Categorical: the `top` values by count (ties by value)
and the rest summed in `other`; values as text (`true` / `false` for booleans).
"""

from __future__ import annotations

import math
import re
import uuid
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, run

if TYPE_CHECKING:
    import duckdb

KINDS = ("auto", "numeric", "categorical")
SOURCES = ("traits", "computed", "properties")
DEFAULT_BINS, DEFAULT_TOP, MAX_BINS, MAX_TOP = 10, 10, 50, 50
PART = re.compile(r"[A-Za-z0-9_]{1,64}")
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE', 'HUGEINT')"


def parse_field(field: str) -> tuple[str, list[str]]:
    """`traits.city` -> ("traits", ["city"]); ValueError when not one of the three forms."""
    source, _, rest = field.partition(".")
    parts = rest.split(".") if rest else []
    if source not in SOURCES or not parts or len(parts) > 4 or not all(PART.fullmatch(part) for part in parts):
        raise ValueError(field)
    if source != "computed" and len(parts) != 1:
        raise ValueError(field)
    return source, parts


def nice_bins(low: float, high: float, most: int) -> tuple[float, float, int]:
    """(lower edge, width, number of bins) covering [low, high] in at most `most` bins of a
    width 1, 2 or 5 x 10^k."""
    if high <= low:
        return low, 1.0, 1
    raw = (high - low) / most
    exponent = math.floor(math.log10(raw))
    candidates = [mantissa * 10.0**power for power in (exponent, exponent + 1, exponent + 2) for mantissa in (1, 2, 5)]
    for width in candidates:
        if width < raw:
            continue
        lower = math.floor(low / width) * width
        count = max(1, math.ceil((high - lower) / width))  # high on an edge: in the last, closed bin
        if count <= most:
            return lower, width, count
    width = candidates[-1]
    return math.floor(low / width) * width, width, 1


def bin_index(value: float, lower: float, width: float, count: int) -> int:
    return max(0, min(math.floor((value - lower) / width), count - 1))


def distribution(
    db: duckdb.DuckDBPyConnection,
    span: ReportRange,
    *,
    field: str,
    event: str | None = None,
    kind: str = "auto",
    bins: int = DEFAULT_BINS,
    top: int = DEFAULT_TOP,
) -> dict[str, Any]:
    source, parts = parse_field(field)
    if kind not in KINDS:
        raise ValueError(kind)
    path = "$." + ".".join(f'"{part}"' for part in parts)
    params: dict[str, Any] = {"path": path, "event": event, "start": span.start_utc, "end": span.end_utc}
    if source == "properties":
        rows_sql = (
            "SELECT json_extract(properties, $path) AS v FROM events WHERE name = $event AND ts >= $start AND ts < $end"
        )
    else:
        rows_sql = f"SELECT json_extract({source}, $path) AS v FROM profiles"
    # One JSON pass: each value's JSON type and text, kept for the few aggregates below.
    values = f"distribution_values_{uuid.uuid4().hex}"
    run(
        db,
        f"CREATE TEMP TABLE {values} AS SELECT json_type(v) AS t, json_extract_string(v, '$') AS s FROM ({rows_sql})",
        params,
    )
    try:
        return _figures(db, values, field, event if source == "properties" else None, kind, bins, top)
    finally:
        db.execute(f"DROP TABLE IF EXISTS {values}")


def _figures(
    db: duckdb.DuckDBPyConnection, values: str, field: str, event: str | None, kind: str, bins: int, top: int
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    total, present, numbers = run(
        db,
        f"SELECT count(*), count(*) FILTER (WHERE t IS NOT NULL AND t <> 'NULL'), "
        f"count(*) FILTER (WHERE t IN {_NUMBER_TYPES}) FROM {values}",
        params,
    )[0]
    chosen = kind if kind != "auto" else ("numeric" if present and numbers == present else "categorical")
    answer: dict[str, Any] = {
        "field": field,
        "event": event,
        "kind": chosen,
        "min": None,
        "max": None,
        "mean": None,
        "median": None,
        "bins": None,
        "top": None,
        "other": None,
    }
    if chosen == "numeric":
        numeric = f"SELECT TRY_CAST(s AS DOUBLE) AS x FROM {values} WHERE t <> 'NULL'"
        count, low, high, mean, median = run(
            db,
            f"SELECT count(x), min(x), max(x), avg(x), median(x) FROM ({numeric}) WHERE isfinite(x)",
            params,
        )[0]
        answer.update({"count": count, "missing": total - count})
        if count:
            lower, width, many = nice_bins(float(low), float(high), bins)
            params.update({"lower": lower, "width": width, "last": many - 1})
            counted = dict(
                run(
                    db,
                    f"SELECT greatest(0, least(CAST(floor((x - $lower) / $width) AS BIGINT), $last)) AS b, count(*) "
                    f"FROM ({numeric}) WHERE isfinite(x) GROUP BY b",
                    params,
                )
            )
            answer.update(
                {
                    "min": float(low),
                    "max": float(high),
                    "mean": round(float(mean), 4),
                    "median": round(float(median), 4),
                    "bins": [
                        {"lower": lower + n * width, "upper": lower + (n + 1) * width, "count": counted.get(n, 0)}
                        for n in range(many)
                    ],
                }
            )
        else:
            answer["bins"] = []
        return answer
    text = f"SELECT s FROM {values} WHERE t IS NOT NULL AND t <> 'NULL'"
    counts = run(
        db,
        f"SELECT s, count(*) AS n FROM ({text}) GROUP BY s ORDER BY n DESC, s LIMIT $top",
        {**params, "top": top},
    )
    shown = sum(n for _, n in counts)
    answer.update(
        {
            "count": present,
            "missing": total - present,
            "top": [{"value": value, "count": n} for value, n in counts],
            "other": present - shown,
        }
    )
    return answer
