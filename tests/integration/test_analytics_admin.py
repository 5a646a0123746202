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
