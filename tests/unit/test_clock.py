"""Time helpers: ISO-8601 with milliseconds, exact conversions both ways."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

from cdp.clock import SystemClock, epoch_seconds, install_time_source, iso_from_ms, ms_from_datetime
from hypothesis import given
from hypothesis import strategies as st

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLIS = st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)  # the years 2000..2099


def test_iso_from_ms_is_utc_with_milliseconds_and_z() -> None:
    assert iso_from_ms(1_714_557_654_321) == "2024-05-01T10:00:54.321Z"
    assert iso_from_ms(1_714_557_600_000) == "2024-05-01T10:00:00.000Z"


@given(MILLIS)
def test_iso_from_ms_is_exact(ms: int) -> None:
    # Given any millisecond instant
    # When it is formatted
    # Then the text is that exact instant (no float rounding)
    expected = (EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert iso_from_ms(ms) == expected


@given(MILLIS, st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_ms_from_datetime_round_trips_in_any_offset(ms: int, offset_minutes: int) -> None:
    # Given an instant expressed in any UTC offset
    moment = (EPOCH + timedelta(milliseconds=ms)).astimezone(timezone(timedelta(minutes=offset_minutes)))

    # When it is converted to epoch milliseconds
    # Then it is the same instant, to the millisecond
    assert ms_from_datetime(moment) == ms


def test_ms_from_datetime_drops_sub_millisecond_precision() -> None:
    assert ms_from_datetime(datetime(2024, 5, 1, 10, 0, 0, 999_999, tzinfo=UTC)) == 1_714_557_600_999


def test_epoch_seconds_reads_the_iso_form() -> None:
    assert epoch_seconds("2024-05-01T10:00:54.321Z") == 1_714_557_654


def test_system_clock_reads_the_installed_time_source_and_the_machine_clock_again_after() -> None:
    # Given a runtime that installs its own time source (the local stack's shared clock)
    previous = install_time_source(lambda: 1_798_124_400_000)
    try:
        # Then every SystemClock reads it, as epoch ms and as an aware datetime
        assert SystemClock().now_ms() == 1_798_124_400_000
        assert SystemClock().now() == datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    finally:
        install_time_source(previous)
    # And once put back, the machine's clock answers again
    assert abs(SystemClock().now_ms() - time.time_ns() // 1_000_000) < 5_000
