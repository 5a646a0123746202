"""Retention by first-purchase cohort and the repeat-purchase rate.

A person's cohort is the local week (starting Monday) or month of their first `Order Completed`
ever. Cohorts whose first day lies in the range are listed. `retained[k]` counts the cohort's
people with an order in the k-th period after the cohort's own (k = 0 is the cohort itself);
periods that have not begun at `now` are null. `repeat_buyers` of a cohort have at least two
orders ever. The range's repeat-purchase rate: people with at least two orders in the range over
people with at least one.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cdp.analytics.range import ReportRange, local_day_sql, rate, run

if TYPE_CHECKING:
    import duckdb

PERIODS = ("week", "month")
DEFAULT_PERIODS, MAX_PERIODS = 12, 52
ORDER_COMPLETED = "Order Completed"


def period_start(day: date, period: str) -> date:
    if period == "week":
        return date.fromordinal(day.toordinal() - day.weekday())
    return day.replace(day=1)


def shift(start: date, period: str, count: int) -> date:
    if period == "week":
        return date.fromordinal(start.toordinal() + 7 * count)
    months = start.year * 12 + start.month - 1 + count
    return date(months // 12, months % 12 + 1, 1)


def retention(
    db: duckdb.DuckDBPyConnection,
    span: ReportRange,
    now: datetime,
    *,
    period: str = "week",
    periods: int = DEFAULT_PERIODS,
) -> dict[str, Any]:
    if period not in PERIODS or not 1 <= periods <= MAX_PERIODS:
        raise ValueError("period or periods out of range")
    # Cohorts whose first day lies in the range: people whose first order falls between the
    # first period start on or after `from` and the end of the period `to` lies in.
    first = period_start(span.start, period)
    first = first if first == span.start else shift(first, period, 1)
    last = shift(period_start(span.end, period), period, 1)
    lo, hi = span.local_midnight(first), span.local_midnight(max(first, last))
    params: dict[str, Any] = {"lo": lo, "hi": hi, "start": span.start_utc, "end": span.end_utc, "periods": periods}

    def local(column: str) -> str:  # the first day of the local period of a time
        day = local_day_sql(column, span.zone, lo, max(hi, now))
        return f"CAST(date_trunc('{period}', DATE '1970-01-01' + CAST({day} AS INTEGER)) AS DATE)"

    offset = "(o.at - c.cohort) // 7" if period == "week" else "date_diff('month', c.cohort, o.at)"
    table = f"retention_cohorts_{uuid.uuid4().hex}"
    run(
        db,
        f"""
        CREATE TEMP TABLE {table} AS
        SELECT profile_id, orders, {local("first_ts")} AS cohort FROM (
            SELECT profile_id, min(ts) AS first_ts, count(*) AS orders
            FROM events WHERE name = '{ORDER_COMPLETED}' GROUP BY profile_id
        ) WHERE first_ts >= $lo AND first_ts < $hi
        """,
        params,
    )
    try:
        rows = run(
            db,
            f"""
            SELECT c.cohort, {offset} AS k, count(DISTINCT o.profile_id)
            FROM {table} c JOIN (
                SELECT profile_id, {local("ts")} AS at FROM events WHERE name = '{ORDER_COMPLETED}' AND ts >= $lo
            ) o USING (profile_id)
            WHERE {offset} < $periods
            GROUP BY ALL
            """,
            params,
        )
        sizes = run(
            db, f"SELECT cohort, count(*), count(*) FILTER (WHERE orders >= 2) FROM {table} GROUP BY cohort", params
        )
    finally:
        db.execute(f"DROP TABLE IF EXISTS {table}")
    repeat = run(
        db,
        f"""
        SELECT count(*), count(*) FILTER (WHERE orders >= 2) FROM (
            SELECT profile_id, count(*) AS orders FROM events
            WHERE name = '{ORDER_COMPLETED}' AND ts >= $start AND ts < $end GROUP BY profile_id
        )
        """,
        params,
    )[0]
    today = now.astimezone(ZoneInfo(span.tz)).date()
    retained: dict[tuple[date, int], int] = {(cohort, int(k)): people for cohort, k, people in rows}
    cohorts = []
    for cohort, size, repeaters in sorted(sizes):
        kept = [retained.get((cohort, k), 0) if shift(cohort, period, k) <= today else None for k in range(periods)]
        cohorts.append(
            {
                "cohort": cohort.isoformat(),
                "size": size,
                "retained": kept,
                "rates": [None if value is None else rate(value, size) for value in kept],
                "repeat_buyers": repeaters,
            }
        )
    buyers, repeat_buyers = repeat
    return {
        "period": period,
        "periods": periods,
        "cohorts": cohorts,
        "repeat_purchase": {"buyers": buyers, "repeat_buyers": repeat_buyers, "rate": rate(repeat_buyers, buyers)},
    }
