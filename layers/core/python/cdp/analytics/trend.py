"""Events (or distinct people) per local day or week (weeks start on Monday), split by channel,
by event name or not at all; at most `limit` series, the rest summed into `other`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, day_number, run

if TYPE_CHECKING:
    import duckdb

INTERVALS = ("day", "week")
SPLITS = ("channel", "name", "none")
MEASURES = ("events", "people")
OTHER = "other"
DEFAULT_LIMIT = 20
_KEY = {"channel": "coalesce(channel, 'unknown')", "name": "name", "none": "'all'"}


def buckets(span: ReportRange, interval: str) -> list[date]:
    if interval == "day":
        return span.days()
    monday = span.start - timedelta(days=span.start.weekday())
    return [monday + timedelta(weeks=n) for n in range((span.end - monday).days // 7 + 1)]


def trend(
    db: duckdb.DuckDBPyConnection,
    span: ReportRange,
    *,
    interval: str = "day",
    by: str = "channel",
    measure: str = "events",
    names: Sequence[str] = (),
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    if interval not in INTERVALS or by not in SPLITS or measure not in MEASURES:
        raise ValueError("interval, by or measure out of range")
    params: dict[str, Any] = {"start": span.start_utc, "end": span.end_utc}
    where = "ts >= $start AND ts < $end"
    if names:
        params.update({f"n{n}": name for n, name in enumerate(names)})
        where += " AND name IN (" + ", ".join(f"$n{n}" for n in range(len(names))) + ")"
    day = span.day_sql()
    bucket = day if interval == "day" else f"({day} - ({day} + 3) % 7)"  # 1970-01-01 was a Thursday
    count = "count(*)" if measure == "events" else "count(DISTINCT profile_id)"
    selected = f"SELECT {bucket} AS bucket, {_KEY[by]} AS key, profile_id FROM events WHERE {where}"
    # One pass: per (bucket, key), per key and overall (distinct people do not add up).
    sets = "GROUPING SETS ((bucket, key), (key), ())"
    rows = run(db, f"SELECT grouping(bucket, key), bucket, key, {count} FROM ({selected}) GROUP BY {sets}", params)
    totals = {key: value for level, _, key, value in rows if level == 2}
    overall = next((value for level, _, _, value in rows if level == 3), 0)
    cells = [(number, key, value) for level, number, key, value in rows if level == 0]
    ranked = sorted(totals, key=lambda key: (-totals[key], key))
    if len(ranked) > limit:
        kept = ranked[:limit]
        params.update({f"k{n}": key for n, key in enumerate(kept)})
        listed = ", ".join(f"$k{n}" for n in range(len(kept)))
        grouped = f"SELECT bucket, CASE WHEN key IN ({listed}) THEN key ELSE '{OTHER}' END AS series, profile_id FROM ({selected})"
        rows = run(
            db,
            f"SELECT grouping(bucket, series), bucket, series, {count} FROM ({grouped}) "
            "GROUP BY GROUPING SETS ((bucket, series), (series))",
            params,
        )
        totals = {key: value for level, _, key, value in rows if level == 2}
        cells = [(number, key, value) for level, number, key, value in rows if level == 0]
    axis = buckets(span, interval)
    index = {day_number(bucket_day): n for n, bucket_day in enumerate(axis)}
    series: dict[str, list[int]] = {key: [0] * len(axis) for key in totals}
    for number, key, value in cells:
        series[key][index[number]] = value
    order = sorted(series, key=lambda key: (key == OTHER, -totals[key], key))
    return {
        "interval": interval,
        "by": by,
        "measure": measure,
        "buckets": [bucket_day.isoformat() for bucket_day in axis],
        "series": [{"key": key, "values": series[key], "total": totals[key]} for key in order],
        "total": overall,
    }
