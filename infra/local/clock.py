"""One clock for the whole local stack: the functions (through the clock port), the LINE fake and
the local scheduler all read it.

Real time until someone sets or advances it; from then on virtual time runs at real speed from
the point it was moved to (an offset from the machine's clock), so waits, timeouts and TTLs keep
working while the stack lives "at" another moment. Going back to real time drops the offset.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

_DURATION = TypeAdapter(timedelta)
# Calendar months and years have no fixed length: a duration must say days (or weeks) instead.
_CALENDAR_PART = re.compile(r"^P[^T]*[YM]", re.IGNORECASE)


class ClockError(ValueError):
    """A request to move the clock that cannot be honoured; the message says why."""


def parse_duration(value: Any) -> timedelta:
    """Seconds (a number) or an ISO-8601 duration (`PT10H`, `P1DT2H`, `P2W`), never negative."""
    if isinstance(value, bool):
        raise ClockError("advance wants seconds (a number) or an ISO-8601 duration such as PT10H")
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            raise ClockError("advance must be a finite number of seconds")
        duration = timedelta(seconds=seconds)
    elif isinstance(value, str):
        text = value.strip()
        if not text.upper().startswith("P"):
            raise ClockError(f"not an ISO-8601 duration: {value!r} (for example PT10H or P1DT2H)")
        if _CALENDAR_PART.match(text):
            raise ClockError(f"{value!r}: months and years have no fixed length; give days (P30D) instead")
        try:
            duration = _DURATION.validate_python(text)
        except ValidationError as error:
            raise ClockError(f"not an ISO-8601 duration: {value!r} (for example PT10H or P1DT2H)") from error
    else:
        raise ClockError("advance wants seconds (a number) or an ISO-8601 duration such as PT10H")
    if duration < timedelta(0):
        raise ClockError("the clock only advances; set it to an earlier time instead")
    return duration


def parse_instant(value: Any) -> datetime:
    """An ISO-8601 date-time with its offset (`2026-12-24T23:00:00+08:00`, `...Z`), or epoch ms."""
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if not isinstance(value, str):
        raise ClockError("set wants an ISO-8601 date-time with an offset, such as 2026-12-24T23:00:00+08:00")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as error:
        raise ClockError(f"not an ISO-8601 date-time: {value!r}") from error
    if moment.tzinfo is None:
        raise ClockError(f"{value!r} has no offset: say which time zone it is in (Z, +08:00)")
    return moment


def iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalClock:
    """Thread-safe. Moving it fires no schedule by itself (the stack's clock route asks the
    scheduler); it tells its listeners, so whatever waits on it (Step Functions' Wait states and
    task timeouts) looks at its deadline again."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source  # the machine's clock (tests may pass their own)
        self._offset = 0.0
        self._virtual = False
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def on_move(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after every set, advance or reset; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _moved(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def now(self) -> float:
        """Epoch seconds."""
        with self._lock:
            return self._source() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    @property
    def virtual(self) -> bool:
        with self._lock:
            return self._virtual

    @property
    def offset(self) -> float:
        """Seconds between this clock and the machine's (0 in real time)."""
        with self._lock:
            return self._offset

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._offset = moment.timestamp() - self._source()
            self._virtual = True
        self._moved()

    def advance(self, duration: timedelta) -> None:
        with self._lock:
            self._offset += duration.total_seconds()
            self._virtual = True
        self._moved()

    def real(self) -> None:
        """Back to the machine's time."""
        with self._lock:
            self._offset = 0.0
            self._virtual = False
        self._moved()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self._source() + self._offset
            return {
                "now": iso(now),
                "now_ms": int(now * 1000),
                "virtual": self._virtual,
                "offset_seconds": round(self._offset, 3),
            }
