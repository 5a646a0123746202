"""Time as a port, so tests and the local runtime's virtual clock can control it.

Product code reads the time only through `SystemClock` (or the helpers below). What it reads is
the runtime's time source: the machine's clock in Lambda; the runtime hosting the functions may
install another (the local stack installs its shared clock), and product code cannot tell.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TimeSource = Callable[[], int]  # epoch milliseconds


def _machine_ms() -> int:
    return time.time_ns() // 1_000_000


_source: TimeSource = _machine_ms


def install_time_source(source: TimeSource | None) -> TimeSource:
    """Where `SystemClock` reads the time from now on (None: the machine's clock); answers the
    previous source so the caller can put it back."""
    global _source
    previous = _source
    _source = source or _machine_ms
    return previous


class SystemClock:
    def now_ms(self) -> int:
        return _source()

    def now(self) -> datetime:
        """The same instant as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_ms() / 1000, tz=UTC)


def iso_from_ms(ms: int) -> str:
    """ISO-8601 UTC with millisecond precision and a `Z`, the form the Segment spec uses."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms_from_datetime(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly: `timestamp() * 1000` can lose the last ms."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
