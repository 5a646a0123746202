"""The send point's pure rules: which channel reaches the person, whether consent allows it, which
frequency-cap counters a send takes, and when quiet hours end. No I/O: the service feeds them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cdp.clock import ms_from_datetime
from cdp.errors import BadRequest
from cdp.messaging.content import CHANNELS, Channel
from cdp.profiles.model import Profile
from cdp.segments.exports import line_user_ids

HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
DEFAULT_TIME_ZONE = "Asia/Taipei"
DEFAULT_QUIET_HOURS = ("22:00", "09:00")
# Following a LINE official account is itself the opt-in; email and SMS marketing need a recorded
# consent (as cdp.profiles.consent.reachability already reads them).
DEFAULT_REQUIRE_OPT_IN: dict[str, bool] = {"line": False, "email": True, "sms": True}
DEFAULT_CAPS: dict[str, dict[str, int]] = {
    "line": {"day": 2, "week": 6},
    "email": {"day": 2, "week": 6},
    "sms": {"day": 1, "week": 3},
}
CAP_KEEP_DAYS = {"day": 2, "week": 8}  # counters expire (TTL) once their period is over
CAMPAIGN_CAP_KEEP_DAYS = 400

# Suppression reasons (Message Suppressed `reason`).
PROFILE_NOT_FOUND = "profile_not_found"
UNREACHABLE = "unreachable"
NO_CONSENT = "no_consent"
CAPPED_DAY = "capped_day"
CAPPED_WEEK = "capped_week"
CAPPED_CAMPAIGN = "capped_campaign"
CAPPED_JOURNEY = "capped_journey"
QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True, slots=True)
class MessagingPolicy:
    """The workspace's messaging settings (a core-table config document; these are the defaults)."""

    time_zone: str = DEFAULT_TIME_ZONE
    quiet_hours: tuple[str, str] | None = DEFAULT_QUIET_HOURS
    require_opt_in: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_REQUIRE_OPT_IN))
    caps: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_CAPS.items()})

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> MessagingPolicy:
        """The stored document over the defaults; anything malformed keeps the default."""
        default = cls()
        time_zone = document.get("time_zone")
        quiet = document.get("quiet_hours", "default")
        if quiet is None:
            quiet_hours = None
        elif isinstance(quiet, dict) and all(isinstance(quiet.get(k), str) for k in ("start", "end")):
            quiet_hours = (str(quiet["start"]), str(quiet["end"]))
        else:
            quiet_hours = default.quiet_hours
        opt_in = {**default.require_opt_in}
        for channel, value in (document.get("require_opt_in") or {}).items():
            if channel in CHANNELS and isinstance(value, bool):
                opt_in[channel] = value
        caps = {channel: dict(limits) for channel, limits in default.caps.items()}
        for channel, limits in (document.get("caps") or {}).items():
            if channel in CHANNELS and isinstance(limits, dict):
                for period in ("day", "week"):
                    value = limits.get(period, caps[channel].get(period))
                    if value is None:
                        caps[channel].pop(period, None)
                    elif isinstance(value, int) and not isinstance(value, bool) and value > 0:
                        caps[channel][period] = value
        return cls(
            time_zone=time_zone if isinstance(time_zone, str) and valid_zone(time_zone) else default.time_zone,
            quiet_hours=quiet_hours,
            require_opt_in=opt_in,
            caps=caps,
        )

    def as_document(self) -> dict[str, Any]:
        return {
            "time_zone": self.time_zone,
            "quiet_hours": {"start": self.quiet_hours[0], "end": self.quiet_hours[1]} if self.quiet_hours else None,
            "require_opt_in": {channel: bool(self.require_opt_in.get(channel, False)) for channel in CHANNELS},
            "caps": {
                channel: {period: self.caps.get(channel, {}).get(period) for period in ("day", "week")}
                for channel in CHANNELS
            },
        }


MAX_CAP = 1000


def parse_policy(document: Mapping[str, Any]) -> MessagingPolicy:
    """A policy an operator sends (every field optional; a missing one keeps its default); 400
    `invalid_messaging_policy` naming the field that cannot be used. Unlike `from_document`,
    nothing malformed is silently replaced."""

    def refuse(field: str, why: str) -> BadRequest:
        return BadRequest(f"`{field}` {why}", code="invalid_messaging_policy", details={"field": field})

    time_zone = document.get("time_zone", DEFAULT_TIME_ZONE)
    if not isinstance(time_zone, str) or not valid_zone(time_zone):
        raise refuse("time_zone", "must be an IANA time zone such as Asia/Taipei")
    quiet = document.get("quiet_hours", {"start": DEFAULT_QUIET_HOURS[0], "end": DEFAULT_QUIET_HOURS[1]})
    if quiet is not None:
        if not isinstance(quiet, dict) or set(quiet) != {"start", "end"}:
            raise refuse("quiet_hours", 'is null or {"start": "HH:MM", "end": "HH:MM"}')
        for key in ("start", "end"):
            if not isinstance(quiet[key], str) or not HHMM.fullmatch(quiet[key]):
                raise refuse(f"quiet_hours.{key}", "must be HH:MM (24-hour)")
    opt_in = document.get("require_opt_in", {})
    if not isinstance(opt_in, dict):
        raise refuse("require_opt_in", "maps channels to true or false")
    for channel, value in opt_in.items():
        if channel not in CHANNELS or not isinstance(value, bool):
            raise refuse(f"require_opt_in.{channel}", f"is true or false for one of {', '.join(CHANNELS)}")
    caps = document.get("caps", {})
    if not isinstance(caps, dict):
        raise refuse("caps", 'maps channels to {"day": n, "week": n}')
    for channel, limits in caps.items():
        if channel not in CHANNELS or not isinstance(limits, dict) or set(limits) - {"day", "week"}:
            raise refuse(f"caps.{channel}", f'is {{"day": n, "week": n}} for one of {", ".join(CHANNELS)}')
        for period, value in limits.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_CAP
            ):
                raise refuse(f"caps.{channel}.{period}", f"is null (no cap) or 1 to {MAX_CAP}")
    return MessagingPolicy.from_document(
        {"time_zone": time_zone, "quiet_hours": quiet, "require_opt_in": opt_in, "caps": caps}
    )


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def person_zone(profile: Profile, policy: MessagingPolicy) -> ZoneInfo:
    """The person's own time zone (trait `timezone`, an IANA name) or the workspace's."""
    stamped = profile.traits.get("timezone")
    if stamped is not None and isinstance(stamped.value, str) and valid_zone(stamped.value):
        return ZoneInfo(stamped.value)
    return ZoneInfo(policy.time_zone)


# --- reachability and consent -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    channel: Channel
    to: str  # LINE user id, email address or E.164 phone number


@dataclass(frozen=True, slots=True)
class ChannelDecision:
    """The first channel of the chain that reaches the person with consent, or why none does."""

    address: Address | None
    reason: str | None  # UNREACHABLE or NO_CONSENT when address is None
    why_not: dict[str, str]  # channel -> what ruled it out (blocked, no_email, suppressed, no_consent...)


def choose_channel(
    profile: Profile,
    chain: Sequence[Channel],
    *,
    purpose: str,
    policy: MessagingPolicy,
    line_provider: str | None,
    suppressed: Callable[[Channel, str], bool],
    configured: frozenset[str] = frozenset(CHANNELS),
    replying: bool = False,
) -> ChannelDecision:
    """Reachability, then consent, per channel in chain order; the first that passes both wins.
    A channel the deployment cannot send on (`configured`) is skipped as `not_configured`.
    `replying`: an answer to a LINE message the person just sent, so any LINE account of theirs
    that has not blocked the OA is reachable (a friend from before the CDP saw a follow)."""
    why_not: dict[str, str] = {}
    for channel in chain:
        if channel not in configured:
            why_not[channel] = "not_configured"
            continue
        address, problem = _reach(profile, channel, line_provider, suppressed, replying=replying)
        if address is None:
            why_not[channel] = problem
            continue
        if not consent_allows(profile, channel, purpose, policy):
            why_not[channel] = NO_CONSENT
            continue
        return ChannelDecision(address, None, why_not)
    reason = NO_CONSENT if NO_CONSENT in why_not.values() else UNREACHABLE
    return ChannelDecision(None, reason, why_not)


def _reach(
    profile: Profile,
    channel: Channel,
    line_provider: str | None,
    suppressed: Callable[[Channel, str], bool],
    *,
    replying: bool = False,
) -> tuple[Address | None, str]:
    if channel == "line":
        if line_provider is None:
            return None, "line_not_configured"
        friends = line_user_ids(profile, line_provider)
        if friends:
            return Address("line", friends[0]), ""
        if replying:
            unblocked = _unblocked_line_ids(profile, line_provider)
            if unblocked:
                return Address("line", unblocked[0]), ""
        has_account = any(
            e.get("type") == "line" and e.get("value", "").startswith(f"{line_provider}:")
            for e in profile.identifiers.values()
        )
        return None, "blocked" if has_account else "no_line_account"
    identifier_type = "email" if channel == "email" else "phone"
    values = sorted(e["value"] for e in profile.identifiers.values() if e.get("type") == identifier_type)
    if not values:
        return None, f"no_{identifier_type}"
    usable = [value for value in values if not suppressed(channel, value)]
    if not usable:
        return None, "suppressed" if channel == "email" else "opted_out"
    return Address(channel, usable[0]), ""


def _unblocked_line_ids(profile: Profile, line_provider: str) -> list[str]:
    """The person's LINE user ids under the provider whose follow state is not `blocked`."""
    prefix = f"{line_provider}:"
    return sorted(
        entry["value"].removeprefix(prefix)
        for entry in profile.identifiers.values()
        if entry.get("type") == "line"
        and entry.get("value", "").startswith(prefix)
        and getattr(profile.line_accounts.get(entry["value"]), "value", None) != "blocked"
    )


def consent_allows(profile: Profile, channel: str, purpose: str, policy: MessagingPolicy) -> bool:
    """Marketing: granted where the workspace requires opt-in, else not refused. Transactional: not
    refused (an explicit `<channel>:transactional` false)."""
    stamped = profile.consent.get(f"{channel}:{purpose}")
    value = stamped.value if stamped is not None and isinstance(stamped.value, bool) else None
    if purpose == "marketing" and policy.require_opt_in.get(channel, False):
        return value is True
    return value is not False


# --- frequency caps -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapCounter:
    """One per-person counter a send takes: at most `limit` distinct send keys in it."""

    key: str
    limit: int
    reason: str
    expires_at_s: int


def cap_counters(
    *,
    channel: Channel,
    now_ms: int,
    zone: ZoneInfo,
    policy: MessagingPolicy,
    campaign_id: str | None = None,
    campaign_cap: int | None = None,
    journey_id: str | None = None,
    journey_cap: int | None = None,
) -> list[CapCounter]:
    """The counters a marketing send takes: per channel per local day and ISO week, and per
    campaign / journey when those caps are set."""
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone)
    limits = policy.caps.get(channel, {})
    counters: list[CapCounter] = []
    now_s = now_ms // 1000
    if "day" in limits:
        day_end = _local_midnight(local + timedelta(days=1))
        counters.append(
            CapCounter(
                f"{channel}#day#{local.date().isoformat()}",
                limits["day"],
                CAPPED_DAY,
                int(day_end.timestamp()) + CAP_KEEP_DAYS["day"] * 86400,
            )
        )
    if "week" in limits:
        year, week, weekday = local.isocalendar()
        week_end = _local_midnight(local + timedelta(days=8 - weekday))
        counters.append(
            CapCounter(
                f"{channel}#week#{year}-W{week:02d}",
                limits["week"],
                CAPPED_WEEK,
                int(week_end.timestamp()) + CAP_KEEP_DAYS["week"] * 86400,
            )
        )
    keep = now_s + CAMPAIGN_CAP_KEEP_DAYS * 86400
    if campaign_id and campaign_cap:
        counters.append(CapCounter(f"campaign#{campaign_id}", campaign_cap, CAPPED_CAMPAIGN, keep))
    if journey_id and journey_cap:
        counters.append(CapCounter(f"journey#{journey_id}", journey_cap, CAPPED_JOURNEY, keep))
    return counters


def _local_midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# --- quiet hours --------------------------------------------------------------------------------


def quiet_until(now_ms: int, zone: ZoneInfo, window: tuple[str, str] | None) -> int | None:
    """When the quiet window that `now_ms` falls in opens again (epoch ms), or None outside it.

    The window is local wall-clock time in `zone`, `start` inclusive, `end` exclusive, and may
    span midnight (22:00-09:00)."""
    if window is None or window[0] == window[1]:
        return None
    start, end = (_minutes(text) for text in window)
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone)
    minute = local.hour * 60 + local.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    opens = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if opens <= local:
        opens = (local + timedelta(days=1)).replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    # Rebuild through the zone so a DST change between now and then lands on the wall-clock time.
    opens = datetime(opens.year, opens.month, opens.day, opens.hour, opens.minute, tzinfo=zone)
    return ms_from_datetime(opens)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)
