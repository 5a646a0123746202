"""Reports over the query tables (`profiles`, `events`, `segment_members`; cdp.archive.duck):
trend, funnel, retention, distribution, LINE friends, the dashboard overview and messaging
results. Each is a pure function of a DuckDB connection and a `ReportRange` (local dates and a
time zone), reading only the columns it needs. docs/analytics.md defines every figure."""

from cdp.analytics.distribution import distribution
from cdp.analytics.friends import friends
from cdp.analytics.funnel import DEFAULT_STEPS, funnel
from cdp.analytics.messaging import messaging
from cdp.analytics.overview import overview
from cdp.analytics.range import DEFAULT_TZ, MAX_DAYS, ReportRange, parse_range
from cdp.analytics.retention import retention
from cdp.analytics.trend import trend

__all__ = [
    "DEFAULT_STEPS",
    "DEFAULT_TZ",
    "MAX_DAYS",
    "ReportRange",
    "distribution",
    "friends",
    "funnel",
    "messaging",
    "overview",
    "parse_range",
    "retention",
    "trend",
]
