"""A campaign and its runs: what is sent to whom, when, and the lifecycle.

Lifecycle: `draft` -> `scheduled` (a set time or a recurring schedule waits on EventBridge
Scheduler) or `sending` (a run is fanning out) -> `sent` (the run is handed to the sender; a
recurring campaign goes back to `scheduled` between runs). `paused` stops the fan-out and the
sender (docs/campaigns.md); `resume` goes back to where it was. `cancelled` is final. LINE's
monthly limit pauses a sending campaign by itself (`paused_reason: quota_exhausted`; its run
`quota_exhausted`).

A run is one sending of the campaign (`r1` for `now` and `at`; the scheduled time, e.g.
`r20261207T0100Z`, for each firing of a recurring one). Each recipient's send key is
`campaign:<campaign>:<run>:<profile>`, so a run fanned out twice sends once per person.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cdp.errors import BadRequest, Conflict
from cdp.messaging.policy import valid_zone

CAMPAIGN_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
SCHEDULE_EXPRESSION = re.compile(r"(cron|rate)\(([^()]{1,256})\)")
AT_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")

DRAFT, SCHEDULED, SENDING, SENT, PAUSED, CANCELLED = "draft", "scheduled", "sending", "sent", "paused", "cancelled"
STATUSES = (DRAFT, SCHEDULED, SENDING, SENT, PAUSED, CANCELLED)
LIVE = frozenset({SCHEDULED, SENDING})  # what pause applies to
RUN_SENDING, RUN_SENT, RUN_PAUSED, RUN_CANCELLED = "sending", "sent", "paused", "cancelled"
# LINE answered the monthly limit (429): the run stops, its campaign is paused with this reason.
RUN_QUOTA_EXHAUSTED = QUOTA_EXHAUSTED = "quota_exhausted"
STOPPED_RUN = frozenset({RUN_PAUSED, RUN_CANCELLED, RUN_QUOTA_EXHAUSTED})
SINGLE_RUN = "r1"
SEND_KEY_PREFIX = "campaign:"


def valid_campaign_id(value: Any) -> bool:
    return isinstance(value, str) and CAMPAIGN_ID_PATTERN.fullmatch(value) is not None


def new_campaign_id() -> str:
    return f"cmp-{secrets.token_hex(6)}"


def send_key(campaign_id: str, run_id: str, profile_id: str) -> str:
    return f"{SEND_KEY_PREFIX}{campaign_id}:{run_id}:{profile_id}"


def parse_send_key(key: str) -> tuple[str, str] | None:
    """(campaign id, run id) of a campaign send key, or None for other senders' keys."""
    if not key.startswith(SEND_KEY_PREFIX):
        return None
    parts = key[len(SEND_KEY_PREFIX) :].split(":", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else None


def run_id_for(scheduled_time: str | None) -> str:
    """A recurring run's id from the firing's scheduled time (`2026-12-07T01:00:00Z`)."""
    if not scheduled_time:
        return SINGLE_RUN
    digits = re.sub(r"[^0-9T]", "", scheduled_time.replace("Z", ""))
    return f"r{digits[:13]}Z"


@dataclass(frozen=True, slots=True)
class Schedule:
    """`now`; `at` a local time in `time_zone`; or `recurring` with a cron()/rate() expression
    evaluated in `time_zone` (EventBridge Scheduler's own syntax)."""

    kind: str  # now, at, recurring
    at: str | None = None  # local wall-clock time, YYYY-MM-DDTHH:MM[:SS]
    expression: str | None = None  # cron(...) or rate(...)
    time_zone: str = "Asia/Taipei"

    @classmethod
    def parse(cls, data: Any, *, now_ms: int) -> Schedule:
        if data is None:
            return cls("now")
        if not isinstance(data, dict):
            raise BadRequest("`schedule` is an object", code="invalid_schedule", details={"field": "schedule"})
        kind = data.get("kind", "now")
        zone = data.get("time_zone", "Asia/Taipei")
        if not isinstance(zone, str) or not valid_zone(zone):
            raise BadRequest(
                f"unknown time zone {zone!r} (an IANA name such as Asia/Taipei)",
                code="invalid_time_zone",
                details={"field": "schedule.time_zone"},
            )
        if kind == "now":
            return cls("now", time_zone=zone)
        if kind == "at":
            at = data.get("at")
            if not isinstance(at, str) or not AT_PATTERN.fullmatch(at):
                raise BadRequest(
                    "`schedule.at` is a local time YYYY-MM-DDTHH:MM[:SS] (no offset: `time_zone` says where)",
                    code="invalid_schedule",
                    details={"field": "schedule.at"},
                )
            moment = datetime.fromisoformat(at).replace(tzinfo=ZoneInfo(zone))
            if moment.timestamp() * 1000 <= now_ms:
                raise BadRequest(
                    f"`schedule.at` {at} {zone} is in the past",
                    code="schedule_in_past",
                    details={"field": "schedule.at"},
                )
            return cls("at", at=at if len(at) == 19 else at + ":00", time_zone=zone)
        if kind == "recurring":
            expression = data.get("expression")
            if not isinstance(expression, str) or not SCHEDULE_EXPRESSION.fullmatch(expression.strip()):
                raise BadRequest(
                    "`schedule.expression` is cron(...) or rate(...) as EventBridge Scheduler reads them",
                    code="invalid_schedule",
                    details={"field": "schedule.expression"},
                )
            return cls("recurring", expression=expression.strip(), time_zone=zone)
        raise BadRequest(
            "`schedule.kind` is one of now, at, recurring", code="invalid_schedule", details={"field": "schedule.kind"}
        )

    def at_ms(self) -> int | None:
        if self.kind != "at" or self.at is None:
            return None
        moment = datetime.fromisoformat(self.at).replace(tzinfo=ZoneInfo(self.time_zone))
        return int(moment.timestamp() * 1000)

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    name: str
    segment_id: str
    template_id: str
    channels: tuple[str, ...]
    purpose: str
    schedule: Schedule
    created_at: str
    updated_at: str
    status: str = DRAFT
    rule: dict[str, Any] | None = None  # narrows the segment (the segment rule language)
    template_version: int | None = None  # pinned at send (the newest then, unless given)
    budget: float | None = None  # NT$ (the pricing config's currency)
    max_recipients: int | None = None
    in_quiet_hours: str = "hold"
    quiet_hours: dict[str, str] | None = None  # a window of its own, else the workspace's
    frequency_cap: int | None = None  # per person for this campaign, over all its runs
    line_channel: str = "default"
    version: int = 1
    current_run: str | None = None
    runs: tuple[str, ...] = ()
    resume_to: str | None = None  # the status a paused campaign resumes to
    paused_reason: str | None = None  # `quota_exhausted` when LINE's monthly limit paused it
    last_preflight: dict[str, Any] | None = field(default=None, compare=False)
    preflight_job: dict[str, str] | None = None  # {"job_id", "started_at"} while a preflight job walks

    def moved(self, status: str, now: str, **changes: Any) -> Campaign:
        return replace(self, status=status, updated_at=now, version=self.version + 1, **changes)

    def require(self, *allowed: str, action: str) -> None:
        if self.status not in allowed:
            raise Conflict(
                f"campaign {self.campaign_id} is {self.status}: it cannot be {action}",
                code="campaign_already_sent" if self.status == SENT and action == "sent" else "invalid_campaign_state",
                details={"status": self.status, "allowed": list(allowed)},
            )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        data["runs"] = list(self.runs)
        data["schedule"] = self.schedule.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Campaign:
        fields = dict(data)
        fields["channels"] = tuple(fields["channels"])
        fields["runs"] = tuple(fields.get("runs", ()))
        fields["schedule"] = Schedule(**fields["schedule"])
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class Run:
    """One sending of a campaign: its fan-out progress (the member cursor) and state."""

    campaign_id: str
    run_id: str
    status: str  # sending, sent, paused, cancelled, quota_exhausted
    started_at: str
    template_version: int | None
    cursor: str | None = None  # the last member page handed to the sender
    enqueued: int = 0  # send requests handed to the sender
    audience: int = 0  # members read
    finished_at: str | None = None
    version: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(**data)
