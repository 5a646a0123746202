"""The dashboard: friends, reachable people, buyers, revenue, block rate and tag coverage, each
with a value and a daily trend over the range (definitions in cdp.analytics.friends and
docs/analytics.md).

Friendship has a history (the follow / unfollow events); consent and tags are read as they are
now (the profile keeps no history of them), applied to each day's friends.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TYPE_CHECKING, Any

from cdp.analytics.friends import changes_sql, friend_states
from cdp.analytics.range import ReportRange, day_of, rate, run

if TYPE_CHECKING:
    import duckdb

ORDER_COMPLETED = "Order Completed"
REVENUE_SQL = (
    "coalesce(TRY_CAST(json_extract_string(properties, '$.revenue') AS DOUBLE), "
    "TRY_CAST(json_extract_string(properties, '$.total') AS DOUBLE), 0)"
)
_FLAGS = "json_extract(consent, ['$.\"email:marketing\"', '$.\"sms:marketing\"', '$.\"line:marketing\"'])"
# Per person now: reachable without LINE (a known email / phone whose marketing consent is
# granted), LINE marketing consent not withdrawn, at least one tag.
_PEOPLE_SQL = f"""
SELECT profile_id,
       (list_contains(identifier_types, 'email') AND f[1] = 'true'::JSON)
           OR (list_contains(identifier_types, 'phone') AND f[2] = 'true'::JSON) AS contact,
       coalesce(f[3] <> 'false'::JSON, true) AS line_ok,
       len(tags) > 0 AS tagged
FROM (SELECT profile_id, identifier_types, tags, {_FLAGS} AS f FROM profiles)
"""


def overview(db: duckdb.DuckDBPyConnection, span: ReportRange) -> dict[str, Any]:
    params = {"start": span.start_utc, "end": span.end_utc}
    table = f"overview_people_{uuid.uuid4().hex}"
    db.execute(f"CREATE TEMP TABLE {table} AS {_PEOPLE_SQL}")
    try:
        contact_now = run(db, f"SELECT count(*) FILTER (WHERE contact) FROM {table}", params)[0][0]
        # Friend-count changes by the person's (contact, LINE consent ok, tagged): before the
        # range per person, inside it per day.
        flags = "coalesce(p.contact, false), coalesce(p.line_ok, false), coalesce(p.tagged, false)"
        with friend_states(db, params) as states:
            before_rows = run(
                db,
                f"SELECT {flags}, coalesce(sum(b.state), 0) FROM {states} b LEFT JOIN {table} p USING (profile_id) "
                "GROUP BY ALL",
                params,
            )
            rows = run(
                db,
                f"""
                SELECT c.day, {flags}, count(*) FILTER (WHERE c.kind = 'block'), coalesce(sum(c.delta), 0)
                FROM ({changes_sql(span.day_sql(), states)}) c LEFT JOIN {table} p USING (profile_id)
                GROUP BY ALL
                """,
                params,
            )
    finally:
        db.execute(f"DROP TABLE IF EXISTS {table}")
    orders = run(
        db,
        f"""
        SELECT day, count(DISTINCT profile_id), round(sum(revenue), 2) FROM (
            SELECT {span.day_sql()} AS day, profile_id, {REVENUE_SQL} AS revenue
            FROM events WHERE name = '{ORDER_COMPLETED}' AND ts >= $start AND ts < $end
        ) GROUP BY day
        """,
        params,
    )
    buyers_in_range = run(
        db,
        f"SELECT count(DISTINCT profile_id) FROM events WHERE name = '{ORDER_COMPLETED}' AND ts >= $start AND ts < $end",
        params,
    )[0][0]

    # Running counts: friends, friends reachable by LINE but not by contact, tagged friends.
    friends = reach_line = tagged = 0
    for contact, line_ok, has_tag, count in before_rows:
        count = int(count)
        friends += count
        reach_line += count if (line_ok and not contact) else 0
        tagged += count if has_tag else 0
    blocks: dict[date, int] = {}
    moves: dict[date, tuple[int, int, int]] = {}
    for number, contact, line_ok, has_tag, day_blocks, delta in rows:
        day, delta = day_of(number), int(delta)
        extra_line = delta if (line_ok and not contact) else 0
        extra_tag = delta if has_tag else 0
        blocks[day] = blocks.get(day, 0) + day_blocks
        old = moves.get(day, (0, 0, 0))
        moves[day] = (old[0] + delta, old[1] + extra_line, old[2] + extra_tag)
    by_day = {day_of(number): (people, round(float(revenue or 0), 2)) for number, people, revenue in orders}
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
