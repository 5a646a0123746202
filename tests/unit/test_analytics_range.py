"""The report range: parameter validation (400 invalid_parameter naming the field) and the local
day of an instant computed by epoch arithmetic, against zoneinfo."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pytest
from cdp.analytics.range import ReportRange, day_of, parse_range
from cdp.errors import BadRequest

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # already 2026-12-07 in Taipei, still 12-06 in New York


@pytest.mark.parametrize(
    ("start", "end", "tz", "field"),
    [
        ("2026-13-01", None, None, "from"),
        ("2026-1-1", None, None, "from"),
        ("20261101", None, None, "from"),
        (None, "tomorrow", None, "to"),
        (None, "2026-02-30", None, "to"),
        ("2026-11-02", "2026-11-01", None, "from"),
        ("2025-11-01", "2026-12-06", None, "from"),  # 401 days
        (None, None, "Mars/Olympus", "tz"),
        (None, None, "../../etc/passwd", "tz"),
        (None, None, "/etc/localtime", "tz"),
        (None, None, "posixrules", "tz"),
        (None, None, "America", "tz"),
        (None, None, "x" * 65, "tz"),
    ],
)
def test_malformed_parameters_name_their_field(start: str | None, end: str | None, tz: str | None, field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_range(start, end, tz, NOW)
    assert refused.value.code == "invalid_parameter"
    assert refused.value.details == {"in": "query", "field": field}


def test_defaults_are_the_last_30_local_days_in_taipei() -> None:
    assert parse_range(None, None, None, NOW) == ReportRange(date(2026, 11, 8), date(2026, 12, 7), "Asia/Taipei")
    in_new_york = parse_range(None, None, "America/New_York", NOW)
    assert (in_new_york.start, in_new_york.end) == (date(2026, 11, 7), date(2026, 12, 6))
    assert parse_range("2025-11-02", "2026-12-06", "UTC", NOW).days()[-1] == date(2026, 12, 6)  # 400 days


def test_a_range_is_its_local_midnights_dst_included() -> None:
    span = ReportRange(date(2026, 11, 1), date(2026, 11, 1), "America/New_York")
    assert (span.start_utc, span.end_utc) == (
        datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 5, 0, tzinfo=UTC),  # the 25-hour day
    )


@pytest.mark.parametrize(
    "tz", ["Asia/Taipei", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
)
def test_the_local_day_by_epoch_arithmetic_is_zoneinfos(tz: str) -> None:
    span = ReportRange(date(2026, 1, 1), date(2026, 12, 31), tz)
    rng = random.Random(tz)
    moments = [span.start_utc + timedelta(seconds=rng.randrange(366 * 86400)) for _ in range(3000)]
    zone = ZoneInfo(tz)
    for transition in (datetime(2026, 3, 8, 7, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)):
        moments += [transition + timedelta(seconds=s) for s in range(-3, 4)]
    db = duckdb.connect()
    rows = db.execute(
        f"SELECT x, {span.day_sql('x')} FROM (SELECT unnest(?::TIMESTAMPTZ[]) AS x)", [moments]
    ).fetchall()
    assert len(rows) == len(moments)
    for moment, number in rows:
        assert day_of(number) == moment.astimezone(zone).date(), moment
