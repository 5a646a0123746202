"""LINE friends per local day: new friends, unblocks, blocks, friends at the start and end of
the day, net growth and block rate.

- a block = a `LINE Unfollowed` event; an unblock = a `LINE Followed` whose `isUnblocked` is
  true; a new friend = any other `LINE Followed`;
- a person is a friend at an instant when their latest follow / unfollow event up to then is a
  follow (ties in time ordered by event id), so a redelivered follow does not count twice;
- block rate = blocks of the day / friends at the start of the day.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, rate

if TYPE_CHECKING:
    import duckdb

FOLLOWED = "LINE Followed"
UNFOLLOWED = "LINE Unfollowed"

# Each follow / unfollow with the change it makes to the friend count (+1, 0 or -1): the new
# state (friend or not) minus the state before it (not a friend before the first event).
CHANGES_SQL = f"""
SELECT profile_id, ts, kind,
       state - coalesce(lag(state) OVER (PARTITION BY profile_id ORDER BY ts, event_id), 0) AS delta
FROM (
    SELECT profile_id, ts, event_id,
           CASE WHEN name = '{UNFOLLOWED}' THEN 0 ELSE 1 END AS state,
           CASE WHEN name = '{UNFOLLOWED}' THEN 'block'
                WHEN coalesce(TRY_CAST(json_extract_string(properties, '$.isUnblocked') AS BOOLEAN), false)
                THEN 'unblock' ELSE 'new' END AS kind
    FROM events WHERE name IN ('{FOLLOWED}', '{UNFOLLOWED}') AND ts < $end
)
"""


def daily_changes(db: duckdb.DuckDBPyConnection, span: ReportRange) -> tuple[int, dict[date, dict[str, int]]]:
    """(friends at the start of the range, {local day: {new, unblock, block, delta}})."""
    rows = db.execute(
        f"""
        SELECT CASE WHEN ts < $start THEN NULL ELSE CAST(timezone($tz, ts) AS DATE) END AS day,
               count(*) FILTER (WHERE kind = 'new'), count(*) FILTER (WHERE kind = 'unblock'),
               count(*) FILTER (WHERE kind = 'block'), coalesce(sum(delta), 0)
        FROM ({CHANGES_SQL}) GROUP BY 1
        """,
        {"start": span.start_utc, "end": span.end_utc, "tz": span.tz},
    ).fetchall()
    before = 0
    days: dict[date, dict[str, int]] = {}
    for day, new, unblock, block, delta in rows:
        if day is None:
            before = int(delta)
        else:
            days[day] = {"new": new, "unblock": unblock, "block": block, "delta": int(delta)}
    return before, days


def friends(db: duckdb.DuckDBPyConnection, span: ReportRange) -> dict[str, Any]:
    before, changes = daily_changes(db, span)
    rows: list[dict[str, Any]] = []
    count = before
    for day in span.days():
        change = changes.get(day, {"new": 0, "unblock": 0, "block": 0, "delta": 0})
        start, count = count, count + change["delta"]
        rows.append(
            {
                "date": day.isoformat(),
                "new_friends": change["new"],
                "unblocks": change["unblock"],
                "blocks": change["block"],
                "net_growth": count - start,
                "friends_start": start,
                "friends_end": count,
                "block_rate": rate(change["block"], start),
            }
        )
    blocks = sum(row["blocks"] for row in rows)
    totals = {
        "new_friends": sum(row["new_friends"] for row in rows),
        "unblocks": sum(row["unblocks"] for row in rows),
        "blocks": blocks,
        "net_growth": count - before,
        "friends_start": before,
        "friends_end": count,
        "block_rate": rate(blocks, before),
    }
    return {"days": rows, "totals": totals}
