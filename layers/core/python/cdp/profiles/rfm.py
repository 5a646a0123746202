"""RFM: recency, frequency and monetary scores (1-5) by quintiles over a population, and named groups.

A batch computation (a scheduled job runs it over all profiles); pure functions, no I/O.

Input rows are (profile_id, last_order_at, order_count, revenue) for one window of
`window_days` days ending at `now`: `order_count` and `revenue` are the window's figures (TWD),
`rfm_row` builds them from a profile's computed traits. A row takes part only if it has at
least one order in the window (order_count > 0 and last_order_at within the window, not after
`now`; the window is whole UTC days, as for the computed traits: the `window_days` days ending with
the day of `now`); every other row gets no scores and the group `none`.

Scores, among the rows that take part (n of them), for a value v of one dimension:
    score = 1 + floor(5 * (rows with a worse value than v) / n)
with "worse" meaning an older last order for R, fewer orders for F, less revenue for M. Equal
values therefore always get the same score, the lowest of the positions they share (as SQL's
RANK() would give), which makes ties deterministic and independent of input order.
With 5 distinct values the scores are 1..5; with 10, each score holds two rows.

Groups come from R and FM = the average of F and M rounded half up ((F + M + 1) // 2):

    R \\ FM   1            2            3        4          5
    5        new          potential    loyal    champions  champions
    4        new          potential    loyal    loyal      champions
    3        potential    potential    loyal    loyal      loyal
    2        hibernating  hibernating  at_risk  at_risk    at_risk
    1        lost         lost         at_risk  at_risk    at_risk

Champions bought recently and often/much; loyal buy regularly; new bought recently but little;
potential are recent-ish small buyers; at risk used to buy well but not lately; hibernating
and lost bought little and long ago (lost: the oldest fifth).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cdp.profiles.computed import BUCKET_DAYS, WORKSPACE_CURRENCY, window_figures
from cdp.profiles.model import Profile

SCORES = 5
DEFAULT_WINDOW_DAYS = 365
NO_GROUP = "none"
GROUP_TABLE: dict[int, tuple[str, str, str, str, str]] = {  # R -> group for FM = 1..5
    5: ("new", "potential", "loyal", "champions", "champions"),
    4: ("new", "potential", "loyal", "loyal", "champions"),
    3: ("potential", "potential", "loyal", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "at_risk"),
    1: ("lost", "lost", "at_risk", "at_risk", "at_risk"),
}
GROUPS = ("champions", "loyal", "potential", "new", "at_risk", "hibernating", "lost", NO_GROUP)


@dataclass(frozen=True, slots=True)
class RfmRow:
    profile_id: str
    last_order_at: str | None  # ISO-8601 UTC
    order_count: int
    revenue: float


@dataclass(frozen=True, slots=True)
class RfmScore:
    profile_id: str
    recency: int | None
    frequency: int | None
    monetary: int | None
    group: str

    @property
    def fm(self) -> int | None:
        if self.frequency is None or self.monetary is None:
            return None
        return (self.frequency + self.monetary + 1) // 2


def rfm_group(recency: int, frequency: int, monetary: int) -> str:
    for score in (recency, frequency, monetary):
        if not 1 <= score <= SCORES:
            raise ValueError(f"scores are 1 to {SCORES}, not {score}")
    return GROUP_TABLE[recency][(frequency + monetary + 1) // 2 - 1]


def rfm_scores(rows: Sequence[RfmRow], *, now: str, window_days: int = DEFAULT_WINDOW_DAYS) -> dict[str, RfmScore]:
    """Scores and group per profile id; see the module docstring for the rules."""
    if window_days < 1:
        raise ValueError(f"the window is at least one day, not {window_days}")
    end = _moment(now)
    first_day = end.date() - timedelta(days=window_days - 1)
    scored: list[tuple[RfmRow, float]] = []
    result: dict[str, RfmScore] = {}
    for row in rows:
        last = _moment(row.last_order_at) if row.last_order_at else None
        if row.order_count > 0 and last is not None and first_day <= last.date() and last <= end:
            scored.append((row, last.timestamp()))
        else:
            result[row.profile_id] = RfmScore(row.profile_id, None, None, None, NO_GROUP)
    recency = _scorer([stamp for _row, stamp in scored])
    frequency = _scorer([float(row.order_count) for row, _stamp in scored])
    monetary = _scorer([row.revenue for row, _stamp in scored])
    for row, stamp in scored:
        r, f, m = recency(stamp), frequency(float(row.order_count)), monetary(row.revenue)
        result[row.profile_id] = RfmScore(row.profile_id, r, f, m, rfm_group(r, f, m))
    return result


def rfm_row(profile: Profile, *, now: str, window_days: int = DEFAULT_WINDOW_DAYS) -> RfmRow:
    """A profile's RFM input for the window ending at `now`, from its computed traits.

    Windows up to the kept daily buckets (366 days) are exact; longer ones use all-time figures.
    RFM is evaluated at the present: a profile whose last order is after `now` sits out.
    """
    if window_days <= BUCKET_DAYS:
        orders, revenue = window_figures(profile.computed, now, window_days)
    else:
        orders, revenue = profile.order_count, profile.revenue.get(WORKSPACE_CURRENCY, 0.0)
    return RfmRow(profile.profile_id, profile.last_order_at, orders, revenue)


def rfm_for_profiles(
    profiles: Iterable[Profile], *, now: str, window_days: int = DEFAULT_WINDOW_DAYS
) -> dict[str, RfmScore]:
    """The batch entry point: scores and groups of every live profile (merged-away ones skipped)."""
    rows = [rfm_row(profile, now=now, window_days=window_days) for profile in profiles if not profile.merged_into]
    return rfm_scores(rows, now=now, window_days=window_days)


def _scorer(values: list[float]) -> Callable[[float], int]:
    ordered = sorted(values)

    def score(value: float) -> int:
        worse = bisect_left(ordered, value)  # rows with a strictly smaller value
        return 1 + (SCORES * worse) // len(ordered)

    return score


def _moment(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
