"""The dashboard: friends, reachable people, buyers, revenue, block rate and tag coverage, each
with a value and a daily trend over the range (definitions in cdp.analytics.friends and
docs/analytics.md).

Friendship has a history (the follow / unfollow events); consent and tags are read as they are
now (the profile keeps no history of them), applied to each day's friends.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from cdp.analytics.friends import CHANGES_SQL
from cdp.analytics.range import ReportRange, rate

if TYPE_CHECKING:
    import duckdb

ORDER_COMPLETED = "Order Completed"
REVENUE_SQL = (
    "coalesce(TRY_CAST(json_extract_string(properties, '$.revenue') AS DOUBLE), "
    "TRY_CAST(json_extract_string(properties, '$.total') AS DOUBLE), 0)"
)
# Reachable without LINE: a known email / phone whose marketing consent is granted.
_CONTACT_SQL = (
    "((list_contains(identifier_types, 'email') AND json_extract(consent, '$.\"email:marketing\"') = 'true'::JSON)"
    " OR (list_contains(identifier_types, 'phone') AND json_extract(consent, '$.\"sms:marketing\"') = 'true'::JSON))"
)
# LINE reachability of a friend: marketing consent not withdrawn.
_LINE_OK_SQL = "coalesce(json_extract(consent, '$.\"line:marketing\"') <> 'false'::JSON, true)"


def overview(db: duckdb.DuckDBPyConnection, span: ReportRange) -> dict[str, Any]:
    params = {"start": span.start_utc, "end": span.end_utc, "tz": span.tz}
    # Friend-count changes by (reachable by contact, LINE consent ok, tagged) of the person now.
    people = f"SELECT profile_id, {_CONTACT_SQL} AS contact, {_LINE_OK_SQL} AS line_ok, len(tags) > 0 AS tagged FROM profiles"
    rows = db.execute(
        f"""
        WITH overview_people AS ({people})
        SELECT CASE WHEN c.ts < $start THEN NULL ELSE CAST(timezone($tz, c.ts) AS DATE) END AS day,
               coalesce(p.contact, false), coalesce(p.line_ok, false), coalesce(p.tagged, false),
               count(*) FILTER (WHERE c.kind = 'block'), coalesce(sum(c.delta), 0)
        FROM ({CHANGES_SQL}) c LEFT JOIN overview_people p USING (profile_id)
        GROUP BY ALL
        """,
        params,
    ).fetchall()
    contact_now = _scalar(db, f"SELECT count(*) FROM profiles WHERE {_CONTACT_SQL}")
    orders = db.execute(
        f"""
        SELECT day, count(DISTINCT profile_id), round(sum(revenue), 2) FROM (
            SELECT CAST(timezone($tz, ts) AS DATE) AS day, profile_id, {REVENUE_SQL} AS revenue
            FROM events WHERE name = '{ORDER_COMPLETED}' AND ts >= $start AND ts < $end
        ) GROUP BY day
        """,
        params,
    ).fetchall()
    buyers_in_range = _scalar(
        db,
        f"SELECT count(DISTINCT profile_id) FROM events WHERE name = '{ORDER_COMPLETED}' AND ts >= $start AND ts < $end",
        {"start": span.start_utc, "end": span.end_utc},
    )

    # Running counts: friends, friends reachable by LINE but not by contact, tagged friends.
    friends = reach_line = tagged = 0
    blocks: dict[date, int] = {}
    moves: dict[date, tuple[int, int, int]] = {}
    for day, contact, line_ok, has_tag, day_blocks, delta in rows:
        delta = int(delta)
        extra_line = delta if (line_ok and not contact) else 0
        extra_tag = delta if has_tag else 0
        if day is None:
            friends, reach_line, tagged = friends + delta, reach_line + extra_line, tagged + extra_tag
            continue
        blocks[day] = blocks.get(day, 0) + day_blocks
        old = moves.get(day, (0, 0, 0))
        moves[day] = (old[0] + delta, old[1] + extra_line, old[2] + extra_tag)
    by_day = {day: (people, round(float(revenue or 0), 2)) for day, people, revenue in orders}
    start_friends = friends
    trends: dict[str, list[Any]] = {name: [] for name in ("friends", "reachable", "buyers", "revenue")}
    trends.update({"block_rate": [], "tag_coverage": []})
    for day in span.days():
        before = friends
        move = moves.get(day, (0, 0, 0))
        friends, reach_line, tagged = friends + move[0], reach_line + move[1], tagged + move[2]
        trends["friends"].append(friends)
        trends["reachable"].append(contact_now + reach_line)
        people, revenue = by_day.get(day, (0, 0.0))
        trends["buyers"].append(people)
        trends["revenue"].append(revenue)
        trends["block_rate"].append(rate(blocks.get(day, 0), before))
        trends["tag_coverage"].append(rate(tagged, friends))
    values = {
        "friends": friends,
        "reachable": contact_now + reach_line,
        "buyers": buyers_in_range,
        "revenue": round(sum(trends["revenue"]), 2),
        "block_rate": rate(sum(blocks.values()), start_friends),
        "tag_coverage": rate(tagged, friends),
    }
    return {
        "days": [day.isoformat() for day in span.days()],
        "kpis": {name: {"value": values[name], "trend": trends[name]} for name in values},
    }


def _scalar(db: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> int:
    row = db.execute(sql, params or {}).fetchone()
    return int(row[0]) if row else 0
