"""admin_api handler on profiles built end to end (ingest + webhook -> stream -> processor)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import (
    ADMIN_TOKEN,
    LINE_CHANNEL,
    WRITE_KEY,
    RawStream,
    Stack,
    api_event,
    response_json,
)

LINE_USER = line_events.user_id("amy-line")
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def admin(
    stack: Stack,
    path: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = BEARER,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> tuple[int, Any]:
    event = api_event(
        "GET", path, resource=resource, headers=headers, query=query, path_parameters=path_parameters, body=None
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def get_profile(stack: Stack, profile_id: str, headers: dict[str, str] | None = BEARER) -> tuple[int, Any]:
    return admin(
        stack,
        f"/admin/v1/profiles/{profile_id}",
        resource="/admin/v1/profiles/{id}",
        path_parameters={"id": profile_id},
        headers=headers,
    )


def lookup(stack: Stack, id_type: str | None, value: str | None) -> tuple[int, Any]:
    query = {key: v for key, v in (("type", id_type), ("value", value)) if v is not None}
    return admin(stack, "/admin/v1/profiles/lookup", query=query)


@pytest.fixture
def people(stack: Stack, raw_stream: RawStream) -> dict[str, str]:
    """Amy, known to the POS and the web shop, and a LINE friend; returns their profile ids."""
    batch = {
        "batch": [
            {
                "type": "identify",
                "userId": "M-1001",
                "anonymousId": "anon-7f3a",
                "messageId": "adm-identify-1",
                "timestamp": "2024-05-01T09:00:00Z",
                "traits": {"phone": "0912-345-678", "email": "Amy.Lin@Example.com", "name": "林小美"},
                "context": {"channel": "pos"},
            },
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "M-1001",
                "messageId": "adm-order-1",
                "timestamp": "2024-05-01T09:05:00Z",
                "properties": {"revenue": 5000, "currency": "TWD"},
                "context": {"channel": "pos"},
            },
            {
                "type": "page",
                "anonymousId": "anon-7f3a",
                "name": "Spring Sale",
                "messageId": "adm-page-1",
                "timestamp": "2024-05-01T09:10:00Z",
            },
        ]
    }
    auth = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
    # One request per event: a batch is written in parallel, so its stream order would vary, and
    # without the merge workflow (not run here) the order decides whether Amy is one profile.
    for event in batch["batch"]:
        single = {"batch": [event]}
        response = stack.invoke("ingest", api_event("POST", "/v1/batch", body=json.dumps(single), headers=auth))
        assert response_json(response)["accepted"] == 1
    body, signature = signed_delivery(
        CHANNEL_SECRET, [line_events.follow(source=line_events.user_source(LINE_USER), timestamp=BASE_TIMESTAMP_MS)]
    )
    webhook = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert stack.invoke("line_webhook", webhook)["statusCode"] == 200
    processed = stack.invoke("event_processor", {"Records": raw_stream.new_records()})
    assert processed == {"batchItemFailures": []}

    owners = {
        item["id_type"]["S"]: item["profile_id"]["S"]
        for item in stack.scan(stack.core_table)
        if item["sk"]["S"] == "ID" and item["id_type"]["S"] in ("member_id", "line")
    }
    return {"amy": owners["member_id"], "line_friend": owners["line"]}


@pytest.mark.parametrize(
    "headers",
    [None, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}, {"Authorization": ""}],
    ids=["missing", "wrong-token", "wrong-scheme", "empty"],
)
def test_requests_without_the_admin_token_are_401(stack: Stack, people: dict[str, str], headers: Any) -> None:
    status, body = get_profile(stack, people["amy"], headers=headers)

    assert status == 401
    assert body["error"] == "invalid_admin_token"
    assert "identifiers" not in body


def test_lookup_without_the_admin_token_is_401(stack: Stack, people: dict[str, str]) -> None:
    status, body = admin(stack, "/admin/v1/profiles/lookup", query={"type": "member_id", "value": "M-1001"}, headers={})

    assert (status, body["error"]) == (401, "invalid_admin_token")


def test_get_profile_shape(stack: Stack, people: dict[str, str]) -> None:
    status, body = get_profile(stack, people["amy"])

    assert status == 200, body
    assert body["profile_id"] == people["amy"]
    assert body["requested_id"] is None
    assert [(i["type"], i["value"]) for i in body["identifiers"]] == [
        ("anonymous_id", "anon-7f3a"),
        ("email", "amy.lin@example.com"),
        ("member_id", "M-1001"),
        ("phone", "+886912345678"),
    ]
    assert all(i["added_at"] for i in body["identifiers"])
    assert body["traits"] == {"email": "amy.lin@example.com", "name": "林小美", "phone": "+886912345678"}
    assert body["trait_sources"]["name"] == {"source": "partner:default", "updated_at": "2024-05-01T09:00:00.000Z"}
    assert body["line"] == {"status": "never_followed", "accounts": []}
    assert body["stats"] == {
        "event_count": 3,
        "first_seen_at": "2024-05-01T09:00:00.000Z",
        "last_seen_at": "2024-05-01T09:10:00.000Z",
        "channels": {"pos": 2, "web": 1},
        "channel_mix": "omnichannel",
    }
    assert [(e["type"], e.get("event"), e["messageId"]) for e in body["events"]] == [
        ("page", "Viewed Spring Sale", "adm-page-1"),
        ("track", "Order Completed", "adm-order-1"),
        ("identify", None, "adm-identify-1"),
    ]
    assert body["events"][1]["properties"] == {"revenue": 5000, "currency": "TWD"}
    assert body["rejected_identifiers"] == []
    # computed traits come from the stored profile, evaluated now (the 2024 order is out of every window)
    computed = body["computed_traits"]
    assert computed["evaluated_at"] > "2024-05-01"
    assert (computed["ltv"], computed["average_order_value"], computed["currency"]) == (5000.0, 5000.0, "TWD")
    assert computed["orders"] == {"all_time": 1, "30d": 0, "90d": 0, "365d": 0}
    assert computed["last_purchase_at"] == "2024-05-01T09:05:00.000Z"
    assert computed["channel_mix"] == "omnichannel"
    assert computed["line_engagement"] == {"messages": 0, "postbacks": 0, "clicks": 0, "last_click_at": None}


def test_the_line_friend_has_line_status(stack: Stack, people: dict[str, str]) -> None:
    status, body = get_profile(stack, people["line_friend"])

    assert status == 200
    assert body["line"] == {
        "status": "friend",
        "accounts": [{"user": f"{LINE_CHANNEL}:{LINE_USER}", "status": "friend", "since": "2024-05-01T10:00:00.000Z"}],
    }
    assert [e["event"] for e in body["events"]] == ["LINE Followed"]


def test_an_unknown_profile_is_404(stack: Stack, people: dict[str, str]) -> None:
    status, body = get_profile(stack, "p_00000000000000000000000000")

    assert (status, body["error"]) == (404, "profile_not_found")


@pytest.mark.parametrize(
    ("id_type", "value", "who"),
    [
        ("email", "  AMY.LIN@example.COM ", "amy"),
        ("phone", "0912-345-678", "amy"),
        ("phone", "+886 912 345 678", "amy"),
        ("member_id", "M-1001", "amy"),
        ("anonymous_id", "anon-7f3a", "amy"),
        ("line", LINE_USER, "line_friend"),  # the default provider
        ("line", f"{LINE_CHANNEL}:{LINE_USER}", "line_friend"),
    ],
)
def test_lookup_by_identifier(stack: Stack, people: dict[str, str], id_type: str, value: str, who: str) -> None:
    status, body = lookup(stack, id_type, value)

    assert status == 200, body
    assert body["profile_id"] == people[who]
    assert body["events"]


def test_lookup_of_an_unowned_identifier_is_404(stack: Stack, people: dict[str, str]) -> None:
    status, body = lookup(stack, "email", "nobody@example.com")

    assert (status, body["error"]) == (404, "profile_not_found")


@pytest.mark.parametrize(
    ("id_type", "value", "error"),
    [
        ("fax", "02-2345-6789", "invalid_lookup_type"),
        (None, "M-1001", "invalid_lookup_type"),
        ("email", None, "missing_lookup_value"),
        ("email", "   ", "missing_lookup_value"),
        ("phone", "12", "invalid_phone"),
        ("email", "not-an-email", "invalid_email"),
    ],
)
def test_invalid_lookups_are_400(
    stack: Stack, people: dict[str, str], id_type: str | None, value: str | None, error: str
) -> None:
    status, body = lookup(stack, id_type, value)

    assert (status, body["error"]) == (400, error)


def test_an_unknown_route_is_404(stack: Stack, people: dict[str, str]) -> None:
    status, body = admin(stack, "/admin/v1/no-such-thing")

    assert (status, body["error"]) == (404, "route_not_found")


def _consent(stack: Stack, profile_id: str, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    event = api_event(
        "POST",
        f"/admin/v1/profiles/{profile_id}/consent",
        resource="/admin/v1/profiles/{id}/consent",
        path_parameters={"id": profile_id},
        headers={**BEARER, "Content-Type": "application/json", **headers},
        body=json.dumps(body),
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_an_opt_out_through_the_api_lands_on_the_timeline_and_makes_the_channel_unreachable(
    stack: Stack, people: dict[str, str], raw_stream: RawStream
) -> None:
    # Given Amy, who granted email marketing at the store
    grant = {"channel": "email", "purpose": "marketing", "granted": True}
    status, accepted = _consent(stack, people["amy"], grant, **{"Idempotency-Key": "grant-1"})
    assert status == 202, accepted
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}
    assert get_profile(stack, people["amy"])[1]["reachability"]["email"] == {
        "reachable": True,
        "known": True,
        "consent": True,
    }

    # When she opts out (and the client retries the request)
    opt_out = {"channel": "email", "granted": False}
    first = _consent(stack, people["amy"], opt_out, **{"Idempotency-Key": "opt-out-1"})
    retry = _consent(stack, people["amy"], opt_out, **{"Idempotency-Key": "opt-out-1"})
    assert (first[0], first[1]["duplicate"], retry[1]["duplicate"]) == (202, False, True)
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}

    # Then email is unreachable, the change is on her timeline, and bad input is named
    _, profile = get_profile(stack, people["amy"])
    assert profile["reachability"]["email"] == {"reachable": False, "known": True, "consent": False}
    assert profile["consent"]["email:marketing"]["granted"] is False
    assert sum(1 for e in profile["events"] if e.get("context", {}).get("consent")) == 2
    status, error = _consent(stack, people["amy"], {"channel": "fax", "granted": False})
    assert (status, error["error"]) == (400, "invalid_consent_channel")


def _tags(stack: Stack, profile_id: str, body: dict[str, Any], **headers: str) -> tuple[int, Any]:
    event = api_event(
        "POST",
        f"/admin/v1/profiles/{profile_id}/tags",
        resource="/admin/v1/profiles/{id}/tags",
        path_parameters={"id": profile_id},
        headers={**BEARER, "Content-Type": "application/json", **headers},
        body=json.dumps(body),
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_manual_tags_are_events_on_the_timeline_and_a_retry_is_stored_once(
    stack: Stack, people: dict[str, str], raw_stream: RawStream
) -> None:
    # Given Amy, tagged by hand (the client retries the request)
    add = {"add": ["vip", "asked:size"]}
    first = _tags(stack, people["amy"], add, **{"Idempotency-Key": "tag-1"})
    retry = _tags(stack, people["amy"], add, **{"Idempotency-Key": "tag-1"})
    assert (first[0], first[1]["duplicate"], retry[1]["duplicate"]) == (202, False, True)
    assert first[1]["eventIds"] == retry[1]["eventIds"] and len(first[1]["eventIds"]) == 2
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}
    _, profile = get_profile(stack, people["amy"])
    assert set(profile["tags"]) == {"vip", "asked:size"}
    assert profile["tags"]["vip"]["source"] == "manual"

    # When one is removed
    status, accepted = _tags(stack, people["amy"], {"remove": ["vip"]}, **{"Idempotency-Key": "tag-2"})
    assert status == 202, accepted
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}

    # Then only the other is left, every change is on her timeline, and bad input is named
    _, profile = get_profile(stack, people["amy"])
    assert set(profile["tags"]) == {"asked:size"}
    assert sum(1 for e in profile["events"] if e.get("event") in ("Tag Added", "Tag Removed")) == 3
    for body, code in [
        ({"add": [""]}, "invalid_tag"),
        ({"add": ["x" * 65]}, "invalid_tag"),
        ({"add": ["a\nb"]}, "invalid_tag"),
        ({"add": "vip"}, "invalid_tag_list"),
        ({}, "no_tag_change"),
        ({"add": ["vip"], "remove": ["vip"]}, "tag_added_and_removed"),
        ({"tags": ["vip"]}, "unknown_tag_field"),
    ]:
        status, error = _tags(stack, people["amy"], body)
        assert (status, error["error"]) == (400, code), body
