"""The analytics reports (cdp.analytics) over the query tables: overview, trend, funnel,
retention, distribution, LINE friends and messaging results. Served by the query function like
the other archive reports: each opens the data with `queries._open` and answers through
`queries._answer`, so a large archive answers 202 with a job (`Prefer: respond-async` forces it).

Every report takes `from`, `to` (local dates, inclusive) and `tz` (IANA, default Asia/Taipei);
a malformed parameter answers 400 `invalid_parameter` naming it in `details.field`; an unknown
event name is not an error: it selects nothing. docs/analytics.md defines every figure.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from cdp.analytics.range import INVALID, ReportRange, invalid, parse_range
from pydantic import Field

from cdp_api.docs import ok
from cdp_api.errors import coded
from cdp_api.routes.queries import ACCEPTED, QUERIES, _answer, _now, _open

if TYPE_CHECKING:
    import duckdb

router = Router()  # type: ignore[no-untyped-call]

MAX_NAME = 200  # an event name longer than this cannot exist (the ingest API refuses it)


def _coded(message: str) -> Any:
    return coded(INVALID, message)


DateQuery = Annotated[str | None, _coded("dates are YYYY-MM-DD")]
From = Annotated[DateQuery, Query(alias="from", description="first local day, YYYY-MM-DD (default: `to` - 29 days)")]
To = Annotated[DateQuery, Query(description="last local day, inclusive, YYYY-MM-DD (default: today in `tz`)")]
Tz = Annotated[
    str | None, _coded("`tz` is an IANA time zone"), Query(description="IANA time zone (default Asia/Taipei)")
]
Days = Annotated[
    int, Field(ge=1, le=90), _coded("`attribution_days` is 1 to 90"), Query(description="conversion window")
]


def _range(start: str | None, end: str | None, tz: str | None) -> ReportRange:
    return parse_range(start, end, tz, _now())


def _names(field: str, values: list[str] | None) -> list[str]:
    names = [value for value in values or [] if value]
    for name in names:
        if len(name) > MAX_NAME:
            raise invalid(field, f"`{field}` is an event name of at most {MAX_NAME} characters")
    return names


# --- the reports, each from a JSON request (what a job stores) -----------------------------
def _request(span: ReportRange, **extra: Any) -> dict[str, Any]:
    return {**span.echo(), **extra}


def _run(
    report: str, request: dict[str, Any], compute: Callable[[duckdb.DuckDBPyConnection, ReportRange, datetime], Any]
) -> dict[str, Any]:
    span = parse_range(request["from"], request["to"], request["tz"], _now())
    now = _now()
    db, as_of = _open(None, now)
    try:
        figures = compute(db, span, now)
    finally:
        db.close()
    return {"report": report, **span.echo(), "as_of": as_of, "archive_as_of": as_of, **figures}


def _overview(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import overview

    return _run("overview", request, lambda db, span, _now: overview(db, span))


def _trend(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import trend

    def compute(db: duckdb.DuckDBPyConnection, span: ReportRange, _now: datetime) -> dict[str, Any]:
        return trend(
            db,
            span,
            interval=request["interval"],
            by=request["by"],
            measure=request["measure"],
            names=request["events"],
            limit=request["limit"],
        )

    return _run("trend", request, compute)


def _funnel(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import funnel

    return _run(
        "funnel",
        request,
        lambda db, span, _now: funnel(db, span, steps=request["steps"], window_days=request["window_days"]),
    )


def _retention(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import retention

    return _run(
        "retention",
        request,
        lambda db, span, now: retention(db, span, now, period=request["period"], periods=request["periods"]),
    )


def _distribution(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import distribution

    def compute(db: duckdb.DuckDBPyConnection, span: ReportRange, _now: datetime) -> dict[str, Any]:
        return distribution(
            db,
            span,
            field=request["field"],
            event=request["event"],
            kind=request["kind"],
            bins=request["bins"],
            top=request["top"],
        )

    return _run("distribution", request, compute)


def _friends(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import friends

    return _run("friends", request, lambda db, span, _now: friends(db, span))


def _messaging(request: dict[str, Any]) -> dict[str, Any]:
    from cdp.analytics import messaging
    from cdp.analytics.messaging import totals

    answer = _run(
        "messaging",
        request,
        lambda db, span, _now: messaging(db, span, attribution_days=request["attribution_days"]),
    )
    pricing, campaign_names, journey_names = _messaging_context()
    for key, names in (("campaigns", campaign_names), ("journeys", journey_names)):
        for item in answer[key]:
            units = item["units"]
            # List price: every LINE message as an extra message (the plan's included messages are
            # shared by the month's sends, not owned by one campaign).
            item["cost"] = pricing.estimate(
                line_messages=units["line_messages"],
                consumption=pricing.line_included_messages,
                emails=units["emails"],
                sms_segments=units["sms_segments"],
            )["total"]
            item["name"] = names.get(item["id"])
    answer["currency"] = pricing.currency
    answer["totals"] = totals([*answer["campaigns"], *answer["journeys"]])
    return answer


def _messaging_context() -> tuple[Any, dict[str, str], dict[str, str]]:
    """The price list and the names of the campaigns and journeys (the core table)."""
    from cdp.adapters.aws import client
    from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore, DynamoPricing
    from cdp.adapters.dynamodb.journeys import DynamoJourneyStore

    from cdp_api.context import admin_context

    table = admin_context().settings.core_table
    dynamodb = client("dynamodb")
    pricing = DynamoPricing(dynamodb, table).read()[0]
    campaigns = {campaign.campaign_id: campaign.name for campaign in DynamoCampaignStore(dynamodb, table).list()}
    journeys = {
        journey.journey_id: str(journey.draft.get("name") or journey.journey_id)
        for journey in DynamoJourneyStore(dynamodb, table).list()
    }
    return pricing, campaigns, journeys


REPORTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "report_overview": _overview,
    "report_trend": _trend,
    "report_funnel": _funnel,
    "report_retention": _retention,
    "report_distribution": _distribution,
    "report_friends": _friends,
    "report_messaging": _messaging,
}
QUERIES.update(REPORTS)  # what a job of these kinds runs (cdp_api.routes.queries.run_job)


# --- routes --------------------------------------------------------------------------------
def _answered(model: str) -> Any:
    return {**ok(200, "The report", model), **ACCEPTED}


@router.get("/admin/v1/reports/overview", responses=_answered("OverviewReport"))
def overview_report(start: From = None, to: To = None, tz: Tz = None) -> tuple[dict[str, Any], int]:
    """The dashboard: friends, reachable people, buyers, revenue, block rate and tag coverage,
    each with its value and a daily trend over the range."""
    return _answer("report_overview", _request(_range(start, to, tz)))


@router.get("/admin/v1/reports/trend", responses=_answered("TrendReport"))
def trend_report(
    start: From = None,
    to: To = None,
    tz: Tz = None,
    interval: Annotated[
        Literal["day", "week"], _coded("`interval` is day or week"), Query(description="buckets")
    ] = "day",
    by: Annotated[
        Literal["channel", "name", "none"], _coded("`by` is channel, name or none"), Query(description="series")
    ] = "channel",
    measure: Annotated[
        Literal["events", "people"], _coded("`measure` is events or people"), Query(description="what is counted")
    ] = "events",
    event: Annotated[list[str] | None, Query(description="only these event names (repeatable)")] = None,
    limit: Annotated[
        int,
        Field(ge=1, le=50),
        _coded("`limit` is 1 to 50"),
        Query(description="at most this many series; the rest is `other`"),
    ] = 20,
) -> tuple[dict[str, Any], int]:
    """Events (or distinct people) per local day or week, split by channel or event name."""
    span = _range(start, to, tz)
    request = _request(span, interval=interval, by=by, measure=measure, events=_names("event", event), limit=limit)
    return _answer("report_trend", request)


@router.get("/admin/v1/reports/funnel", responses=_answered("FunnelReport"))
def funnel_report(
    start: From = None,
    to: To = None,
    tz: Tz = None,
    step: Annotated[
        list[str] | None,
        Query(description="the steps in order (repeatable, 2 to 8 distinct names)"),
    ] = None,
    window_days: Annotated[
        int,
        Field(ge=1, le=90),
        _coded("`window_days` is 1 to 90"),
        Query(description="conversion window from the first step"),
    ] = 7,
) -> tuple[dict[str, Any], int]:
    """Ordered steps per person within the window: conversion and median time per step, by
    channel group (online, offline, line, other) and overall."""
    from cdp.analytics.funnel import DEFAULT_STEPS, MAX_STEPS, MIN_STEPS

    steps = _names("step", step) or list(DEFAULT_STEPS)
    if not MIN_STEPS <= len(steps) <= MAX_STEPS or len(set(steps)) != len(steps):
        raise invalid("step", f"`step`: {MIN_STEPS} to {MAX_STEPS} distinct event names, in order")
    return _answer("report_funnel", _request(_range(start, to, tz), steps=steps, window_days=window_days))


@router.get("/admin/v1/reports/retention", responses=_answered("RetentionReport"))
def retention_report(
    start: From = None,
    to: To = None,
    tz: Tz = None,
    period: Annotated[
        Literal["week", "month"], _coded("`period` is week or month"), Query(description="cohort period")
    ] = "week",
    periods: Annotated[
        int, Field(ge=1, le=52), _coded("`periods` is 1 to 52"), Query(description="period offsets per cohort")
    ] = 12,
) -> tuple[dict[str, Any], int]:
    """First-purchase cohorts (local week or month) and how many buy again in each later
    period; the repeat-purchase rate of the range."""
    return _answer("report_retention", _request(_range(start, to, tz), period=period, periods=periods))


@router.get("/admin/v1/reports/distribution", responses=_answered("DistributionReport"))
def distribution_report(
    start: From = None,
    to: To = None,
    tz: Tz = None,
    field: Annotated[
        str | None,
        _coded("`field` is traits.<name>, computed.<path> or properties.<name>"),
        Query(description="required: traits.<name>, computed.<path> or properties.<name> (with `event`)"),
    ] = None,
    event: Annotated[
        str | None, _coded("`event` is an event name"), Query(description="the event of `properties.<name>`")
    ] = None,
    kind: Annotated[
        Literal["auto", "numeric", "categorical"],
        _coded("`kind` is auto, numeric or categorical"),
        Query(description="auto: numeric when every value is a number"),
    ] = "auto",
    bins: Annotated[int, Field(ge=1, le=50), _coded("`bins` is 1 to 50"), Query(description="numeric: at most")] = 10,
    top: Annotated[
        int, Field(ge=1, le=50), _coded("`top` is 1 to 50"), Query(description="categorical: values shown")
    ] = 10,
) -> tuple[dict[str, Any], int]:
    """A histogram (numeric) or the top values (categorical) of a trait, a computed trait (the
    profiles now) or an event property (the events of `event` in the range)."""
    from cdp.analytics.distribution import parse_field

    span = _range(start, to, tz)
    try:
        if not field:
            raise ValueError("no field")
        source, _ = parse_field(field)
    except ValueError:
        raise invalid("field", "`field` is traits.<name>, computed.<path> or properties.<name>") from None
    if source == "properties" and not event:
        raise invalid("event", "`event` names the event whose property `field` reads")
    names = _names("event", [event] if event else None)
    request = _request(
        span,
        field=field,
        event=names[0] if names and source == "properties" else None,
        kind=kind,
        bins=bins,
        top=top,
    )
    return _answer("report_distribution", request)


@router.get("/admin/v1/reports/friends", responses=_answered("FriendsReport"))
def friends_report(start: From = None, to: To = None, tz: Tz = None) -> tuple[dict[str, Any], int]:
    """LINE friends per day: new friends, unblocks, blocks, friends at the start and end of the
    day, net growth and block rate."""
    return _answer("report_friends", _request(_range(start, to, tz)))


@router.get("/admin/v1/reports/messaging", responses=_answered("MessagingReport"))
def messaging_report(
    start: From = None, to: To = None, tz: Tz = None, attribution_days: Days = 7
) -> tuple[dict[str, Any], int]:
    """Campaign and journey results of the sends in the range: sent, delivered, clicks, CTR,
    conversions, revenue, block rate and cost at list price, each and in total."""
    return _answer("report_messaging", _request(_range(start, to, tz), attribution_days=attribution_days))


__all__ = ["REPORTS", "router"]
