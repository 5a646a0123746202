"""The Segment-compatible HTTP API: every call, both ways to send the write key, and every bad input."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import WRITE_KEY, Stack, event_names, identifier_values, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def ok(response: Any, accepted: int = 1) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body == {"success": True, "accepted": accepted, "duplicates": 0, "rejected": []}
    return body


def test_every_call_is_accepted_and_lands_on_the_profile(stack: Stack) -> None:
    member, browser = unique("member"), unique("browser")
    email = f"{member}@Example.com"

    # Given a member who is identified, browses, joins a group, is aliased and checks out
    ok(stack.segment("identify", {"userId": member, "traits": {"name": "Amy Chen", "email": f" {email} "}}))
    ok(stack.segment("track", {"userId": member, "event": "Product Viewed", "properties": {"sku": "DRESS-7"}}))
    ok(stack.segment("page", {"userId": member, "name": "New Arrivals", "properties": {"url": "https://x.test/new"}}))
    ok(stack.segment("screen", {"userId": member, "name": "Cart"}))
    ok(stack.segment("group", {"userId": member, "groupId": "vip-club", "traits": {"name": "VIP club"}}))
    ok(stack.segment("alias", {"userId": member, "previousId": browser}))
    batch = [
        {"type": "track", "userId": member, "event": "Product Added", "properties": {"sku": "DRESS-7", "price": 2380}},
        {"type": "identify", "userId": member, "traits": {"tier": "gold"}},
    ]
    ok(stack.segment("batch", {"batch": batch}), accepted=2)
    ok(stack.segment("import", {"batch": [{"type": "track", "userId": member, "event": "Checkout Started"}]}))
    stack.drain()

    # Then one profile holds all of it
    profile = stack.lookup("member_id", member)
    assert sorted(event_names(profile)) == sorted(
        [
            "identify",
            "Product Viewed",
            "Viewed New Arrivals",
            "Screen Cart",
            "group",
            "alias",
            "Product Added",
            "identify",
            "Checkout Started",
        ]
    )
    assert profile["stats"]["event_count"] == 9
    assert profile["stats"]["channels"] == {"web": 9}
    assert profile["stats"]["channel_mix"] == "online_only"
    assert identifier_values(profile) == {
        "anonymous_id": [browser],
        "email": [email.lower()],
        "member_id": [member],
    }
    # identify traits are the person's (email normalised); group traits describe the group, not the person
    assert profile["traits"] == {"name": "Amy Chen", "email": email.lower(), "tier": "gold"}
    group = next(entry for entry in profile["events"] if entry["type"] == "group")
    assert group["properties"]["groupId"] == "vip-club"
    added = next(entry for entry in profile["events"] if entry.get("event") == "Product Added")
    assert added["properties"] == {"sku": "DRESS-7", "price": 2380}
    # and the alias and the email find the same person
    assert stack.lookup("anonymous_id", browser)["profile_id"] == profile["profile_id"]
    assert stack.lookup("email", email)["profile_id"] == profile["profile_id"]


def test_write_key_in_the_body_works_without_basic_auth(stack: Stack) -> None:
    member = unique("member")
    single = {"userId": member, "event": "Body Key Single", "writeKey": WRITE_KEY}
    ok(stack.segment("track", single, basic_auth=False))
    batch = {"writeKey": WRITE_KEY, "batch": [{"type": "track", "userId": member, "event": "Body Key Batch"}]}
    ok(stack.segment("batch", batch, basic_auth=False))
    stack.drain()
    assert sorted(event_names(stack.lookup("member_id", member))) == ["Body Key Batch", "Body Key Single"]


def test_basic_auth_wins_over_a_stale_body_key(stack: Stack) -> None:
    member = unique("member")
    ok(stack.segment("track", {"userId": member, "event": "Keyed", "writeKey": "stale-key"}))
    stack.drain()
    assert event_names(stack.lookup("member_id", member)) == ["Keyed"]


@pytest.mark.parametrize(
    ("write_key", "basic_auth", "body_key"),
    [
        ("wrong-key", True, None),
        (None, False, None),
        (None, False, "wrong-key"),
        ("", True, None),
    ],
    ids=["wrong-basic", "missing", "wrong-body", "empty-basic"],
)
def test_wrong_or_missing_write_key_is_401_and_nothing_is_stored(
    stack: Stack, write_key: str | None, basic_auth: bool, body_key: str | None
) -> None:
    member = unique("member")
    payload: dict[str, Any] = {"userId": member, "event": "Should Not Land"}
    if body_key is not None:
        payload["writeKey"] = body_key
    response = stack.segment("track", payload, write_key=write_key, basic_auth=basic_auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_write_key"
    batch = stack.segment(
        "batch", {"batch": [{"type": "track", **payload}]}, write_key=write_key, basic_auth=basic_auth
    )
    assert batch.status_code == 401
    stack.drain()
    stack.assert_no_profile("member_id", member)


def test_a_bearer_or_garbled_authorization_is_not_a_write_key(stack: Stack) -> None:
    member = unique("member")
    body = json.dumps({"userId": member, "event": "Nope"}).encode()
    for authorization in (f"Bearer {WRITE_KEY}", "Basic not-base64!!", "Basic " + base64.b64encode(b":x").decode()):
        response = stack.http.post(
            stack.url("/v1/track"), data=body, headers={"Authorization": authorization}, timeout=30
        )
        assert response.status_code == 401, authorization
        assert response.json()["error"] == "invalid_write_key"


@pytest.mark.parametrize(
    ("call", "body", "error"),
    [
        ("batch", b"{not json", "invalid_json"),
        ("track", b"\xff\xfe\x00garbage", "invalid_json"),
        ("batch", b"[1, 2, 3]", "invalid_body"),
        ("identify", b'"just a string"', "invalid_body"),
        ("batch", b'{"batch": {"type": "track"}}', "invalid_batch"),
        ("import", b'{"events": []}', "invalid_batch"),
        ("track", b'{"userId": "m", "properties": {}}', "missing_event_name"),
        ("identify", b'{"traits": {"name": "x"}}', "missing_identity"),
        ("alias", b'{"userId": "m"}', "missing_field"),
        ("group", b'{"userId": "m"}', "missing_field"),
        ("page", b'{"userId": "m", "type": "track"}', "type_mismatch"),
        ("track", b'{"userId": "m", "event": "E", "timestamp": "yesterday"}', "invalid_timestamp"),
    ],
)
def test_wholly_malformed_bodies_are_400_with_a_reason(stack: Stack, call: str, body: bytes, error: str) -> None:
    response = stack.segment_raw(call, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


def test_mixed_batch_stores_the_good_events_and_names_the_bad_ones(stack: Stack) -> None:
    member = unique("member")
    batch: list[Any] = [
        {"type": "track", "userId": member, "event": "Good One"},
        {"type": "track", "event": "No Identity"},
        {"type": "purchase", "userId": member},
        "not an object",
        {"type": "identify", "userId": member, "traits": {"city": "Taipei"}},
        {"type": "track", "userId": member, "event": "Bad Time", "timestamp": "31/12/2024"},
        {"type": "track", "userId": member, "event": "Good Two", "properties": "not an object"},
        {"type": "track", "userId": member, "event": "Good Three", "messageId": str(uuid.uuid4())},
    ]

    response = stack.segment("batch", {"batch": batch})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is False
    assert body["accepted"] == 3
    assert [(r["index"], r["error"]) for r in body["rejected"]] == [
        (1, "missing_identity"),
        (2, "invalid_type"),
        (3, "invalid_event"),
        (5, "invalid_timestamp"),
        (6, "invalid_field"),
    ]
    assert body["rejected"][0]["field"] == "userId"
    stack.drain()
    profile = stack.lookup("member_id", member)
    assert sorted(event_names(profile)) == ["Good One", "Good Three", "identify"]
    assert profile["traits"] == {"city": "Taipei"}


def test_an_event_over_32_kb_is_rejected_by_index(stack: Stack) -> None:
    member = unique("member")
    batch = [
        {"type": "track", "userId": member, "event": "Small"},
        {"type": "track", "userId": member, "event": "Huge", "properties": {"blob": "x" * (33 * 1024)}},
    ]
    response = stack.segment("batch", {"batch": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["error"]) for r in body["rejected"]] == [(1, "event_too_large")]
    # as a single call the whole request is that event: 400
    single = stack.segment("track", batch[1])
    assert single.status_code == 400
    assert single.json()["error"] == "event_too_large"
    stack.drain()
    assert event_names(stack.lookup("member_id", member)) == ["Small"]


def test_a_batch_over_500_kb_is_413_and_nothing_is_stored(stack: Stack) -> None:
    member = unique("member")
    batch = [
        {"type": "track", "userId": member, "event": f"Part {n}", "properties": {"blob": "y" * (20 * 1024)}}
        for n in range(30)
    ]
    response = stack.segment("batch", {"batch": batch})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    stack.drain()
    stack.assert_no_profile("member_id", member)


def test_gzipped_body_is_accepted_and_a_gzip_bomb_is_413(stack: Stack) -> None:
    member = unique("member")
    body = json.dumps({"batch": [{"type": "track", "userId": member, "event": "Zipped"}]}).encode()
    ok(stack.segment_raw("batch", gzip.compress(body), **{"Content-Encoding": "gzip"}))
    bomb = gzip.compress(json.dumps({"batch": [], "pad": " " * (2 * 1024 * 1024)}).encode())
    assert len(bomb) < 10 * 1024
    response = stack.segment_raw("batch", bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    stack.drain()
    assert event_names(stack.lookup("member_id", member)) == ["Zipped"]


def test_duplicate_message_id_is_stored_once(stack: Stack) -> None:
    member, message_id = unique("member"), str(uuid.uuid4())
    event = {"userId": member, "event": "Order Completed", "messageId": message_id, "properties": {"revenue": 990}}

    ok(stack.segment("track", event))
    retry = stack.segment("batch", {"batch": [{"type": "track", **event}, {"type": "track", **event}]})
    stack.drain()
    again = stack.segment("track", event)

    assert retry.status_code == 200
    assert retry.json() == {"success": True, "accepted": 0, "duplicates": 2, "rejected": []}
    assert again.json() == {"success": True, "accepted": 0, "duplicates": 1, "rejected": []}
    stack.drain()
    profile = stack.lookup("member_id", member)
    assert [entry["messageId"] for entry in profile["events"]] == [message_id]
    assert profile["stats"]["event_count"] == 1
    assert len(stack.received(message_id)) == 1


def test_store_purchase_and_web_login_make_the_member_omnichannel(stack: Stack) -> None:
    member = unique("member")
    store = {"channel": "pos"}
    ok(stack.segment("identify", {"userId": member, "traits": {"name": "Store Shopper"}, "context": store}))
    order = {
        "userId": member,
        "event": "Order Completed",
        "properties": {"order_id": unique("POS"), "revenue": 5000, "currency": "TWD", "store_id": "store-taipei-101"},
        "context": store,
    }
    ok(stack.segment("track", order))
    stack.drain()
    assert stack.lookup("member_id", member)["stats"]["channel_mix"] == "offline_only"

    ok(stack.segment("identify", {"userId": member, "traits": {"email": f"{member}@example.com"}}))
    stack.drain()

    profile = stack.lookup("member_id", member)
    assert profile["stats"]["channels"] == {"pos": 2, "web": 1}
    assert profile["stats"]["channel_mix"] == "omnichannel"
    purchase = next(entry for entry in profile["events"] if entry.get("event") == "Order Completed")
    assert purchase["channel"] == "pos"
    assert purchase["properties"]["revenue"] == 5000
    assert purchase["properties"]["store_id"] == "store-taipei-101"
    changes = [
        e["detail"]["data"]["changes"]
        for e in stack.published("profile.updated")
        if e["detail"]["data"]["profileId"] == profile["profile_id"]
    ]
    assert any("channel_mix" in change for change in changes)  # published when the mix changed
