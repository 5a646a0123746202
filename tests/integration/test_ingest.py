"""ingest handler end to end on moto: Segment-format calls, write keys, per-event rejections, gzip, dedup."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest
from cdp.adapters.dynamodb.raw_events import raw_event_from_item
from cdp.events.raw import partner_event_id

from infra.local.config import LOCAL_WRITE_KEY_SOURCE
from tests.integration.conftest import ADMIN_TOKEN, WRITE_KEY, Stack, api_event, response_json

SOURCE = LOCAL_WRITE_KEY_SOURCE  # the source the stack's write key maps to


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def call(
    stack: Stack,
    path: str,
    document: Any,
    *,
    authorization: str | None = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = raw if raw is not None else json.dumps(document, ensure_ascii=False).encode("utf-8")
    all_headers = {"Content-Type": "application/json", "User-Agent": "analytics-python/2.3.3", **(headers or {})}
    if authorization is not None:
        all_headers["Authorization"] = authorization
    response: dict[str, Any] = stack.invoke("ingest", api_event("POST", path, body=body, headers=all_headers))
    return response


def track(message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Product Viewed",
        "userId": "M-1001",
        "messageId": message_id,
        "timestamp": "2024-05-01T10:00:00Z",
        "properties": {"sku": "DRESS-0042", "price": 1980, "currency": "TWD"},
        **fields,
    }


def identify(message_id: str) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": "M-1001",
        "messageId": message_id,
        "traits": {"email": "Amy.Lin@Example.com", "phone": "0912-345-678", "name": "林小美"},
    }


def stored_ids(stack: Stack) -> set[str]:
    return set(stack.raw_items())


def pk(message_id: str) -> str:
    return partner_event_id(SOURCE, message_id)


def test_basic_auth_write_key(stack: Stack) -> None:
    response = call(stack, "/v1/batch", {"batch": [track("m-basic-1")]}, authorization=basic(WRITE_KEY))

    assert response["statusCode"] == 200, response
    assert response_json(response) == {"success": True, "accepted": 1, "duplicates": 0, "rejected": []}
    stored = raw_event_from_item(stack.raw_items()[pk("m-basic-1")])
    assert (stored.origin, stored.source) == ("partner", SOURCE)
    assert stored.payload["event"] == "Product Viewed"
    assert stored.payload["receivedAt"] == stored.received_at
    assert "writeKey" not in stored.payload


def test_write_key_in_the_body(stack: Stack) -> None:
    response = call(stack, "/v1/identify", {**identify("m-body-1"), "writeKey": WRITE_KEY})

    assert response["statusCode"] == 200, response
    assert stored_ids(stack) == {pk("m-body-1")}
    assert "writeKey" not in raw_event_from_item(stack.raw_items()[pk("m-body-1")]).payload


@pytest.mark.parametrize(
    ("authorization", "body_key"),
    [
        (None, None),
        (basic("wk_wrong"), None),
        (None, "wk_wrong"),
        ("Bearer " + WRITE_KEY, None),
        ("Basic not-base64!!", None),
    ],
    ids=["none", "wrong-basic", "wrong-body", "bearer", "garbled-basic"],
)
def test_a_missing_or_wrong_write_key_is_401(stack: Stack, authorization: str | None, body_key: str | None) -> None:
    document: dict[str, Any] = {"batch": [track("m-401")]}
    if body_key:
        document["writeKey"] = body_key

    response = call(stack, "/v1/batch", document, authorization=authorization)

    assert response["statusCode"] == 401
    assert response_json(response)["error"] == "invalid_write_key"
    assert stored_ids(stack) == set()


def test_a_mixed_batch_stores_the_good_events_and_names_the_bad_ones(stack: Stack) -> None:
    batch = [
        track("m-mix-0"),
        {"type": "track", "event": "Order Completed", "messageId": "m-mix-1"},  # nobody
        identify("m-mix-2"),
        {"type": "purchase", "userId": "M-1001", "messageId": "m-mix-3"},
        track("m-mix-4", timestamp="yesterday"),
        "not an event",
        {"type": "page", "anonymousId": "anon-7f3a", "name": "Spring Sale", "messageId": "m-mix-6"},
    ]

    response = call(stack, "/v1/batch", {"batch": batch}, authorization=basic(WRITE_KEY))

    assert response["statusCode"] == 200, response
    payload = response_json(response)
    assert payload["success"] is False
    assert payload["accepted"] == 3
    assert [(r["index"], r["error"]) for r in payload["rejected"]] == [
        (1, "missing_identity"),
        (3, "invalid_type"),
        (4, "invalid_timestamp"),
        (5, "invalid_event"),
    ]
    assert stored_ids(stack) == {pk("m-mix-0"), pk("m-mix-2"), pk("m-mix-6")}


def test_a_gzip_body_as_api_gateway_delivers_it(stack: Stack) -> None:
    """rudder-sdk-python gzips by default; with `*/*` binary media types the body arrives base64."""
    document = {"batch": [track(f"m-gz-{n}") for n in range(50)], "sentAt": "2024-05-01T10:00:05Z"}
    compressed = gzip.compress(json.dumps(document).encode())

    response = call(
        stack, "/v1/batch", None, raw=compressed, authorization=basic(WRITE_KEY), headers={"Content-Encoding": "gzip"}
    )

    assert response["statusCode"] == 200, response
    assert response_json(response)["accepted"] == 50
    assert stored_ids(stack) == {pk(f"m-gz-{n}") for n in range(50)}


def test_a_body_that_is_not_gzip_but_says_so_is_400(stack: Stack) -> None:
    response = call(
        stack, "/v1/batch", {"batch": []}, authorization=basic(WRITE_KEY), headers={"Content-Encoding": "gzip"}
    )

    assert response["statusCode"] == 400
    assert response_json(response)["error"] == "invalid_body"


def test_an_invalid_single_track_call_is_400(stack: Stack) -> None:
    response = call(stack, "/v1/track", {"userId": "M-1001", "messageId": "m-track-1"}, authorization=basic(WRITE_KEY))

    assert response["statusCode"] == 400
    payload = response_json(response)
    assert payload["error"] == "missing_event_name"
    assert payload["details"] == {"field": "event"}
    assert stored_ids(stack) == set()


def test_a_batch_over_500_kb_is_413(stack: Stack) -> None:
    filler = "x" * 20_000
    document = {"batch": [track(f"m-big-{n}", properties={"note": filler}) for n in range(30)]}
    body = json.dumps(document).encode()
    assert len(body) > 500 * 1024

    response = call(stack, "/v1/batch", None, raw=body, authorization=basic(WRITE_KEY))

    assert response["statusCode"] == 413
    assert response_json(response)["error"] == "payload_too_large"
    assert stored_ids(stack) == set()


def test_a_gzip_body_expanding_past_500_kb_is_413(stack: Stack) -> None:
    document = {"batch": [track(f"m-bomb-{n}", properties={"note": "0" * 30_000}) for n in range(20)]}
    compressed = gzip.compress(json.dumps(document).encode())
    assert len(compressed) < 10_000

    response = call(
        stack, "/v1/batch", None, raw=compressed, authorization=basic(WRITE_KEY), headers={"Content-Encoding": "gzip"}
    )

    assert response["statusCode"] == 413
    assert stored_ids(stack) == set()


def test_a_duplicate_message_id_across_calls_is_stored_once(stack: Stack) -> None:
    first = call(stack, "/v1/track", track("m-dup-1"), authorization=basic(WRITE_KEY))
    retry = call(stack, "/v1/batch", {"batch": [track("m-dup-1"), track("m-dup-2")]}, authorization=basic(WRITE_KEY))

    assert response_json(first) == {"success": True, "accepted": 1, "duplicates": 0, "rejected": []}
    assert response_json(retry) == {"success": True, "accepted": 1, "duplicates": 1, "rejected": []}
    assert stored_ids(stack) == {pk("m-dup-1"), pk("m-dup-2")}


def test_an_sdk_retry_without_message_id_is_stored_once(stack: Stack) -> None:
    """No messageId but a client timestamp: the derived id is the same on a retry."""
    event = {
        "type": "track",
        "event": "Checkout Started",
        "anonymousId": "anon-42",
        "timestamp": "2024-05-01T10:00:00Z",
    }

    for sent_at in ("2024-05-01T10:00:01Z", "2024-05-01T10:00:31Z"):
        call(stack, "/v1/batch", {"batch": [event], "sentAt": sent_at}, authorization=basic(WRITE_KEY))

    assert len(stored_ids(stack)) == 1


# values no store can keep, and the rejections log ---------------------------------------------------
def test_nan_infinity_and_a_2_64_trait_are_refused_per_event_and_listed_for_the_admin(stack: Stack) -> None:
    good = json.dumps(track("ok-1"))
    body = (
        '{"batch": ['
        + good
        + ',{"type":"identify","userId":"M-1","messageId":"bad-1","traits":{"points":18446744073709551616}}'
        + ',{"type":"track","event":"Order Completed","userId":"M-1","messageId":"bad-2","properties":{"revenue":NaN}}'
        + ',{"type":"identify","userId":"M-1","messageId":"bad-3","traits":{"age":Infinity,"email":"amy@example.com"}}'
        + "]}"
    ).encode()

    response = call(stack, "/v1/batch", None, authorization=basic(WRITE_KEY), raw=body)

    assert response["statusCode"] == 200, response
    payload = response_json(response)
    assert payload["accepted"] == 1
    assert [(r["index"], r["error"], r["field"]) for r in payload["rejected"]] == [
        (1, "integer_out_of_range", "/traits/points"),
        (2, "non_finite_number", "/properties/revenue"),
        (3, "non_finite_number", "/traits/age"),
    ]
    assert set(stack.raw_items()) == {partner_event_id(SOURCE, "ok-1")}

    listed = stack.invoke(
        "admin_api",
        api_event(
            "GET",
            "/admin/v1/ingest/rejections",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            query={"limit": "2"},
        ),
    )
    assert listed["statusCode"] == 200, listed
    document = response_json(listed)
    assert document["retention_days"] == 7
    rejections = document["rejections"]
    assert [(r["message_id"], r["error"], r["field"], r["source"]) for r in rejections] == [
        ("bad-3", "non_finite_number", "/traits/age", SOURCE),
        ("bad-2", "non_finite_number", "/properties/revenue", SOURCE),
    ]  # newest first (index breaks the tie within one request)
    assert rejections[1]["event"] == "Order Completed" and rejections[1]["type"] == "track"
    assert "amy@example.com" not in listed["body"]


def test_the_rejections_route_refuses_a_bad_limit(stack: Stack) -> None:
    response = stack.invoke(
        "admin_api",
        api_event(
            "GET",
            "/admin/v1/ingest/rejections",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            query={"limit": "0"},
        ),
    )
    assert (response["statusCode"], response_json(response)["error"]) == (400, "invalid_limit")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param(
            b'{"userId":"M-1","event":"x","properties":{"name":"\\ud800"}}', "invalid_encoding", id="surrogate"
        ),
        pytest.param(
            b'{"userId":"M-1","event":"x","properties":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            "json_too_deep",
            id="deep",
        ),
    ],
)
def test_a_single_call_with_a_lone_surrogate_or_deep_nesting_is_400(stack: Stack, raw: bytes, code: str) -> None:
    response = call(stack, "/v1/track", None, authorization=basic(WRITE_KEY), raw=raw)
    assert (response["statusCode"], response_json(response)["error"]) == (400, code)


def test_rejected_events_are_counted_as_an_emf_metric(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    batch = {"batch": [track("ok-m1"), {"type": "track", "userId": "M-1", "messageId": "no-name"}]}
    capsys.readouterr()

    response = call(stack, "/v1/batch", batch, authorization=basic(WRITE_KEY))

    assert response["statusCode"] == 200
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metric,) = [m for m in emf if "IngestRejected" in m]
    assert metric["IngestRejected"] == [1.0] or metric["IngestRejected"] == 1.0
    assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LineCdp"
