"""Events (or distinct people) per local day or week (weeks start on Monday), split by channel,
by event name or not at all; at most `limit` series, the rest summed into `other`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, run

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
    params: dict[str, Any] = {"start": span.start_utc, "end": span.end_utc, "tz": span.tz}
    where = "ts >= $start AND ts < $end"
    if names:
        params["names"] = list(names)
        where += " AND list_contains($names, name)"
    day = "CAST(timezone($tz, ts) AS DATE)"
    bucket = day if interval == "day" else f"CAST(date_trunc('week', {day}) AS DATE)"
    count = "count(*)" if measure == "events" else "count(DISTINCT profile_id)"
    selected = f"SELECT {bucket} AS bucket, {_KEY[by]} AS key, profile_id FROM events WHERE {where}"
    totals = dict(run(db, f"SELECT key, {count} FROM ({selected}) GROUP BY key", params))
    ranked = sorted(totals, key=lambda key: (-totals[key], key))
    kept = ranked[:limit] if len(ranked) > limit else ranked
    key_sql = "key"
    if len(kept) < len(ranked):
        params["kept"] = kept
        key_sql = f"CASE WHEN list_contains($kept, key) THEN key ELSE '{OTHER}' END"
        rest = run(db, f"SELECT {count} FROM ({selected}) WHERE NOT list_contains($kept, key)", params)
        totals = {key: totals[key] for key in kept} | {OTHER: rest[0][0]}
    cells = run(db, f"SELECT bucket, {key_sql} AS series, {count} FROM ({selected}) GROUP BY ALL", params)
    axis = buckets(span, interval)
    index = {bucket_day: n for n, bucket_day in enumerate(axis)}
    series: dict[str, list[int]] = {key: [0] * len(axis) for key in totals}
    for bucket_day, key, value in cells:
        series[key][index[bucket_day]] = value
    overall = run(db, f"SELECT {count} FROM ({selected})", params)
    order = sorted(series, key=lambda key: (key == OTHER, -totals[key], key))
    return {
        "interval": interval,
        "by": by,
        "measure": measure,
        "buckets": [bucket_day.isoformat() for bucket_day in axis],
        "series": [{"key": key, "values": series[key], "total": totals[key]} for key in order],
        "total": overall[0][0],
    }
