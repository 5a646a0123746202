"""Segment admin routes through the admin_api handler, and the segment_evaluator handler, on moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore, packed_document, read_document
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.domain_events import PROFILE_MERGED, PROFILE_UNMERGED, PROFILE_UPDATED, DomainEvent

from tests.integration.conftest import ADMIN_TOKEN, BusObserver, RawStream, Stack, api_event, response_json
from tests.integration.test_event_processor import ingest, process
from tests.integration.test_segments import fold
from tests.unit.builders import NOW_ISO

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
CITY_TAIPEI = {"attribute": {"field": "traits.city", "op": "eq", "value": "Taipei"}}
TIER_GOLD = {"attribute": {"field": "traits.tier", "op": "eq", "value": "gold"}}


@pytest.fixture(autouse=True)
def fresh_evaluator(stack: Stack) -> Iterator[None]:
    """The evaluator's build() is a warm-container cache: its clients must belong to this test's moto."""
    build = stack.runtime.module("segment_evaluator").build
    build.cache_clear()
    yield
    build.cache_clear()


def call(
    stack: Stack,
    method: str,
    path: str,
    body: Any = None,
    *,
    resource: str | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, Any]:
    event = api_event(
        method,
        path,
        resource=resource,
        headers=BEARER,
        body=json.dumps(body) if body is not None else None,
        query=query,
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def bus_event(event: DomainEvent) -> dict[str, Any]:
    return {"detail-type": event.name, "source": "cdp", "detail": event.envelope()}


def test_segments_are_created_validated_read_updated_and_archived(stack: Stack) -> None:
    status, created = call(stack, "POST", "/admin/v1/segments", {"id": "taipei", "name": "Taipei", "rule": CITY_TAIPEI})
    assert status == 201, created
    assert created["version"] == 1 and created["status"] == "active" and created["reads"]["traits"] == ["city"]

    status, error = call(stack, "POST", "/admin/v1/segments", {"id": "taipei", "name": "Again", "rule": TIER_GOLD})
    assert (status, error["error"]) == (409, "segment_exists")
    bad_rule = {"and": [CITY_TAIPEI, {"event": {"name": "Order Completed", "within": {"last": {"weeks": 1}}}}]}
    status, error = call(stack, "POST", "/admin/v1/segments", {"id": "bad", "name": "Bad", "rule": bad_rule})
    assert (status, error["error"]) == (400, "invalid_segment_rule")
    assert error["details"]["path"] == "/and/1/event/within/last"
    status, error = call(stack, "POST", "/admin/v1/segments", {"id": "Not A Slug", "name": "x", "rule": TIER_GOLD})
    assert (status, error["error"]) == (400, "invalid_segment_id")

    one = "/admin/v1/segments/{id}"
    status, found = call(stack, "GET", "/admin/v1/segments/taipei", resource=one)
    assert status == 200 and found["member_count"] == 0 and found["rule"] == CITY_TAIPEI
    status, error = call(stack, "GET", "/admin/v1/segments/nope", resource=one)
    assert (status, error["error"]) == (404, "segment_not_found")

    status, updated = call(stack, "PUT", "/admin/v1/segments/taipei", {"rule": TIER_GOLD, "version": 1}, resource=one)
    assert status == 200 and updated["version"] == 2 and updated["name"] == "Taipei"
    assert updated["reads"]["traits"] == ["tier"]
    status, error = call(stack, "PUT", "/admin/v1/segments/taipei", {"name": "Stale", "version": 1}, resource=one)
    assert (status, error["error"]) == (409, "segment_version_conflict")
    status, error = call(stack, "PUT", "/admin/v1/segments/taipei", {"rule": {"or": []}, "version": 2}, resource=one)
    assert (status, error["error"]) == (400, "invalid_segment_rule")

    status, archived = call(stack, "DELETE", "/admin/v1/segments/taipei", resource=one)
    assert status == 200 and archived["status"] == "archived" and archived["version"] == 3
    status, again = call(stack, "DELETE", "/admin/v1/segments/taipei", resource=one)
    assert status == 200 and again == archived
    status, error = call(stack, "PUT", "/admin/v1/segments/taipei", {"name": "x", "version": 3}, resource=one)
    assert (status, error["error"]) == (409, "segment_archived")

    call(stack, "POST", "/admin/v1/segments", {"id": "gold", "name": "Gold", "rule": TIER_GOLD})
    status, listed = call(stack, "GET", "/admin/v1/segments")
    assert status == 200 and [(s["segment_id"], s["status"]) for s in listed["segments"]] == [
        ("gold", "active"),
        ("taipei", "archived"),
    ]
    status, listed = call(stack, "GET", "/admin/v1/segments", query={"status": "active"})
    assert [s["segment_id"] for s in listed["segments"]] == ["gold"]


def test_profile_changes_on_the_bus_drive_memberships_seen_through_the_admin_api(stack: Stack) -> None:
    profiles = DynamoProfileStore(stack.client("dynamodb"), stack.core_table)
    call(stack, "POST", "/admin/v1/segments", {"id": "taipei", "name": "Taipei", "rule": CITY_TAIPEI})
    for profile_id in ("p_a", "p_b", "p_c"):
        fold(profiles, profile_id, f"e-{profile_id}", type="identify", event=None, traits={"city": "Taipei"})
        updated = DomainEvent(
            PROFILE_UPDATED, f"{profile_id}:e", NOW_ISO, {"profileId": profile_id, "changes": ["trait:city"]}
        )
        summary = stack.invoke("segment_evaluator", bus_event(updated))
        assert summary["results"][0]["entered"] == ["taipei"]
        again = stack.invoke("segment_evaluator", bus_event(updated))  # redelivered
        assert again["results"][0]["entered"] == []

    status, found = call(stack, "GET", "/admin/v1/segments/taipei", resource="/admin/v1/segments/{id}")
    assert found["member_count"] == 3
    members = "/admin/v1/segments/{id}/members"
    status, page = call(stack, "GET", "/admin/v1/segments/taipei/members", resource=members, query={"limit": "2"})
    assert status == 200 and [m["profile_id"] for m in page["members"]] == ["p_a", "p_b"] and page["next"] == "p_b"
    status, page = call(
        stack, "GET", "/admin/v1/segments/taipei/members", resource=members, query={"limit": "2", "after": "p_b"}
    )
    assert [m["profile_id"] for m in page["members"]] == ["p_c"]
    status, error = call(stack, "GET", "/admin/v1/segments/taipei/members", resource=members, query={"limit": "0"})
    assert (status, error["error"]) == (400, "invalid_limit")

    # p_b merged into p_a: p_b's membership exits, p_a's stays
    # (the merge workflow leaves this pointer on the loser; written directly here)
    stack.client("dynamodb").update_item(
        TableName=stack.core_table,
        Key={"pk": {"S": "PROFILE#p_b"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET docz = :doc",
        ExpressionAttributeValues={":doc": _doc_with_pointer(stack, "p_b", "p_a")},
    )
    merged = DomainEvent(PROFILE_MERGED, "m1:merged", NOW_ISO, {"profileId": "p_a", "mergedProfileId": "p_b"})
    summary = stack.invoke("segment_evaluator", bus_event(merged))
    assert summary["results"][0]["exitedElsewhere"] == {"p_b": ["taipei"]}

    profile_segments = "/admin/v1/profiles/{id}/segments"
    status, listed = call(stack, "GET", "/admin/v1/profiles/p_b/segments", resource=profile_segments)
    assert status == 200 and listed["profile_id"] == "p_a"  # follows the merge
    assert [(s["segment_id"], s["rule_version"]) for s in listed["segments"]] == [("taipei", 1)]
    assert listed["segments"][0]["entered_at"]
    status, error = call(stack, "GET", "/admin/v1/profiles/nobody/segments", resource=profile_segments)
    assert (status, error["error"]) == (404, "profile_not_found")
    assert DynamoSegmentStore(stack.client("dynamodb"), stack.core_table).count_members("taipei") == 2

    # undone: both people are evaluated again; p_b still points at p_a here, so only p_a is
    unmerged = DomainEvent(PROFILE_UNMERGED, "m1:unmerged", NOW_ISO, {"profileId": "p_a", "restoredProfileId": "p_b"})
    summary = stack.invoke("segment_evaluator", bus_event(unmerged))
    assert [r["profileId"] for r in summary["results"]] == ["p_a", "p_a"]
    for odd in (
        {"detail-type": "event.received", "detail": {"data": {"profileId": "p_a"}}},
        {"detail-type": PROFILE_UPDATED, "detail": {"data": {}}},
        {"detail-type": PROFILE_MERGED, "detail": {"data": {"profileId": "p_a"}}},
    ):
        assert stack.invoke("segment_evaluator", odd)["results"] == []  # logged, not retried forever


def _doc_with_pointer(stack: Stack, profile_id: str, into: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    doc = read_document(item)
    doc["merged_into"] = into
    return packed_document(doc)


VIP_RULE = {
    "and": [
        {"event": {"name": "Order Completed", "within": {"last": {"days": 30}},
                   "aggregate": "sum", "property": "revenue", "op": "gt", "value": 3000}},
        {"event": {"name": "Link Clicked", "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}},
    ]
}  # fmt: skip


def test_s1_vip_preview_is_entered_when_the_line_click_is_processed(
    stack: Stack, bus: BusObserver, raw_stream: RawStream
) -> None:
    """Ingest → processor → profile.updated on the bus → segment_evaluator → segment.entered."""
    call(stack, "POST", "/admin/v1/segments", {"id": "vip-preview", "name": "VIP 新品搶先看", "rule": VIP_RULE})

    def deliver(batch: list[dict[str, Any]]) -> None:
        ingest(stack, batch)
        assert process(stack, raw_stream.new_records()) == []
        for event in bus.of_type(PROFILE_UPDATED)[len(delivered) :]:
            delivered.append(event)
            stack.invoke("segment_evaluator", event)

    delivered: list[dict[str, Any]] = []
    order = {"type": "track", "userId": "M-VIP", "event": "Order Completed", "messageId": "pos-order-vip",
             "properties": {"revenue": 5000}, "context": {"channel": "pos"}}  # fmt: skip
    deliver([order])
    profile_id = delivered[0]["detail"]["data"]["profileId"]
    profile_segments = "/admin/v1/profiles/{id}/segments"
    _status, listed = call(stack, "GET", f"/admin/v1/profiles/{profile_id}/segments", resource=profile_segments)
    assert listed["segments"] == []

    click = {"type": "track", "userId": "M-VIP", "event": "Link Clicked", "messageId": "line-click-vip",
             "properties": {"url": "https://shop.example.com/new"}, "context": {"channel": "line"}}  # fmt: skip
    deliver([click])
    _status, listed = call(stack, "GET", f"/admin/v1/profiles/{profile_id}/segments", resource=profile_segments)
    assert [s["segment_id"] for s in listed["segments"]] == ["vip-preview"]
    entered = bus.of_type("segment.entered")
    assert [(e["detail"]["data"]["segmentId"], e["detail"]["data"]["profileId"]) for e in entered] == [
        ("vip-preview", profile_id)
    ]

    for event in delivered:  # EventBridge redelivers: nothing more
        stack.invoke("segment_evaluator", event)
    assert len(bus.of_type("segment.entered")) == 1
