"""A funnel: ordered steps per person within a conversion window, split by channel group.

A person enters with their first step-1 event inside the range (ties in time: the smaller event
id). Step k is reached by the earliest step-k event at or after the time step k-1 was reached
and at most `window_days` after the entry (it may fall after the range). The person's channel
group is the channel of the entering event: online (web, app), offline (pos), LINE (line),
other (anything else). Per step: people, conversion from the previous step, overall conversion
from the entry, and the median time from the previous step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, rate, run

if TYPE_CHECKING:
    import duckdb

DEFAULT_STEPS = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed")
DEFAULT_WINDOW_DAYS = 7
MIN_STEPS, MAX_STEPS = 2, 8
GROUPS = ("all", "online", "offline", "line", "other")
CHANNEL_GROUPS = {"web": "online", "app": "online", "pos": "offline", "line": "line"}
_GROUP_SQL = (
    "CASE WHEN channel IN ('web', 'app') THEN 'online' WHEN channel = 'pos' THEN 'offline' "
    "WHEN channel = 'line' THEN 'line' ELSE 'other' END"
)


def channel_group(channel: str | None) -> str:
    return CHANNEL_GROUPS.get(channel or "", "other")


def funnel(
    db: duckdb.DuckDBPyConnection,
    span: ReportRange,
    *,
    steps: Sequence[str] = DEFAULT_STEPS,
    window_days: int = DEFAULT_WINDOW_DAYS,
) -> dict[str, Any]:
    if not MIN_STEPS <= len(steps) <= MAX_STEPS or len(set(steps)) != len(steps):
        raise ValueError("2 to 8 distinct steps")
    params: dict[str, Any] = {
        "start": span.start_utc,
        "end": span.end_utc,
        "last": span.end_utc + timedelta(days=window_days),
        "window": timedelta(days=window_days),
    }
    for n, name in enumerate(steps):
        params[f"s{n}"] = name
    # One column t<k> per step, null when not reached: the joins run on the few people of the
    # previous step, each reading only the events of its own name.
    sql = (
        "SELECT profile_id, arg_min(coalesce(channel, ''), (ts, event_id)) AS channel, min(ts) AS t0 "
        "FROM events WHERE name = $s0 AND ts >= $start AND ts < $end GROUP BY profile_id"
    )
    for n in range(1, len(steps)):
        previous = ", ".join(f"any_value(f.t{k}) AS t{k}" for k in range(n))
        sql = f"""
        SELECT f.profile_id, any_value(f.channel) AS channel, {previous}, min(e.ts) AS t{n}
        FROM ({sql}) f LEFT JOIN (
            SELECT profile_id, ts FROM events WHERE name = $s{n} AND ts >= $start AND ts <= $last
        ) e ON e.profile_id = f.profile_id AND f.t{n - 1} IS NOT NULL
           AND e.ts >= f.t{n - 1} AND e.ts <= f.t0 + $window
        GROUP BY f.profile_id
        """
    figures = ["count(*)"]
    for n in range(1, len(steps)):
        figures.append(f"count(t{n})")
        figures.append(f"median(epoch(t{n}) - epoch(t{n - 1})) FILTER (WHERE t{n} IS NOT NULL)")
    rows = run(
        db,
        f"SELECT {_GROUP_SQL} AS grp, {', '.join(figures)} FROM ({sql}) GROUP BY ROLLUP (grp)",
        params,
    )
    groups = {group: _group(steps, None) for group in GROUPS}
    for row in rows:
        groups["all" if row[0] is None else row[0]] = _group(steps, row[1:])
    return {"steps": list(steps), "window_days": window_days, "groups": groups}


def _group(steps: Sequence[str], figures: Sequence[Any] | None) -> dict[str, Any]:
    entered = int(figures[0]) if figures else 0
    rows: list[dict[str, Any]] = [
        {
            "name": steps[0],
            "people": entered,
            "conversion": None,
            "overall": rate(entered, entered),
            "median_seconds": None,
        }
    ]
    previous = entered
    for n in range(1, len(steps)):
        people = int(figures[2 * n - 1]) if figures else 0
        median = figures[2 * n] if figures else None
        rows.append(
            {
                "name": steps[n],
                "people": people,
                "conversion": rate(people, previous),
                "overall": rate(people, entered),
                "median_seconds": round(float(median), 3) if median is not None else None,
            }
        )
        previous = people
    return {"entered": entered, "steps": rows}
