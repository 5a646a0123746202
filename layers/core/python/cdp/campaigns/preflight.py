"""Preflight: what a send would do, before it is made, decided by the send point's own rules
(cdp.messaging.policy: reachability, consent, frequency caps, quiet hours) over the audience.

Nothing is written: frequency counters are read, not taken. The LINE figures come from LINE
(`GET /v2/bot/message/quota` and `/quota/consumption`); the cost from the workspace's pricing.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cdp.campaigns.audience import PAGE_SIZE, Audience, Page
from cdp.campaigns.model import Campaign
from cdp.campaigns.ports import CapCounts, QuotaSource
from cdp.campaigns.pricing import Pricing
from cdp.errors import Conflict
from cdp.messaging import policy as rules
from cdp.messaging.content import CHANNELS, Channel
from cdp.messaging.policy import MessagingPolicy
from cdp.profiles.model import Profile

QUIET_HELD = "held_quiet_hours"
# The admin API answers within API Gateway's 29 s: a preflight that cannot finish stops, named.
DEFAULT_TIME_BUDGET_S = 20.0


class AudienceTooLarge(Conflict):
    """The audience is more than a preflight in one request can walk (docs/campaigns.md): the
    `tally` so far goes on in a preflight job."""

    def __init__(self, message: str, *, tally: Tally, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.tally = tally


@dataclass(slots=True)
class Tally:
    """A preflight's figures so far and where the walk stands: what a preflight job hands from one
    invocation to the next (JSON), so a big audience is walked page by page across invocations.

    People reached through a merge are counted once: skipped when the survivor is itself a member
    (counted on its own page), else remembered in `followed` (merges are rare: the set stays small).
    """

    now_ms: int  # every step judges quiet hours and caps at the same moment
    cursor: str | None = None  # the next page's cursor
    started: bool = False
    done: bool = False
    members: int = 0
    targeted: int = 0
    held: int = 0
    reachable: Counter[str] = field(default_factory=Counter)
    sending: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    followed: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now_ms": self.now_ms,
            "cursor": self.cursor,
            "started": self.started,
            "done": self.done,
            "members": self.members,
            "targeted": self.targeted,
            "held": self.held,
            "reachable": dict(self.reachable),
            "sending": dict(self.sending),
            "suppressed": dict(self.suppressed),
            "followed": sorted(self.followed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tally:
        return cls(
            now_ms=int(data["now_ms"]),
            cursor=data.get("cursor"),
            started=bool(data.get("started")),
            done=bool(data.get("done")),
            members=int(data.get("members", 0)),
            targeted=int(data.get("targeted", 0)),
            held=int(data.get("held", 0)),
            reachable=Counter(data.get("reachable") or {}),
            sending=Counter(data.get("sending") or {}),
            suppressed=Counter(data.get("suppressed") or {}),
            followed=set(data.get("followed") or ()),
        )


@dataclass(frozen=True, slots=True)
class PreflightInputs:
    policy: MessagingPolicy
    pricing: Pricing
    line_provider: str | None  # the sending LINE channel's provider, None when LINE is not set up
    suppressed: Callable[[Channel, str], bool]
    configured: frozenset[str] = frozenset(CHANNELS)
    sms_segments: int = 1  # segments of the template's SMS text


class Preflight:
    def __init__(
        self,
        audience: Audience,
        caps: CapCounts,
        quota: QuotaSource,
        *,
        time_budget_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._audience = audience
        self._caps = caps
        self._quota = quota
        self._budget = time_budget_s
        self._monotonic = monotonic
        self._page_size = page_size

    def run(self, campaign: Campaign, inputs: PreflightInputs, *, now_ms: int) -> dict[str, Any]:
        """The whole audience within the time budget, else AudienceTooLarge with the tally so far."""
        tally = self.step(campaign, inputs, Tally(now_ms=now_ms))
        if not tally.done:
            raise AudienceTooLarge(
                f"the audience is larger than a preflight can walk in one request ({tally.members:,} members "
                f"read in {self._budget:g} s)",
                tally=tally,
                code="audience_too_large",
                details={"members_read": tally.members, "seconds": self._budget},
            )
        return self.result(campaign, inputs, tally)

    def step(self, campaign: Campaign, inputs: PreflightInputs, tally: Tally) -> Tally:
        """Walk pages from the tally's cursor until the audience ends or the time budget is spent
        (checked after each page); the tally is updated in place and answered."""
        if tally.done:
            return tally
        send_ms = campaign.schedule.at_ms() or tally.now_ms
        now = datetime.fromtimestamp(tally.now_ms / 1000, tz=UTC)
        started = self._monotonic()
        pages = self._audience.pages(campaign, now, after=tally.cursor, page_size=self._page_size)
        while True:  # at least one page per step: every step gets further
            page = next(pages, None)
            if page is None:
                tally.done = True
                return tally
            self._page(campaign, inputs, tally, page, send_ms)
            tally.started, tally.cursor = True, page.after
            if page.after is None:
                tally.done = True
                return tally
            if self._budget is not None and self._monotonic() - started >= self._budget:
                return tally

    def _page(self, campaign: Campaign, inputs: PreflightInputs, tally: Tally, page: Page, send_ms: int) -> None:
        tally.members += page.members
        chosen: list[tuple[Profile, str | None, str | None, list[rules.CapCounter], set[str]]] = []
        for position, profile in enumerate(page.people):
            if campaign.max_recipients is not None and tally.targeted >= campaign.max_recipients:
                break
            if position in page.followed:
                if profile.profile_id in tally.followed or self._audience.is_member(campaign, profile.profile_id):
                    continue  # counted already, or on the survivor's own page
                tally.followed.add(profile.profile_id)
            tally.targeted += 1
            chosen.append((profile, *self._channel(profile, campaign, inputs, send_ms)))
        # One batched read of the frequency counters for the page, not one per person.
        wanted = {profile.profile_id: [c.key for c in counters] for profile, _, _, counters, _ in chosen if counters}
        counts = self._caps.counts(wanted) if wanted else {}
        for profile, reason, channel, counters, reaches in chosen:
            outcome = reason or self._after_caps(profile, campaign, inputs, send_ms, counters, counts)
            tally.reachable.update(reaches)
            if outcome in ("send", QUIET_HELD):
                tally.sending[channel or ""] += 1
                tally.held += outcome == QUIET_HELD
            else:
                tally.suppressed[outcome] += 1

    def result(self, campaign: Campaign, inputs: PreflightInputs, tally: Tally) -> dict[str, Any]:
        """The figures of a finished walk, with LINE's quota read now and the cost on top of it."""
        sending = tally.sending
        line_messages = sending["line"]
        quota = self._quota.quota(campaign.line_channel) if "line" in campaign.channels else None
        consumption = quota.consumption if quota else 0
        cost = inputs.pricing.estimate(
            line_messages=line_messages,
            consumption=consumption,
            emails=sending["email"],
            sms_segments=sending["sms"] * inputs.sms_segments,
        )
        line: dict[str, Any] = {"messages": line_messages, "consumption": consumption}
        if quota is not None:
            line["quota"] = quota.limit
            line["remaining"] = None if quota.limit is None else max(0, quota.limit - consumption)
            line["over_quota"] = quota.limit is not None and line_messages > line["remaining"]
        line["included_remaining"] = max(0, inputs.pricing.line_included_messages - consumption)
        over = campaign.budget is not None and cost["total"] > campaign.budget
        now = datetime.fromtimestamp(tally.now_ms / 1000, tz=UTC)
        return {
            "campaign_id": campaign.campaign_id,
            "evaluated_at": now.isoformat().replace("+00:00", "Z"),
            "audience": tally.members,
            "targeted": tally.targeted,
            "recipients": sum(sending.values()),
            "reachable": {channel: tally.reachable[channel] for channel in campaign.channels},
            "sending": {channel: sending[channel] for channel in campaign.channels},
            "suppressed": dict(sorted(tally.suppressed.items())),
            "held_quiet_hours": tally.held,
            "line": line,
            "cost": cost,
            "budget": campaign.budget,
            "over_budget": over,
        }

    def _channel(
        self, profile: Profile, campaign: Campaign, inputs: PreflightInputs, send_ms: int
    ) -> tuple[str | None, str | None, list[rules.CapCounter], set[str]]:
        """(why nothing is sent, or None; the channel; the cap counters a marketing send takes; every
        channel of the chain that reaches the person with consent)."""

        def choose(chain: tuple[str, ...]) -> rules.ChannelDecision:
            return rules.choose_channel(
                profile,
                chain,  # type: ignore[arg-type]
                purpose=campaign.purpose,
                policy=inputs.policy,
                line_provider=inputs.line_provider,
                suppressed=inputs.suppressed,
                configured=inputs.configured,
            )

        decision = choose(campaign.channels)
        if decision.address is None:
            return decision.reason or rules.UNREACHABLE, None, [], set()
        channel = decision.address.channel
        later = campaign.channels[campaign.channels.index(channel) + 1 :]
        reachable = {channel} | {other for other in later if choose((other,)).address is not None}
        if campaign.purpose != "marketing":
            return "send", channel, [], reachable
        counters = rules.cap_counters(
            channel=channel,
            now_ms=send_ms,
            zone=rules.person_zone(profile, inputs.policy),
            policy=inputs.policy,
            campaign_id=campaign.campaign_id,
            campaign_cap=campaign.frequency_cap,
        )
        return None, channel, counters, reachable

    def _after_caps(
        self,
        profile: Profile,
        campaign: Campaign,
        inputs: PreflightInputs,
        send_ms: int,
        counters: list[rules.CapCounter],
        counts: Mapping[tuple[str, str], int],
    ) -> str:
        for counter in counters:
            if counts.get((profile.profile_id, counter.key), 0) >= counter.limit:
                return counter.reason
        quiet = campaign.quiet_hours
        window = (quiet["start"], quiet["end"]) if quiet else inputs.policy.quiet_hours
        if rules.quiet_until(send_ms, rules.person_zone(profile, inputs.policy), window) is not None:
            return rules.QUIET_HOURS if campaign.in_quiet_hours == "drop" else QUIET_HELD
        return "send"


def refuse_over_budget(result: dict[str, Any]) -> None:
    """`send` refuses a campaign whose estimate exceeds its budget: 409 with the figures."""
    if result["over_budget"]:
        cost = result["cost"]
        raise Conflict(
            f"the estimate {cost['currency']} {cost['total']} exceeds the budget {result['budget']}",
            code="over_budget",
            details={
                "budget": result["budget"],
                "estimate": cost,
                "line": result["line"],
                "recipients": result["recipients"],
            },
        )
