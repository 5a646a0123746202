"""EventBridge Scheduler, locally: the schedules live in moto; this fires them when they fall due.

The stack's clock (virtual or real) decides when: a background tick fires what the passing of
real time made due, and moving the virtual clock (`POST /_local/clock`) fires at once, in time
order, every occurrence it stepped over: one-time `at(...)`, `rate(...)` and `cron(...)`, in the
schedule's `ScheduleExpressionTimezone`, between its `StartDate` and `EndDate`. Each due time
fires exactly once; the target gets the schedule's `Input` with the context attributes
(`<aws.scheduler.scheduled-time>` ...) filled in, like the service does.

Deliberate differences from the service: an occurrence fires at its exact due time (no 60 s
precision, no flexible window); a `rate(...)` schedule without `StartDate` first fires one period
after it was created (the service fires it at once), so creating a segment does not run its
recompute by itself; a failed invocation is recorded, not retried.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from infra.local.clock import LocalClock, iso

LOGGER = logging.getLogger(__name__)
TICK_SECONDS = 1.0
# Moving the clock a year over a `rate(1 minute)` schedule is half a million invocations: fire at
# most this many per move or tick; the rest stay due and fire on the next ticks (none is lost).
MAX_FIRINGS_PER_PASS = 10_000

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+)\s+(minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class ScheduleExpressionError(ValueError):
    """An expression (or time zone) the local scheduler cannot evaluate; the message says why."""


def _aws_weekday(token: str) -> str:
    """EventBridge numbers days 1-7 from Sunday; croniter 0-6. Names pass through."""
    if token.isdigit():
        number = int(token)
        if not 1 <= number <= 7:
            raise ScheduleExpressionError(f"day-of-week {token} is outside 1-7")
        return str(number - 1)
    if token.upper() in _DAY_NAMES:
        return token.upper()
    raise ScheduleExpressionError(f"day-of-week {token!r} is not a number 1-7 or a day name")


def _weekday_field(field_: str) -> str:
    if field_ in ("*", "?"):
        return "*"
    parts = []
    for part in field_.split(","):
        if "#" in part:  # 6#3: the third Friday
            day, nth = part.split("#", 1)
            parts.append(f"{_aws_weekday(day)}#{nth}")
        elif part.upper().endswith("L") and len(part) > 1:  # 6L: the last Friday
            parts.append(f"L{_aws_weekday(part[:-1])}")
        elif "-" in part:
            low, high = part.split("-", 1)
            parts.append(f"{_aws_weekday(low)}-{_aws_weekday(high)}")
        elif "/" in part:
            start, step = part.split("/", 1)
            parts.append(f"{'*' if start == '*' else _aws_weekday(start)}/{step}")
        else:
            parts.append(_aws_weekday(part))
    return ",".join(parts)


def _years(field_: str) -> Callable[[int], bool]:
    if field_ in ("*", "?"):
        return lambda _year: True
    allowed: set[int] = set()
    for part in field_.split(","):
        step = 1
        if "/" in part:
            part, raw_step = part.split("/", 1)
            step = int(raw_step)
        if part == "*":
            low, high = 1970, 2199
        elif "-" in part:
            low, high = (int(v) for v in part.split("-", 1))
        else:
            low = high = int(part)
        allowed.update(range(low, high + 1, step))
    return allowed.__contains__


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed schedule expression; `after(t)` is its first occurrence strictly after t (epoch s)."""

    kind: str  # at | rate | cron
    zone: ZoneInfo
    at: float | None = None
    period: float | None = None
    cron: str | None = None
    year_ok: Callable[[int], bool] | None = None

    @classmethod
    def parse(cls, expression: str, time_zone: str | None) -> Expression:
        try:
            zone = ZoneInfo(time_zone or "UTC")
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ScheduleExpressionError(f"unknown time zone {time_zone!r}") from error
        text = expression.strip()
        if found := _AT.match(text):
            local = datetime.fromisoformat(found.group(1)).replace(tzinfo=zone)
            return cls("at", zone, at=local.timestamp())
        if found := _RATE.match(text):
            value, unit = int(found.group(1)), found.group(2).rstrip("s")
            if value < 1:
                raise ScheduleExpressionError(f"{expression}: the rate must be positive")
            return cls("rate", zone, period=float(value * _UNIT_SECONDS[unit]))
        if found := _CRON.match(text):
            fields = found.group(1).split()
            if len(fields) != 6:
                raise ScheduleExpressionError(
                    f"{expression}: EventBridge cron has six fields (minutes hours day-of-month month day-of-week year)"
                )
            minutes, hours, day, month, weekday, year = fields
            five = " ".join([minutes, hours, "*" if day == "?" else day, month, _weekday_field(weekday)])
            if not croniter.is_valid(five):
                raise ScheduleExpressionError(f"{expression}: not a cron expression the local scheduler understands")
            return cls("cron", zone, cron=five, year_ok=_years(year))
        raise ScheduleExpressionError(f"{expression!r} is not at(...), rate(...) or cron(...)")

    def after(self, moment: float, anchor: float) -> float | None:
        """The first due time after `moment`; `anchor` is where a rate counts its periods from."""
        if self.kind == "at":
            assert self.at is not None
            return self.at if self.at > moment else None
        if self.kind == "rate":
            assert self.period is not None
            if moment < anchor:
                return anchor
            periods = int((moment - anchor) // self.period) + 1
            return anchor + periods * self.period
        assert self.cron is not None and self.year_ok is not None
        start = datetime.fromtimestamp(moment, tz=self.zone)
        iterator = croniter(self.cron, start)
        for _ in range(5000):  # a year field can rule out years of occurrences; do not loop forever
            due: datetime = iterator.get_next(datetime)
            if due.year > 2199:
                return None
            if self.year_ok(due.year):
                return due.timestamp()
        return None


@dataclass(slots=True)
class Tracked:
    """What the local scheduler knows of one schedule."""

    name: str
    group: str
    version: Any  # LastModificationDate: a change re-reads the schedule
    schedule: dict[str, Any]
    expression: Expression | None
    problem: str | None
    anchor: float  # rate schedules count periods from here
    fired_through: float  # every due time up to here has fired
    fired: int = 0
    last_error: str | None = None

    def upcoming(self) -> float | None:
        if self.expression is None or self.schedule.get("State") == "DISABLED":
            return None
        if self.expression.kind == "at":  # the service ignores StartDate / EndDate for one-time schedules
            return self.expression.after(self.fired_through, self.anchor)
        begin = self.fired_through
        start, end = _date(self.schedule.get("StartDate")), _date(self.schedule.get("EndDate"))
        if start is not None and start > begin:
            begin = start - 0.001  # an occurrence at the StartDate itself counts
        due = self.expression.after(begin, self.anchor)
        if due is not None and end is not None and due > end:
            return None
        return due


def _date(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


Target = Callable[[dict[str, Any], dict[str, Any]], tuple[str | None, Any]]


class LocalScheduler:
    def __init__(
        self,
        scheduler_client: Callable[[], Any],
        clock: LocalClock,
        deliver: Target,
        *,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        """`deliver(target, payload)` invokes one schedule's target with its input and answers
        (error or None, result)."""
        self._client_factory = scheduler_client
        self._client: Any = None
        self._clock = clock
        self._deliver = deliver
        self._tick_seconds = tick_seconds
        self._tracked: dict[tuple[str, str], Tracked] = {}
        self._lock = threading.RLock()  # one pass at a time: a tick and a clock move never both fire
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> LocalScheduler:
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self._tick_seconds):
            try:
                self.tick()
            except Exception:  # the endpoint goes away at shutdown; a bad pass must not end the ticks
                if not self._stop.is_set():
                    LOGGER.exception("local scheduler pass failed")

    # the passes ------------------------------------------------------------------------------
    def tick(self) -> list[dict[str, Any]]:
        """Learn new or changed schedules, then fire what is due by the clock now."""
        with self._lock:
            self.sync()
            return self.fire_due()

    def move(self, change: Callable[[], None]) -> list[dict[str, Any]]:
        """Move the clock with `change` and fire what fell due; schedules made before the move
        count from before it, and no tick runs in between."""
        with self._lock:
            self.sync()
            change()
            return self.fire_due()

    def sync(self) -> None:
        """New schedules start counting from the clock's now; changed ones are read again."""
        with self._lock:
            now = self._clock.now()
            seen: set[tuple[str, str]] = set()
            client = self._scheduler()
            for page in client.get_paginator("list_schedules").paginate():
                for summary in page.get("Schedules", []):
                    key = (summary["GroupName"], summary["Name"])
                    seen.add(key)
                    version = summary.get("LastModificationDate")
                    known = self._tracked.get(key)
                    if known is not None and known.version == version:
                        continue
                    schedule = client.get_schedule(Name=key[1], GroupName=key[0])
                    self._tracked[key] = self._track(key, version, schedule, now, known)
            for gone in set(self._tracked) - seen:
                del self._tracked[gone]

    def _track(
        self, key: tuple[str, str], version: Any, schedule: dict[str, Any], now: float, known: Tracked | None
    ) -> Tracked:
        problem, expression = None, None
        try:
            expression = Expression.parse(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
        except ScheduleExpressionError as error:
            problem = str(error)
            LOGGER.warning("schedule %s/%s is not fired locally: %s", key[0], key[1], problem)
        start = _date(schedule.get("StartDate"))
        anchor = start if start is not None else now
        fired_through = now
        if expression is not None and expression.kind == "at":
            assert expression.at is not None
            fired_through = min(now, expression.at - 0.001)  # a one-time schedule fires even when created late
        if expression is not None and expression.kind == "rate" and start is not None:
            fired_through = min(now, start - 0.001)  # the StartDate itself is the first occurrence
        tracked = Tracked(key[1], key[0], version, schedule, expression, problem, anchor, fired_through)
        if known is not None:
            tracked.fired = known.fired
        return tracked

    def fire_due(self) -> list[dict[str, Any]]:
        """Every occurrence due by the clock's now, oldest first across schedules."""
        with self._lock:
            now = self._clock.now()
            queue: list[tuple[float, tuple[str, str]]] = []
            for key, tracked in self._tracked.items():
                due = tracked.upcoming()
                if due is not None and due <= now:
                    queue.append((due, key))
            heapq.heapify(queue)
            fired: list[dict[str, Any]] = []
            while queue and len(fired) < MAX_FIRINGS_PER_PASS:
                due, key = heapq.heappop(queue)
                tracked = self._tracked[key]
                fired.append(self._fire(tracked, due))
                tracked.fired_through = due
                if tracked.expression is not None and tracked.expression.kind == "at":
                    self._complete(tracked)
                    continue
                following = tracked.upcoming()
                if following is not None and following <= now:
                    heapq.heappush(queue, (following, key))
            return fired

    def _fire(self, tracked: Tracked, due: float) -> dict[str, Any]:
        target = tracked.schedule["Target"]
        payload = _input(target.get("Input"), tracked, due)
        error, result = self._deliver(target, payload)
        tracked.fired += 1
        tracked.last_error = error
        if error is not None:
            LOGGER.warning("schedule %s/%s at %s failed: %s", tracked.group, tracked.name, iso(due), error)
        return {
            "schedule": tracked.name,
            "group": tracked.group,
            "due": iso(due),
            "error": error,
            "result": result,
        }

    def _complete(self, tracked: Tracked) -> None:
        """A one-time schedule that asked for it is deleted once it has fired, as the service does."""
        if tracked.schedule.get("ActionAfterCompletion") != "DELETE":
            return
        client = self._scheduler()
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_schedule(Name=tracked.name, GroupName=tracked.group)
        self._tracked.pop((tracked.group, tracked.name), None)

    def _scheduler(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    # inspection ------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = []
            for tracked in sorted(self._tracked.values(), key=lambda t: (t.group, t.name)):
                upcoming = tracked.upcoming()
                rows.append(
                    {
                        "schedule": tracked.name,
                        "group": tracked.group,
                        "expression": tracked.schedule.get("ScheduleExpression"),
                        "time_zone": tracked.schedule.get("ScheduleExpressionTimezone"),
                        "state": tracked.schedule.get("State"),
                        "next_due": iso(upcoming) if upcoming is not None else None,
                        "fired": tracked.fired,
                        "last_error": tracked.last_error,
                        "problem": tracked.problem,
                    }
                )
            return rows


def _input(raw: str | None, tracked: Tracked, due: float) -> Any:
    """The target's input with the service's context attributes filled in."""
    text = raw or "{}"
    arn = tracked.schedule.get("Arn", "")
    for attribute, value in (
        ("<aws.scheduler.schedule-arn>", arn),
        ("<aws.scheduler.scheduled-time>", datetime.fromtimestamp(due, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("<aws.scheduler.execution-id>", str(uuid.uuid4())),
        ("<aws.scheduler.attempt-number>", "1"),
    ):
        text = text.replace(attribute, value)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
