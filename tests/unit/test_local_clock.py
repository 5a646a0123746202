"""The local stack's clock: real until moved, then an offset that keeps running; what a move accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.local.clock import ClockError, LocalClock, parse_duration, parse_instant


class Machine:
    """The machine's clock, moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_clock_is_real_until_moved_then_runs_on_from_where_it_was_put() -> None:
    machine = Machine(1_800_000_000.0)
    clock = LocalClock(machine)
    assert (clock.now(), clock.virtual) == (1_800_000_000.0, False)
    clock.set(datetime(2026, 12, 24, 23, 0, tzinfo=UTC))
    machine.now += 90  # real time passes: virtual time passes with it
    assert clock.now() == datetime(2026, 12, 24, 23, 1, 30, tzinfo=UTC).timestamp()
    clock.advance(timedelta(hours=10))
    assert clock.now_ms() == int(datetime(2026, 12, 25, 9, 1, 30, tzinfo=UTC).timestamp() * 1000)
    assert clock.snapshot()["now"] == "2026-12-25T09:01:30.000Z" and clock.snapshot()["virtual"] is True
    clock.real()
    assert (clock.now(), clock.virtual, clock.offset) == (machine.now, False, 0.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT10H", timedelta(hours=10)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("P2W", timedelta(weeks=2)),
        ("PT0.5S", timedelta(milliseconds=500)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
    ],
)
def test_advance_takes_an_iso_8601_duration_or_seconds(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["P1M", "P1Y", "10 hours", "-PT1H", -5, True, None, "P", float("nan")])
def test_advance_refuses_calendar_lengths_negatives_and_nonsense(value: object) -> None:
    with pytest.raises(ClockError):
        parse_duration(value)


def test_set_needs_an_offset_and_reads_z_offsets_and_epoch_ms() -> None:
    assert parse_instant("2026-12-24T23:00:00+08:00") == datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    assert parse_instant("2026-12-24T15:00:00Z") == datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    assert parse_instant(1_798_124_400_000) == datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    for bad in ("2026-12-24T23:00:00", "tomorrow", 3.5, None):
        with pytest.raises(ClockError):
            parse_instant(bad)


def test_moving_the_clock_tells_its_listeners_until_they_unsubscribe() -> None:
    clock = LocalClock(Machine(1_800_000_000.0))
    moves: list[float] = []
    unsubscribe = clock.on_move(lambda: moves.append(clock.now()))
    clock.advance(timedelta(minutes=30))
    clock.set(datetime(2026, 12, 24, 23, 0, tzinfo=UTC))
    clock.real()
    assert moves == [1_800_001_800.0, datetime(2026, 12, 24, 23, 0, tzinfo=UTC).timestamp(), 1_800_000_000.0]
    unsubscribe()
    clock.advance(timedelta(hours=1))
    assert len(moves) == 3
