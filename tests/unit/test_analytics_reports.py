"""Each analytics report (cdp.analytics) against a naive Python reference computed from the same
generated rows, in a time zone without DST (Asia/Taipei) and one with (America/New_York, whose
2026-11-01 falls inside the generated span)."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
from cdp.analytics import distribution, friends, funnel, messaging, overview, retention, trend
from cdp.analytics.distribution import bin_index, nice_bins
from cdp.analytics.funnel import DEFAULT_STEPS, channel_group
from cdp.analytics.range import ReportRange
from cdp.analytics.retention import period_start, shift
from cdp.analytics.trend import buckets

from tests.unit.analytics_data import Archive, generate

ZONES = ("Asia/Taipei", "America/New_York")
SEEDS = (1, 2, 3)
NOW = datetime(2026, 12, 20, 3, 0, tzinfo=UTC)


def rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


@pytest.fixture(scope="module", params=SEEDS)
def data(request: pytest.FixtureRequest) -> Iterator[tuple[Archive, duckdb.DuckDBPyConnection]]:
    archive = generate(request.param)
    db = archive.connect()
    yield archive, db
    db.close()


def spans(tz: str) -> list[ReportRange]:
    return [
        ReportRange(date(2026, 10, 1), date(2026, 11, 15), tz),  # across the DST change
        ReportRange(date(2026, 11, 1), date(2026, 11, 1), tz),  # the 25-hour day in New York
        ReportRange(date(2026, 9, 1), date(2026, 12, 31), tz),  # everything
    ]


def local(ts: datetime, tz: str) -> date:
    return ts.astimezone(ZoneInfo(tz)).date()


def inside(ts: datetime, span: ReportRange) -> bool:
    return span.start <= local(ts, span.tz) <= span.end


def revenue_of(event: dict[str, Any]) -> float:
    for key in ("revenue", "total"):
        value = event["properties"].get(key)
        if value is not None:
            return float(value)
    return 0.0


# --- friends and overview ----------------------------------------------------------------
def friend_at(archive: Archive, before: datetime) -> set[str]:
    """People whose latest follow / unfollow before `before` is a follow."""
    latest: dict[str, tuple[datetime, str, str]] = {}
    for event in archive.events:
        if event["name"] in ("LINE Followed", "LINE Unfollowed") and event["ts"] < before:
            key = (event["ts"], event["event_id"], event["name"])
            if event["profile_id"] not in latest or key > latest[event["profile_id"]]:
                latest[event["profile_id"]] = key
    return {person for person, (_, _, name) in latest.items() if name == "LINE Followed"}


def naive_friends(archive: Archive, span: ReportRange) -> dict[str, Any]:
    days = []
    for day in span.days():
        begin, finish = span.local_midnight(day), span.local_midnight(day + timedelta(days=1))
        kinds: Counter[str] = Counter()
        for event in archive.events:
            if begin <= event["ts"] < finish:
                if event["name"] == "LINE Unfollowed":
                    kinds["block"] += 1
                elif event["name"] == "LINE Followed":
                    kinds["unblock" if event["properties"].get("isUnblocked") is True else "new"] += 1
        start, end = len(friend_at(archive, begin)), len(friend_at(archive, finish))
        days.append(
            {
                "date": day.isoformat(),
                "new_friends": kinds["new"],
                "unblocks": kinds["unblock"],
                "blocks": kinds["block"],
                "net_growth": end - start,
                "friends_start": start,
                "friends_end": end,
                "block_rate": rate(kinds["block"], start),
            }
        )
    first, last = days[0]["friends_start"], days[-1]["friends_end"]
    blocks = sum(d["blocks"] for d in days)
    totals = {
        "new_friends": sum(d["new_friends"] for d in days),
        "unblocks": sum(d["unblocks"] for d in days),
        "blocks": blocks,
        "net_growth": last - first,
        "friends_start": first,
        "friends_end": last,
        "block_rate": rate(blocks, first),
    }
    return {"days": days, "totals": totals}


@pytest.mark.parametrize("tz", ZONES)
def test_friends_matches_the_reference(data: tuple[Archive, duckdb.DuckDBPyConnection], tz: str) -> None:
    archive, db = data
    for span in spans(tz):
        assert friends(db, span) == naive_friends(archive, span)


def naive_overview(archive: Archive, span: ReportRange) -> dict[str, Any]:
    people = {p["profile_id"]: p for p in archive.profiles}

    def contact(p: dict[str, Any]) -> bool:
        types, consent = p["identifier_types"], p["consent"]
        return ("email" in types and consent.get("email:marketing") is True) or (
            "phone" in types and consent.get("sms:marketing") is True
        )

    reference = naive_friends(archive, span)
    trends: dict[str, list[Any]] = defaultdict(list)
    for row in reference["days"]:
        day = date.fromisoformat(row["date"])
        now_friends = friend_at(archive, span.local_midnight(day + timedelta(days=1)))
        reachable = {pid for pid, p in people.items() if contact(p)} | {
            pid for pid in now_friends if pid in people and people[pid]["consent"].get("line:marketing") is not False
        }
        tagged = {pid for pid in now_friends if pid in people and people[pid]["tags"]}
        orders = [e for e in archive.events if e["name"] == "Order Completed" and local(e["ts"], span.tz) == day]
        trends["friends"].append(len(now_friends))
        trends["reachable"].append(len(reachable))
        trends["buyers"].append(len({e["profile_id"] for e in orders}))
        trends["revenue"].append(round(sum(revenue_of(e) for e in orders), 2))
        trends["block_rate"].append(row["block_rate"])
        trends["tag_coverage"].append(rate(len(tagged), len(now_friends)))
    buyers = {e["profile_id"] for e in archive.events if e["name"] == "Order Completed" and inside(e["ts"], span)}
    values = {
        "friends": trends["friends"][-1],
        "reachable": trends["reachable"][-1],
        "buyers": len(buyers),
        "revenue": round(sum(trends["revenue"]), 2),
        "block_rate": reference["totals"]["block_rate"],
        "tag_coverage": trends["tag_coverage"][-1],
    }
    return {
        "days": [d.isoformat() for d in span.days()],
        "kpis": {name: {"value": values[name], "trend": trends[name]} for name in values},
    }


@pytest.mark.parametrize("tz", ZONES)
def test_overview_matches_the_reference(data: tuple[Archive, duckdb.DuckDBPyConnection], tz: str) -> None:
    archive, db = data
    for span in spans(tz):
        got, want = overview(db, span), naive_overview(archive, span)
        assert got["days"] == want["days"]
        for name, kpi in want["kpis"].items():
            assert got["kpis"][name]["value"] == pytest.approx(kpi["value"]), name
            assert got["kpis"][name]["trend"] == pytest.approx(kpi["trend"]), name


# --- trend -------------------------------------------------------------------------------
def naive_trend(
    archive: Archive, span: ReportRange, interval: str, by: str, measure: str, names: list[str], limit: int
) -> dict[str, Any]:
    axis = buckets(span, interval)
    chosen = [e for e in archive.events if inside(e["ts"], span) and (not names or e["name"] in names)]

    def bucket(e: dict[str, Any]) -> date:
        day = local(e["ts"], span.tz)
        return day if interval == "day" else day - timedelta(days=day.weekday())

    def key(e: dict[str, Any]) -> str:
        return {"channel": e["channel"] or "unknown", "name": e["name"], "none": "all"}[by]

    def size(rows: list[dict[str, Any]]) -> int:
        return len(rows) if measure == "events" else len({e["profile_id"] for e in rows})

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in chosen:
        groups[key(e)].append(e)
    order = sorted(groups, key=lambda k: (-size(groups[k]), k))
    if len(order) > limit:
        kept = order[:limit]
        rest = [e for k in order[limit:] for e in groups[k]]
        groups = {k: groups[k] for k in kept} | {"other": rest}
    series = [
        {"key": k, "values": [size([e for e in rows if bucket(e) == b]) for b in axis], "total": size(rows)}
        for k, rows in groups.items()
    ]
    series.sort(key=lambda s: (s["key"] == "other", -s["total"], s["key"]))
    return {
        "interval": interval,
        "by": by,
        "measure": measure,
        "buckets": [b.isoformat() for b in axis],
        "series": series,
        "total": size(chosen),
    }


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    ("interval", "by", "measure", "names", "limit"),
    [
        ("day", "channel", "events", [], 20),
        ("week", "name", "people", [], 3),
        ("week", "none", "events", ["Order Completed", "No Such Event"], 20),
        ("day", "name", "events", ["No Such Event"], 5),
    ],
)
def test_trend_matches_the_reference(
    data: tuple[Archive, duckdb.DuckDBPyConnection],
    tz: str,
    interval: str,
    by: str,
    measure: str,
    names: list[str],
    limit: int,
) -> None:
    archive, db = data
    for span in spans(tz):
        got = trend(db, span, interval=interval, by=by, measure=measure, names=names, limit=limit)
        assert got == naive_trend(archive, span, interval, by, measure, names, limit)


# --- funnel ------------------------------------------------------------------------------
def naive_funnel(archive: Archive, span: ReportRange, steps: list[str], window_days: int) -> dict[str, Any]:
    window = timedelta(days=window_days)
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in archive.events:
        by_person[e["profile_id"]].append(e)
    reached: dict[str, list[list[float | None]]] = defaultdict(list)  # group -> per person step times
    for events in by_person.values():
        entries = [e for e in events if e["name"] == steps[0] and inside(e["ts"], span)]
        if not entries:
            continue
        entry = min(entries, key=lambda e: (e["ts"], e["event_id"]))
        times: list[datetime | None] = [entry["ts"]]
        for step in steps[1:]:
            previous = times[-1]
            hits = (
                []
                if previous is None
                else [e["ts"] for e in events if e["name"] == step and previous <= e["ts"] <= entry["ts"] + window]
            )
            times.append(min(hits) if hits else None)
        seconds = [t.timestamp() if t else None for t in times]
        reached[channel_group(entry["channel"])].append(seconds)
        reached["all"].append(seconds)
    groups = {}
    for group in ("all", "online", "offline", "line", "other"):
        people = reached.get(group, [])
        rows = [
            {
                "name": steps[0],
                "people": len(people),
                "conversion": None,
                "overall": rate(len(people), len(people)),
                "median_seconds": None,
            }
        ]
        for n in range(1, len(steps)):
            got = [p for p in people if p[n] is not None]
            gaps = [p[n] - p[n - 1] for p in got]  # type: ignore[operator]
            rows.append(
                {
                    "name": steps[n],
                    "people": len(got),
                    "conversion": rate(len(got), rows[-1]["people"]),
                    "overall": rate(len(got), len(people)),
                    "median_seconds": round(statistics.median(gaps), 3) if gaps else None,
                }
            )
        groups[group] = {"entered": len(people), "steps": rows}
    return {"steps": steps, "window_days": window_days, "groups": groups}


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    ("steps", "window_days"),
    [
        (list(DEFAULT_STEPS), 7),
        (["Product Viewed", "Order Completed"], 1),
        (["Product Added", "Checkout Started", "Order Completed"], 30),
        (["Product Viewed", "No Such Event", "Order Completed"], 7),
    ],
)
def test_funnel_matches_the_reference(
    data: tuple[Archive, duckdb.DuckDBPyConnection], tz: str, steps: list[str], window_days: int
) -> None:
    archive, db = data
    for span in spans(tz):
        assert funnel(db, span, steps=steps, window_days=window_days) == naive_funnel(archive, span, steps, window_days)


# --- retention ---------------------------------------------------------------------------
def naive_retention(archive: Archive, span: ReportRange, period: str, periods: int) -> dict[str, Any]:
    orders: dict[str, list[date]] = defaultdict(list)
    for e in archive.events:
        if e["name"] == "Order Completed":
            orders[e["profile_id"]].append(local(e["ts"], span.tz))
    today = NOW.astimezone(ZoneInfo(span.tz)).date()
    cohorts: dict[date, list[str]] = defaultdict(list)
    for person, days in orders.items():
        cohort = period_start(min(days), period)
        if span.start <= cohort <= span.end:
            cohorts[cohort].append(person)
    rows = []
    for cohort in sorted(cohorts):
        members = cohorts[cohort]
        kept: list[int | None] = []
        for k in range(periods):
            begin = shift(cohort, period, k)
            if begin > today:
                kept.append(None)
            else:
                kept.append(sum(1 for p in members if any(period_start(d, period) == begin for d in orders[p])))
        rows.append(
            {
                "cohort": cohort.isoformat(),
                "size": len(members),
                "retained": kept,
                "rates": [None if v is None else rate(v, len(members)) for v in kept],
                "repeat_buyers": sum(1 for p in members if len(orders[p]) >= 2),
            }
        )
    in_range = Counter(
        e["profile_id"] for e in archive.events if e["name"] == "Order Completed" and inside(e["ts"], span)
    )
    repeaters = sum(1 for n in in_range.values() if n >= 2)
    return {
        "period": period,
        "periods": periods,
        "cohorts": rows,
        "repeat_purchase": {
            "buyers": len(in_range),
            "repeat_buyers": repeaters,
            "rate": rate(repeaters, len(in_range)),
        },
    }


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(("period", "periods"), [("week", 12), ("month", 4), ("week", 1)])
def test_retention_matches_the_reference(
    data: tuple[Archive, duckdb.DuckDBPyConnection], tz: str, period: str, periods: int
) -> None:
    archive, db = data
    for span in spans(tz):
        got = retention(db, span, NOW, period=period, periods=periods)
        assert got == naive_retention(archive, span, period, periods)


def test_retention_leaves_periods_not_yet_begun_empty(data: tuple[Archive, duckdb.DuckDBPyConnection]) -> None:
    _, db = data
    span = ReportRange(date(2026, 9, 1), date(2026, 12, 31), "Asia/Taipei")
    early = datetime(2026, 11, 2, tzinfo=UTC)
    got = retention(db, span, early, period="month", periods=4)
    for cohort in got["cohorts"]:
        begun = [shift(date.fromisoformat(cohort["cohort"]), "month", k) <= date(2026, 11, 2) for k in range(4)]
        assert [value is not None for value in cohort["retained"]] == begun


# --- distribution ------------------------------------------------------------------------
def naive_distribution(
    archive: Archive, span: ReportRange, field: str, event: str | None, kind: str, bins: int, top: int
) -> dict[str, Any]:
    source, _, name = field.partition(".")
    if source == "properties":
        rows = [e["properties"] for e in archive.events if e["name"] == event and inside(e["ts"], span)]
    else:
        rows = [p[source] for p in archive.profiles]
    values = []
    for row in rows:
        value: Any = row
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values.append(value)
    present = [v for v in values if v is not None]
    numeric = [v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
    chosen = kind if kind != "auto" else ("numeric" if present and len(numeric) == len(present) else "categorical")
    answer: dict[str, Any] = {
        "field": field,
        "event": event if source == "properties" else None,
        "kind": chosen,
        "min": None,
        "max": None,
        "mean": None,
        "median": None,
        "bins": None,
        "top": None,
        "other": None,
    }
    if chosen == "numeric":
        answer.update({"count": len(numeric), "missing": len(values) - len(numeric), "bins": []})
        if numeric:
            lower, width, many = nice_bins(float(min(numeric)), float(max(numeric)), bins)
            counts = Counter(bin_index(float(v), lower, width, many) for v in numeric)
            answer.update(
                {
                    "min": float(min(numeric)),
                    "max": float(max(numeric)),
                    "mean": round(statistics.fmean(numeric), 4),
                    "median": round(float(statistics.median(numeric)), 4),
                    "bins": [
                        {"lower": lower + n * width, "upper": lower + (n + 1) * width, "count": counts.get(n, 0)}
                        for n in range(many)
                    ],
                }
            )
        return answer
    text = Counter(v if isinstance(v, str) else json.dumps(v) for v in present)
    shown = sorted(text.items(), key=lambda item: (-item[1], item[0]))[:top]
    answer.update(
        {
            "count": len(present),
            "missing": len(values) - len(present),
            "top": [{"value": v, "count": n} for v, n in shown],
            "other": len(present) - sum(n for _, n in shown),
        }
    )
    return answer


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize(
    ("field", "event", "kind", "bins", "top"),
    [
        ("traits.age", None, "auto", 10, 10),
        ("traits.score", None, "auto", 7, 10),
        ("traits.city", None, "auto", 10, 3),
        ("traits.vip", None, "auto", 10, 10),
        ("traits.nothing", None, "auto", 10, 10),
        ("computed.orders.all_time", None, "numeric", 5, 10),
        ("properties.revenue", "Order Completed", "auto", 20, 10),
        ("properties.coupon", "Order Completed", "categorical", 10, 2),
        ("properties.revenue", "No Such Event", "auto", 10, 10),
    ],
)
def test_distribution_matches_the_reference(
    data: tuple[Archive, duckdb.DuckDBPyConnection],
    tz: str,
    field: str,
    event: str | None,
    kind: str,
    bins: int,
    top: int,
) -> None:
    archive, db = data
    for span in spans(tz):
        got = distribution(db, span, field=field, event=event, kind=kind, bins=bins, top=top)
        want = naive_distribution(archive, span, field, event, kind, bins, top)
        assert got.pop("mean") == pytest.approx(want.pop("mean"))
        assert got == want


@pytest.mark.parametrize(
    ("low", "high", "most"),
    [(0, 100, 10), (0.3, 0.7, 4), (-5, 49.9, 7), (15, 79, 10), (3, 3, 10), (1, 1e9, 3), (-0.001, 0.002, 50)],
)
def test_nice_bins_cover_the_values_in_at_most_the_bins_asked(low: float, high: float, most: int) -> None:
    lower, width, count = nice_bins(low, high, most)
    assert 1 <= count <= most
    assert lower <= low and high <= lower + count * width + 1e-9 * abs(high)
    mantissa = width / 10 ** __import__("math").floor(__import__("math").log10(width))
    assert round(mantissa, 6) in (1, 2, 5)
    assert bin_index(low, lower, width, count) == 0 and bin_index(high, lower, width, count) == count - 1


# --- messaging ---------------------------------------------------------------------------
def naive_messaging(archive: Archive, span: ReportRange, days: int) -> dict[str, Any]:
    start, end = span.start_utc, span.end_utc

    def owner(e: dict[str, Any]) -> tuple[str, str] | None:
        props = e["properties"]
        if props.get("campaign_id"):
            return ("campaign", props["campaign_id"])
        if props.get("journey_id"):
            return ("journey", props["journey_id"])
        return None

    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in archive.events:
        if e["name"] in ("Message Sent", "Message Suppressed", "Message Failed") and e["ts"] >= start and owner(e):
            key = (*owner(e), e["properties"]["send_key"])  # type: ignore[misc]
            if key not in latest or e["ts"] > latest[key]["ts"]:
                latest[key] = e
    sends: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (kind, ident, _), e in latest.items():
        if e["name"] == "Message Sent" and e["ts"] < end:
            sends[(kind, ident)].append(e)
    out: dict[str, list[dict[str, Any]]] = {"campaigns": [], "journeys": []}
    for (kind, ident), rows in sorted(sends.items()):
        first: dict[str, datetime] = {}
        first_line: dict[str, datetime] = {}
        for e in rows:
            first[e["profile_id"]] = min(first.get(e["profile_id"], e["ts"]), e["ts"])
            if e["properties"]["channel"] == "line":
                first_line[e["profile_id"]] = min(first_line.get(e["profile_id"], e["ts"]), e["ts"])
        delivered = {
            e["properties"]["message_id"] for e in archive.events if e["name"] == "Email Delivered" and e["ts"] >= start
        }
        clickers = {
            e["profile_id"]
            for e in archive.events
            if owner(e) == (kind, ident)
            and e["name"] in ("Link Clicked", "LINE Link Clicked")
            and e["profile_id"] in first
            and e["ts"] >= first[e["profile_id"]]
        }
        orders = [
            e
            for e in archive.events
            if e["name"] == "Order Completed"
            and e["profile_id"] in first
            and first[e["profile_id"]] <= e["ts"] < first[e["profile_id"]] + timedelta(days=days)
        ]
        blocked = {
            e["profile_id"]
            for e in archive.events
            if e["name"] == "LINE Unfollowed"
            and e["profile_id"] in first_line
            and first_line[e["profile_id"]] <= e["ts"] < first_line[e["profile_id"]] + timedelta(hours=48)
        }
        emails = sum(1 for e in rows if e["properties"]["channel"] == "email")
        out[f"{kind}s"].append(
            {
                "id": ident,
                "sent": len(rows),
                "delivered": len(rows)
                - emails
                + sum(
                    1
                    for e in rows
                    if e["properties"]["channel"] == "email" and e["properties"]["message_id"] in delivered
                ),
                "clicks": len(clickers),
                "ctr": rate(len(clickers), len(rows)),
                "conversions": len({e["profile_id"] for e in orders}),
                "revenue": round(sum(revenue_of(e) for e in orders), 2),
                "line_recipients": len(first_line),
                "blocked": len(blocked),
                "block_rate": rate(len(blocked), len(first_line)),
                "units": {
                    "line_messages": sum(
                        e["properties"]["cost_units"] for e in rows if e["properties"]["channel"] == "line"
                    ),
                    "emails": emails,
                    "sms_segments": sum(
                        e["properties"]["cost_units"] for e in rows if e["properties"]["channel"] == "sms"
                    ),
                },
            }
        )
    return {"attribution_days": days, **out}


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("days", [7, 1])
def test_messaging_matches_the_reference(data: tuple[Archive, duckdb.DuckDBPyConnection], tz: str, days: int) -> None:
    archive, db = data
    for span in spans(tz):
        assert messaging(db, span, attribution_days=days) == naive_messaging(archive, span, days)
