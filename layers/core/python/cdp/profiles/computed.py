"""Computed traits: what a person's events add up to, kept up to date on each event.

The profile carries a compact `ComputedState` that `apply_event` folds each event into and that
`merge_profiles` combines; `computed_traits` turns it (with the profile's own counters) into the
figures shown under "computed_traits" and used by segments, at an evaluation time `now`.

Definitions
-----------
- first / last seen: the earliest / latest event timestamp of the person (any event).
- first / last purchase: the earliest / latest `Order Completed` (track) timestamp.
- orders: `Order Completed` track events, all time and within windows of 30, 90 and 365 days.
- revenue, LTV, average order value: money in the workspace currency (TWD) only. An order's
  amount is `revenue`, else `total` (Segment e-commerce), in `currency` (TWD when absent).
  LTV is the all-time TWD revenue (historic value, no prediction). Orders in another currency
  count as orders but add nothing to TWD figures; the average order value is the TWD revenue
  divided by the number of orders that carried a TWD amount (null when there is none).
- windows: whole UTC days. The N-day window at `now` holds the orders of the N UTC days ending
  with (and including) the day of `now`; orders dated after `now` are not in any window.
  Daily buckets (UTC date -> orders, TWD revenue) are kept for the 366 days ending with the
  newest order's day and dropped beyond, so the state stays bounded and the 365-day window
  stays exact. Trimming depends only on the set of orders, never on wall time or fold order,
  so folding stays order-independent and a merge equals folding both timelines.
- channel mix: `Profile.channel_mix()` (web/app = online, pos = offline).
- LINE engagement: `messages` = `LINE Message Received` (messages the person sent to the OA),
  `postbacks` = `LINE Postback`, `clicks` = track events named `Link Clicked` or
  `LINE Link Clicked` that come from LINE: `context.channel` is `line`, or `properties.src` is
  `line`. `last_click_at` is the latest such click.
- preferred store: the `store_id` of `Order Completed` events with the most orders; a tie goes
  to the store ordered from most recently, then to the smallest id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from cdp.events import names
from cdp.events.canonical import CanonicalEvent

WORKSPACE_CURRENCY = "TWD"
WINDOWS_DAYS = (30, 90, 365)
BUCKET_DAYS = 366
MESSAGE_EVENT = names.MESSAGE_RECEIVED
POSTBACK_EVENT = names.POSTBACK
CLICK_EVENTS = names.CLICK_EVENTS
MONEY_DIGITS = 4


@dataclass(slots=True)
class StoreOrders:
    orders: int
    last_at: str


@dataclass(slots=True)
class ComputedState:
    """Folded per event; every part combines by sum or min/max, so folds merge exactly."""

    daily: dict[str, tuple[int, float]] = field(default_factory=dict)  # UTC date -> (orders, TWD revenue)
    valued_orders: int = 0  # orders that carried a TWD amount
    line_messages: int = 0
    line_postbacks: int = 0
    line_clicks: int = 0
    last_line_click_at: str | None = None
    stores: dict[str, StoreOrders] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "daily": {day: [orders, revenue] for day, (orders, revenue) in sorted(self.daily.items())},
            "valued_orders": self.valued_orders,
            "line_messages": self.line_messages,
            "line_postbacks": self.line_postbacks,
            "line_clicks": self.line_clicks,
            "last_line_click_at": self.last_line_click_at,
            "stores": {store: {"orders": s.orders, "last_at": s.last_at} for store, s in sorted(self.stores.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ComputedState:
        """Lenient: a document written before computed traits existed has no such field."""
        if not data:
            return cls()
        return cls(
            daily={day: (int(pair[0]), float(pair[1])) for day, pair in (data.get("daily") or {}).items()},
            valued_orders=int(data.get("valued_orders", 0)),
            line_messages=int(data.get("line_messages", 0)),
            line_postbacks=int(data.get("line_postbacks", 0)),
            line_clicks=int(data.get("line_clicks", 0)),
            last_line_click_at=data.get("last_line_click_at"),
            stores={
                str(store): StoreOrders(orders=int(s["orders"]), last_at=str(s["last_at"]))
                for store, s in (data.get("stores") or {}).items()
            },
        )


def is_line_click(event: CanonicalEvent) -> bool:
    if event.type != "track" or event.event not in CLICK_EVENTS:
        return False
    return event.channel == "line" or event.properties.get("src") == "line"


def apply_engagement(state: ComputedState, event: CanonicalEvent) -> list[str]:
    """Fold one event's LINE engagement; return the names of what changed, for `profile.updated`."""
    if event.type != "track":
        return []
    if event.event == MESSAGE_EVENT:
        state.line_messages += 1
        return ["line_engagement"]
    if event.event == POSTBACK_EVENT:
        state.line_postbacks += 1
        return ["line_engagement"]
    if is_line_click(event):
        state.line_clicks += 1
        state.last_line_click_at = _latest(state.last_line_click_at, event.timestamp)
        return ["line_engagement"]
    return []


def apply_order(state: ComputedState, event: CanonicalEvent, amount: tuple[str, float] | None) -> None:
    """An `Order Completed`: its day's bucket, the valued-order count and its store."""
    revenue = amount[1] if amount is not None and amount[0] == WORKSPACE_CURRENCY else None
    if revenue is not None:
        state.valued_orders += 1
    day = _day(event.timestamp).isoformat()
    orders, total = state.daily.get(day, (0, 0.0))
    state.daily[day] = (orders + 1, round(total + (revenue or 0.0), MONEY_DIGITS))
    state.daily = _trimmed(state.daily)
    store = event.properties.get("store_id")
    if isinstance(store, str | int) and not isinstance(store, bool) and str(store):
        current = state.stores.get(str(store))
        state.stores[str(store)] = StoreOrders(
            orders=(current.orders if current else 0) + 1,
            last_at=_latest(current.last_at if current else None, event.timestamp) or event.timestamp,
        )


def merge_computed(first: ComputedState, second: ComputedState) -> ComputedState:
    daily: dict[str, tuple[int, float]] = {}
    for day in sorted(set(first.daily) | set(second.daily)):
        a_orders, a_revenue = first.daily.get(day, (0, 0.0))
        b_orders, b_revenue = second.daily.get(day, (0, 0.0))
        daily[day] = (a_orders + b_orders, round(a_revenue + b_revenue, MONEY_DIGITS))
    stores: dict[str, StoreOrders] = {}
    for store in sorted(set(first.stores) | set(second.stores)):
        entries = [s for s in (first.stores.get(store), second.stores.get(store)) if s is not None]
        stores[store] = StoreOrders(orders=sum(s.orders for s in entries), last_at=max(s.last_at for s in entries))
    return ComputedState(
        daily=_trimmed(daily),
        valued_orders=first.valued_orders + second.valued_orders,
        line_messages=first.line_messages + second.line_messages,
        line_postbacks=first.line_postbacks + second.line_postbacks,
        line_clicks=first.line_clicks + second.line_clicks,
        last_line_click_at=_latest(first.last_line_click_at, second.last_line_click_at),
        stores=stores,
    )


def window_figures(state: ComputedState, now: str, days: int) -> tuple[int, float]:
    """(orders, TWD revenue) of the `days` UTC days ending with the day of `now`."""
    if not 1 <= days <= BUCKET_DAYS:
        raise ValueError(f"a window is 1 to {BUCKET_DAYS} days, not {days}")
    today = _day(now)
    first = (today - timedelta(days=days - 1)).isoformat()
    last = today.isoformat()
    orders, revenue = 0, 0.0
    for day, (count, total) in state.daily.items():
        if first <= day <= last:
            orders += count
            revenue += total
    return orders, round(revenue, MONEY_DIGITS)


def preferred_store(state: ComputedState) -> str | None:
    if not state.stores:
        return None
    # most orders, then most recent; `max` keeps the first of equals, so the smallest id wins a tie
    ranked = sorted(state.stores.items(), key=lambda item: item[0])
    return max(ranked, key=lambda item: (item[1].orders, item[1].last_at))[0]


class _Stamp(Protocol):
    @property
    def value(self) -> Any: ...
    @property
    def at(self) -> str: ...


class ProfileFigures(Protocol):
    """What computed traits read of a profile (cdp.profiles.model.Profile): typed here so this
    module does not import the model that folds into it."""

    @property
    def computed(self) -> ComputedState: ...
    @property
    def revenue(self) -> dict[str, float]: ...
    @property
    def order_count(self) -> int: ...
    @property
    def first_seen_at(self) -> str | None: ...
    @property
    def last_seen_at(self) -> str | None: ...
    @property
    def first_order_at(self) -> str | None: ...
    @property
    def last_order_at(self) -> str | None: ...
    @property
    def traits(self) -> Mapping[str, _Stamp]: ...
    def channel_mix(self) -> str | None: ...


def computed_traits(profile: ProfileFigures, now: str) -> dict[str, Any]:
    """The computed traits of a profile as evaluated at `now` (ISO-8601 UTC)."""
    state = profile.computed
    ltv = round(profile.revenue.get(WORKSPACE_CURRENCY, 0.0), MONEY_DIGITS)
    windows = {days: window_figures(state, now, days) for days in WINDOWS_DAYS}
    return {
        "evaluated_at": now,
        "currency": WORKSPACE_CURRENCY,
        "first_seen_at": profile.first_seen_at,
        "last_seen_at": profile.last_seen_at,
        "first_purchase_at": profile.first_order_at,
        "last_purchase_at": profile.last_order_at,
        "orders": {"all_time": profile.order_count, **{f"{days}d": windows[days][0] for days in WINDOWS_DAYS}},
        "revenue": {"all_time": ltv, **{f"{days}d": windows[days][1] for days in WINDOWS_DAYS}},
        "average_order_value": round(ltv / state.valued_orders, 2) if state.valued_orders else None,
        "ltv": ltv,
        "channel_mix": profile.channel_mix(),
        "line_engagement": {
            "messages": state.line_messages,
            "postbacks": state.line_postbacks,
            "clicks": state.line_clicks,
            "last_click_at": state.last_line_click_at,
        },
        "preferred_store": preferred_store(state),
        "rfm": _rfm(profile),
    }


def _rfm(profile: ProfileFigures) -> dict[str, Any] | None:
    """The latest scheduled RFM scores (traits written by the RFM run), or None before any."""
    group = profile.traits.get("rfm_group")
    if group is None:
        return None

    def value(name: str) -> Any:
        stamped = profile.traits.get(f"rfm_{name}")
        return stamped.value if stamped else None

    return {
        "r": value("recency"),
        "f": value("frequency"),
        "m": value("monetary"),
        "group": group.value,
        "window_days": value("window_days"),
        "scored_at": group.at,
    }


def _trimmed(daily: dict[str, tuple[int, float]]) -> dict[str, tuple[int, float]]:
    if len(daily) <= 1:
        return daily
    oldest_kept = (date.fromisoformat(max(daily)) - timedelta(days=BUCKET_DAYS - 1)).isoformat()
    return {day: figures for day, figures in daily.items() if day >= oldest_kept}


def _day(timestamp: str) -> date:
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def _latest(*values: str | None) -> str | None:
    present = [value for value in values if value]
    return max(present) if present else None
