"""Time as a port, so tests and the local runtime's virtual clock can control it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


def iso_from_ms(ms: int) -> str:
    """ISO-8601 UTC with millisecond precision and a `Z`, the form the Segment spec uses."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms_from_datetime(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly: `timestamp() * 1000` can lose the last ms."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_seconds(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
