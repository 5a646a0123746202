"""line_webhook handler end to end on moto: signature, validation, one raw item per webhookEventId."""

from __future__ import annotations

import copy
import json
from typing import Any

from cdp.adapters.dynamodb.raw_events import raw_event_from_item
from cdp.clock import epoch_seconds
from cdp.events.raw import line_event_id

from tests.fixtures import line_events
from tests.fixtures.line_events import CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, Stack, api_event, response_json

RESOURCE = "/line/webhook/{channel}"


def deliver(
    stack: Stack, body: bytes, signature: str | None, channel: str = LINE_CHANNEL, **headers: str
) -> dict[str, Any]:
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0", **headers}
    if signature is not None:
        all_headers["x-line-signature"] = signature
    event = api_event(
        "POST",
        f"/line/webhook/{channel}",
        resource=RESOURCE,
        body=body,
        headers=all_headers,
        path_parameters={"channel": channel},
    )
    response: dict[str, Any] = stack.invoke("line_webhook", event)
    return response


def pk(event: dict[str, Any]) -> str:
    return line_event_id(LINE_CHANNEL, event["webhookEventId"])


def test_a_delivery_of_every_event_type_is_stored_once_per_webhook_event_id(stack: Stack) -> None:
    events = line_events.every_event()
    body, signature = signed_delivery(CHANNEL_SECRET, events)

    response = deliver(stack, body, signature)

    assert response["statusCode"] == 200, response
    assert response_json(response) == {"stored": len(events), "duplicates": 0}
    items = stack.raw_items()
    assert set(items) == {pk(event) for event in events}
    for event in events:
        stored = raw_event_from_item(items[pk(event)])
        assert stored.payload == event  # the event exactly as LINE sent it
        assert (stored.origin, stored.source, stored.provider) == ("line", LINE_CHANNEL, LINE_CHANNEL)
        assert stored.destination == line_events.BOT_USER_ID
        ttl = int(items[pk(event)]["expires_at"]["N"])
        assert ttl == epoch_seconds(stored.received_at) + 30 * 86400  # CDP_RAW_EVENT_TTL_DAYS from the stack


def test_a_redelivery_is_counted_as_duplicates_and_stored_once(stack: Stack) -> None:
    events = [line_events.follow(), line_events.text_message("想問門市營業時間"), line_events.postback()]
    body, signature = signed_delivery(CHANNEL_SECRET, events)
    assert deliver(stack, body, signature)["statusCode"] == 200

    # LINE's redelivery: the same webhookEventIds, flagged, in a new (re-signed) body.
    redelivered = copy.deepcopy(events)
    for event in redelivered:
        event["deliveryContext"]["isRedelivery"] = True
    body, signature = signed_delivery(CHANNEL_SECRET, [line_events.unfollow(), *redelivered])
    response = deliver(stack, body, signature)

    assert response["statusCode"] == 200
    assert response_json(response) == {"stored": 1, "duplicates": 3}
    items = stack.raw_items()
    assert len(items) == 4
    for event in events:
        assert raw_event_from_item(items[pk(event)]).payload["deliveryContext"] == {"isRedelivery": False}


def test_missing_signature_is_401_and_nothing_is_written(stack: Stack) -> None:
    body, _ = signed_delivery(CHANNEL_SECRET, [line_events.follow()])

    response = deliver(stack, body, None)

    assert response["statusCode"] == 401
    assert response_json(response)["error"] == "missing_signature"
    assert stack.raw_items() == {}


def test_invalid_signature_is_401_and_nothing_is_written(stack: Stack) -> None:
    body, _ = signed_delivery(CHANNEL_SECRET, [line_events.follow()])
    _, other_signature = signed_delivery("another-channel-secret", [line_events.follow()])
    tampered = body.replace(b'"follow"', b'"unfollow"', 1)
    _, good_signature = signed_delivery(CHANNEL_SECRET, [])

    for signature, sent in (
        (other_signature, body),
        (good_signature, body),
        (line_events.sign(CHANNEL_SECRET, body), tampered),
    ):
        response = deliver(stack, sent, signature)
        assert response["statusCode"] == 401
        assert response_json(response)["error"] == "invalid_signature"
    assert stack.raw_items() == {}


def test_unknown_channel_is_404(stack: Stack) -> None:
    body, signature = signed_delivery(CHANNEL_SECRET, [line_events.follow()])

    response = deliver(stack, body, signature, channel="no-such-oa")

    assert response["statusCode"] == 404
    assert response_json(response)["error"] == "unknown_channel"
    assert stack.raw_items() == {}


def test_a_signed_body_that_is_not_json_is_400(stack: Stack) -> None:
    body = b"destination=U0&events=[]"

    response = deliver(stack, body, line_events.sign(CHANNEL_SECRET, body))

    assert response["statusCode"] == 400
    assert response_json(response)["error"] == "invalid_json"
    assert stack.raw_items() == {}


def test_a_body_over_1_mb_is_413(stack: Stack) -> None:
    events = [line_events.text_message("衣" * 2000) for _ in range(200)]  # ~1.3 MB of UTF-8
    body, signature = signed_delivery(CHANNEL_SECRET, events)
    assert len(body) > 1024 * 1024

    response = deliver(stack, body, signature)

    assert response["statusCode"] == 413
    assert response_json(response)["error"] == "payload_too_large"
    assert stack.raw_items() == {}


def test_the_console_verification_request_is_200(stack: Stack) -> None:
    body, signature = line_events.verification_request(CHANNEL_SECRET)

    response = deliver(stack, body, signature)

    assert response["statusCode"] == 200
    assert response_json(response) == {"stored": 0, "duplicates": 0}
    assert stack.raw_items() == {}


def test_a_malformed_event_is_400_and_the_good_ones_are_stored(stack: Stack) -> None:
    good = [line_events.follow(), line_events.beacon(), line_events.sticker_message()]
    no_id = line_events.text_message()
    del no_id["webhookEventId"]
    bad_mode = line_events.postback(mode="replay")
    body, signature = signed_delivery(CHANNEL_SECRET, [good[0], no_id, good[1], bad_mode, good[2]])

    response = deliver(stack, body, signature)

    assert response["statusCode"] == 400
    payload = response_json(response)
    assert payload["error"] == "invalid_events"
    assert payload["stored"] == 3
    assert [(r["index"], r["error"]) for r in payload["rejected"]] == [(1, "invalid_event"), (3, "invalid_event")]
    assert set(stack.raw_items()) == {pk(event) for event in good}


def test_a_body_sent_without_base64_is_accepted_too(stack: Stack) -> None:
    """Without binary media types API Gateway passes text bodies as they are."""
    event = line_events.text_message("沒有 base64")
    body, signature = signed_delivery(CHANNEL_SECRET, [event])
    request = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource=RESOURCE,
        body=body,
        headers={"X-Line-Signature": signature, "Content-Type": "application/json"},
        path_parameters={"channel": LINE_CHANNEL},
        base64_body=False,
    )

    response = stack.invoke("line_webhook", request)

    assert response["statusCode"] == 200, response
    assert set(stack.raw_items()) == {pk(event)}


def test_an_event_too_large_to_store_is_refused_alone_and_the_delivery_answers_200(stack: Stack) -> None:
    # One signed event over the raw-event item limit used to answer 503 on every redelivery.
    good = line_events.follow()
    huge = line_events.text_message("大" * 200_000)  # 600 KB of UTF-8: over DynamoDB's 400 KB item limit
    body, signature = signed_delivery(CHANNEL_SECRET, [good, huge])

    response = deliver(stack, body, signature)

    assert response["statusCode"] == 200, response
    payload = response_json(response)
    assert payload["stored"] == 1
    assert [(r["index"], r["error"]) for r in payload["rejected"]] == [(1, "event_too_large")]
    assert set(stack.raw_items()) == {pk(good)}
    # and the refusal is recorded for the admin's rejections list, without the event's text
    listed = stack.invoke(
        "admin_api",
        api_event("GET", "/admin/v1/ingest/rejections", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
    )
    (recorded,) = response_json(listed)["rejections"]
    assert (recorded["call"], recorded["source"], recorded["error"]) == (
        "line_webhook",
        LINE_CHANNEL,
        "event_too_large",
    )
    assert (recorded["message_id"], recorded["type"]) == (huge["webhookEventId"], "message")
    assert "大" not in listed["body"]


def test_a_lone_surrogate_in_a_signed_event_is_400_naming_the_field(stack: Stack) -> None:
    good = line_events.follow()
    bad = line_events.text_message("x")
    body = json.dumps({"destination": line_events.BOT_USER_ID, "events": [good, bad]}).replace('"x"', '"\\ud800"')
    encoded = body.encode()

    response = deliver(stack, encoded, line_events.sign(CHANNEL_SECRET, encoded))

    assert response["statusCode"] == 400
    payload = response_json(response)
    assert payload["rejected"][0]["error"] == "invalid_encoding"
    assert payload["rejected"][0]["field"] == "/events/1/message/text"
    assert set(stack.raw_items()) == {pk(good)}


def test_deep_nesting_and_nan_in_the_envelope_are_400(stack: Stack) -> None:
    for raw, code in (
        (b'{"destination": "U1", "events": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "json_too_deep"),
        (b'{"destination": NaN, "events": []}', "non_finite_number"),
    ):
        response = deliver(stack, raw, line_events.sign(CHANNEL_SECRET, raw))
        assert response["statusCode"] == 400, response
        assert response_json(response)["error"] == code
