"""LINE friends per local day: new friends, unblocks, blocks, friends at the start and end of
the day, net growth and block rate.

- a block = a `LINE Unfollowed` event; an unblock = a `LINE Followed` whose `isUnblocked` is
  true; a new friend = any other `LINE Followed`;
- a person is a friend at an instant when their latest follow / unfollow event up to then is a
  follow (ties in time ordered by event id), so a redelivered follow does not count twice;
- block rate = blocks of the day / friends at the start of the day.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from cdp.analytics.range import ReportRange, day_of, rate, run

if TYPE_CHECKING:
    import duckdb

FOLLOWED = "LINE Followed"
UNFOLLOWED = "LINE Unfollowed"

_STATE = f"CASE WHEN name = '{UNFOLLOWED}' THEN 0 ELSE 1 END"
_KIND = (
    f"CASE WHEN name = '{UNFOLLOWED}' THEN 'block' "
    "WHEN coalesce(TRY_CAST(json_extract_string(properties, '$.isUnblocked') AS BOOLEAN), false) "
    "THEN 'unblock' ELSE 'new' END"
)
_FRIENDSHIP = f"name IN ('{FOLLOWED}', '{UNFOLLOWED}')"
# Per person, the friendship state before the range: their latest event before it (ties in time
# by event id), 1 = a friend.
BEFORE_SQL = f"""
SELECT profile_id, arg_max({_STATE}, (ts, event_id)) AS state
FROM events WHERE {_FRIENDSHIP} AND ts < $start GROUP BY profile_id
"""


def changes_sql(day: str, before: str) -> str:
    """Each follow / unfollow inside the range with its local day number and the change it makes
    to the friend count (+1, 0 or -1): the state after it minus the state before it (the
    person's previous event in the range, else their state before the range in the table
    `before` (BEFORE_SQL), else not a friend)."""
    return f"""
    SELECT c.profile_id, c.day, c.kind,
           c.state - coalesce(lag(c.state) OVER (PARTITION BY c.profile_id ORDER BY c.ts, c.event_id), b.state, 0)
               AS delta
    FROM (
        SELECT profile_id, ts, event_id, {day} AS day, {_STATE} AS state, {_KIND} AS kind
        FROM events WHERE {_FRIENDSHIP} AND ts >= $start AND ts < $end
    ) c LEFT JOIN {before} b USING (profile_id)
    """


@contextmanager
def friend_states(db: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> Iterator[str]:
    """A temporary table of BEFORE_SQL (read twice by a report), dropped afterwards."""
    table = f"friend_states_{uuid.uuid4().hex}"
    run(db, f"CREATE TEMP TABLE {table} AS {BEFORE_SQL}", params)
    try:
        yield table
    finally:
        db.execute(f"DROP TABLE IF EXISTS {table}")


def daily_changes(db: duckdb.DuckDBPyConnection, span: ReportRange) -> tuple[int, dict[date, dict[str, int]]]:
    """(friends at the start of the range, {local day: {new, unblock, block, delta}})."""
    params = {"start": span.start_utc, "end": span.end_utc}
    with friend_states(db, params) as states:
        before = run(db, f"SELECT coalesce(sum(state), 0) FROM {states}", params)[0][0]
        rows = run(
            db,
            f"""
            SELECT day, count(*) FILTER (WHERE kind = 'new'), count(*) FILTER (WHERE kind = 'unblock'),
                   count(*) FILTER (WHERE kind = 'block'), coalesce(sum(delta), 0)
            FROM ({changes_sql(span.day_sql(), states)}) GROUP BY day
            """,
            params,
        )
    days = {
        day_of(day): {"new": new, "unblock": unblock, "block": block, "delta": int(delta)}
        for day, new, unblock, block, delta in rows
    }
    return int(before), days


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
