"""Bad input on the archive, report and schedule routes of the admin API (moto): each gets a 4xx
with a machine-readable code, and nothing is stored or scheduled on the way."""

from __future__ import annotations

import pytest
from cdp.settings import ENV_SEGMENT_SCHEDULE_GROUP

from tests.integration.conftest import Stack
from tests.integration.test_segments_admin import CITY_TAIPEI, call


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "invalid_segment_rule"),
        ({"rule": CITY_TAIPEI, "extra": 1}, 400, "unknown_preview_field"),
        ({"rule": CITY_TAIPEI, "sample": 0}, 400, "invalid_sample"),
        ({"rule": CITY_TAIPEI, "sample": 101}, 400, "invalid_sample"),
        ({"rule": {"and": []}}, 400, "invalid_segment_rule"),
    ],
)
def test_preview_refuses_bad_bodies(stack: Stack, body: dict, status: int, code: str) -> None:
    answered, payload = call(stack, "POST", "/admin/v1/segments/preview", body)
    assert (answered, payload["error"]) == (status, code)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "empty_search"),
        ({"colour": "red"}, "unknown_search_parameter"),
        ({"tag": ":size"}, "invalid_tag"),
        ({"trait.bad-name": "x"}, "invalid_trait_name"),
        ({"identifier": "nocolon"}, "invalid_identifier"),
        ({"name_prefix": "Amy", "limit": "0"}, "invalid_limit"),
    ],
)
def test_search_refuses_bad_queries(stack: Stack, query: dict[str, str], code: str) -> None:
    status, body = call(stack, "GET", "/admin/v1/profiles/search", query=query)
    assert (status, body["error"]) == (400, code)


def test_a_bad_refresh_stores_and_schedules_nothing(stack: Stack) -> None:
    for refresh in (5, 10081, "60", True):
        status, body = call(
            stack,
            "POST",
            "/admin/v1/segments",
            {"id": "t", "name": "T", "rule": CITY_TAIPEI, "refresh_minutes": refresh},
        )
        assert (status, body["error"]) == (400, "invalid_refresh")
    assert call(stack, "GET", "/admin/v1/segments/t", resource="/admin/v1/segments/{id}")[0] == 404
    group = stack.env("admin_api", ENV_SEGMENT_SCHEDULE_GROUP)
    names = {s["Name"] for s in stack.client("scheduler").list_schedules(GroupName=group)["Schedules"]}
    assert "t" not in names


def test_unknown_segments_and_bad_cursors_are_named(stack: Stack) -> None:
    status, body = call(stack, "GET", "/admin/v1/segments/nope/history", resource="/admin/v1/segments/{id}/history")
    assert (status, body["error"]) == (404, "segment_not_found")
    status, body = call(
        stack, "POST", "/admin/v1/segments/nope/recompute", resource="/admin/v1/segments/{id}/recompute"
    )
    assert (status, body["error"]) == (404, "segment_not_found")
    status, body = call(stack, "GET", "/admin/v1/profiles/nobody/timeline", resource="/admin/v1/profiles/{id}/timeline")
    assert (status, body["error"]) == (404, "profile_not_found")


# --- the analytics reports (cdp_api.routes.analytics) ----------------------------------------
REPORTS = ("overview", "trend", "funnel", "retention", "distribution", "friends", "messaging")
NEEDS = {"distribution": {"field": "traits.city"}}


@pytest.mark.parametrize("report", ["friends", "distribution"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-1-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-11-01"}, "from"),
        ({"tz": "../../etc/passwd"}, "tz"),
    ],
)
def test_reports_refuse_malformed_ranges_naming_the_field(
    stack: Stack, report: str, query: dict[str, str], field: str
) -> None:
    status, body = call(stack, "GET", f"/admin/v1/reports/{report}", query={**NEEDS.get(report, {}), **query})
    assert (status, body["error"], body["details"]["field"]) == (400, "invalid_parameter", field)


@pytest.mark.parametrize(
    ("report", "query", "field"),
    [
        ("trend", {"interval": "hour"}, "interval"),
        ("trend", {"by": "colour"}, "by"),
        ("trend", {"measure": "money"}, "measure"),
        ("trend", {"limit": "0"}, "limit"),
        ("trend", {"limit": "many"}, "limit"),
        ("funnel", {"window_days": "91"}, "window_days"),
        ("funnel", {"step": "Order Completed"}, "step"),
        ("retention", {"period": "year"}, "period"),
        ("retention", {"periods": "53"}, "periods"),
        ("distribution", {}, "field"),
        ("distribution", {"field": "traits"}, "field"),
        ("distribution", {"field": "traits.a.b"}, "field"),
        ("distribution", {"field": "profile.city"}, "field"),
        ("distribution", {"field": "properties.revenue"}, "event"),
        ("distribution", {"field": "traits.city", "kind": "pie"}, "kind"),
        ("distribution", {"field": "traits.city", "bins": "51"}, "bins"),
        ("distribution", {"field": "traits.city", "top": "0"}, "top"),
        ("messaging", {"attribution_days": "0"}, "attribution_days"),
        *((report, {"tz": "Mars/Olympus"}, "tz") for report in REPORTS),
    ],
)
def test_reports_refuse_malformed_parameters_naming_the_field(
    stack: Stack, report: str, query: dict[str, str], field: str
) -> None:
    status, body = call(stack, "GET", f"/admin/v1/reports/{report}", query=query)
    assert (status, body["error"], body["details"]["field"]) == (400, "invalid_parameter", field)


@pytest.mark.parametrize("report", REPORTS)
def test_reports_answer_an_empty_archive_and_unknown_event_names_with_empty_figures(stack: Stack, report: str) -> None:
    query = {"from": "2026-11-01", "to": "2026-11-07", "tz": "America/New_York", **NEEDS.get(report, {})}
    if report in ("trend", "funnel"):
        query["event" if report == "trend" else "window_days"] = "No Such Event" if report == "trend" else "3"
    status, body = call(stack, "GET", f"/admin/v1/reports/{report}", query=query)
    assert status == 200, body
    assert (body["report"], body["from"], body["to"], body["tz"]) == (
        report,
        "2026-11-01",
        "2026-11-07",
        "America/New_York",
    )
    if report == "trend":
        assert body["total"] == 0 and len(body["buckets"]) == 7
    if report == "friends":
        assert len(body["days"]) == 7 and body["days"][0]["date"] == "2026-11-01" and body["totals"]["net_growth"] == 0
    if report == "funnel":
        assert body["groups"]["all"]["entered"] == 0 and body["window_days"] == 3
    if report == "messaging":
        assert (body["campaigns"], body["journeys"], body["totals"]["sent"]) == ([], [], 0)
