"""Retention by first-purchase cohort and the repeat-purchase rate.

A person's cohort is the local week (starting Monday) or month of their first `Order Completed`
ever. Cohorts whose first day lies in the range are listed. `retained[k]` counts the cohort's
people with an order in the k-th period after the cohort's own (k = 0 is the cohort itself);
periods that have not begun at `now` are null. `repeat_buyers` of a cohort have at least two
orders ever. The range's repeat-purchase rate: people with at least two orders in the range over
people with at least one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from cdp.analytics.range import ReportRange, rate, run

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
    params: dict[str, Any] = {
        "tz": span.tz,
        "first": span.start,
        "last": span.end,
        "start": span.start_utc,
        "end": span.end_utc,
        "periods": periods,
    }
    offset = (
        "(CAST(o.pstart AS DATE) - c.cohort) // 7"
        if period == "week"
        else "date_diff('month', c.cohort, CAST(o.pstart AS DATE))"
    )
    orders = (
        f"SELECT profile_id, CAST(date_trunc('{period}', CAST(timezone($tz, ts) AS DATE)) AS DATE) AS pstart "
        f"FROM events WHERE name = '{ORDER_COMPLETED}'"
    )
    rows = run(
        db,
        f"""
        WITH o AS ({orders}),
        c AS (
            SELECT profile_id, min(pstart) AS cohort, count(*) AS orders FROM o GROUP BY profile_id
            HAVING min(pstart) BETWEEN $first AND $last
        )
        SELECT c.cohort, {offset} AS k, count(DISTINCT o.profile_id)
        FROM c JOIN o USING (profile_id)
        WHERE {offset} < $periods
        GROUP BY ALL
        """,
        params,
    )
    sizes = run(
        db,
        f"""
        SELECT cohort, count(*), count(*) FILTER (WHERE orders >= 2) FROM (
            SELECT profile_id, min(pstart) AS cohort, count(*) AS orders FROM ({orders}) GROUP BY profile_id
        ) WHERE cohort BETWEEN $first AND $last GROUP BY cohort
        """,
        params,
    )
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
