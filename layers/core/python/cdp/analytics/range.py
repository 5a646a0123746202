"""The date range every report takes: local dates `from`..`to` (inclusive) in an IANA time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp.errors import BadRequest

DEFAULT_TZ = "Asia/Taipei"
DEFAULT_DAYS = 30
MAX_DAYS = 400
INVALID = "invalid_parameter"


def invalid(field: str, message: str) -> BadRequest:
    """The one error of a malformed report parameter, naming the field."""
    return BadRequest(message, code=INVALID, details={"in": "query", "field": field})


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class ReportRange:
    start: date
    end: date  # inclusive
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def local_midnight(self, day: date) -> datetime:
        """The instant (UTC) a local day begins; DST-aware (a day may last 23 or 25 hours)."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def start_utc(self) -> datetime:
        return self.local_midnight(self.start)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: the start of the day after `end`."""
        return self.local_midnight(self.end + timedelta(days=1))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def echo(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "tz": self.tz}


def _date(field: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"`{field}` is a date YYYY-MM-DD") from None


def parse_zone(text: str | None) -> str:
    name = text or DEFAULT_TZ
    if len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise invalid("tz", "`tz` is an IANA time zone name, e.g. Asia/Taipei")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid("tz", f"`tz`: unknown time zone {name!r}; use an IANA name, e.g. Asia/Taipei") from None
    return name


def parse_range(start: str | None, end: str | None, tz: str | None, now: datetime) -> ReportRange:
    """Validate the three common parameters; `to` defaults to today in `tz`, `from` to 29 days before `to`."""
    zone = parse_zone(tz)
    last = _date("to", end) if end else now.astimezone(ZoneInfo(zone)).date()
    first = _date("from", start) if start else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise invalid("from", "`from` is after `to`")
    if (last - first).days + 1 > MAX_DAYS:
        raise invalid("from", f"the range is at most {MAX_DAYS} days")
    return ReportRange(first, last, zone)


def run(db: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Execute with the named parameters `sql` uses (DuckDB refuses unused ones)."""
    used = {name: value for name, value in params.items() if re.search(rf"\${name}\b", sql)}
    return list(db.execute(sql, used).fetchall())
