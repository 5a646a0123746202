"""LINE webhook over HTTP: every event type, follow state, redelivery and every way a delivery can be bad."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cdp.events.canonical import LINE_EVENT_NAMES

from tests.e2e.conftest import BOT_USER_ID, LINE_CHANNEL, Stack, event_names, now_ms, unique
from tests.fixtures.line_events import (
    EVENT_BUILDERS,
    Event,
    callback_body,
    follow,
    sign,
    signed_delivery,
    text_message,
    unfollow,
    user_id,
    user_source,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def fresh_user() -> str:
    return user_id(unique("line-user"))


def give_own_user(event: Event) -> str | None:
    """Point an event that names a user at a fresh one, so its profile holds only this event."""
    source = event.get("source")
    if isinstance(source, dict) and source.get("userId"):
        source["userId"] = fresh_user()
        return str(source["userId"])
    return None


def line_profile(stack: Stack, user: str) -> dict[str, Any]:
    return stack.lookup("line", user)


def test_every_webhook_event_type_is_accepted_and_recorded_once(stack: Stack) -> None:
    # Given one delivery with an event of every type in webhook.yml (users, groups, rooms, no source)
    start = now_ms()
    events = [build(timestamp=start + offset) for offset, build in enumerate(EVENT_BUILDERS.values())]
    users = {event["webhookEventId"]: give_own_user(event) for event in events}

    # When LINE delivers it, signed
    response = stack.line(events)

    # Then every event is stored and answered with 200
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": len(events), "duplicates": 0}
    stack.drain()
    # and each one is processed exactly once: one `event.received` per webhookEventId
    published = stack.published("event.received")
    for event in events:
        received = [e for e in published if e["detail"]["data"]["messageId"] == event["webhookEventId"]]
        assert len(received) == 1, (event["type"], received)
        detail = received[0]["detail"]["data"]
        assert detail["channel"] == "line"
        assert detail["event"] == LINE_EVENT_NAMES.get(event["type"], f"LINE {event['type']}")
        assert detail["origin"] == "line"
        assert detail["source"] == LINE_CHANNEL
    # and events from a user land once on that user's LINE profile
    with_users = [event for event in events if users[event["webhookEventId"]]]
    assert len(with_users) >= 30
    for event in with_users:
        user = users[event["webhookEventId"]]
        profile = line_profile(stack, str(user))
        assert [entry["messageId"] for entry in profile["events"]] == [event["webhookEventId"]], event["type"]
        assert profile["identifiers"][0]["type"] == "line"
        assert profile["identifiers"][0]["value"] == f"{LINE_CHANNEL}:{user}"
        entry = profile["events"][0]
        assert entry["channel"] == "line"
        assert entry["context"]["line"]["destination"] == BOT_USER_ID
        assert entry["context"]["line"]["mode"] == event["mode"]


def test_message_properties_are_flattened_on_the_timeline(stack: Stack) -> None:
    user = fresh_user()
    response = stack.line([text_message("請問有新品嗎？", source=user_source(user), timestamp=now_ms())])
    assert response.status_code == 200, response.text
    stack.drain()
    (entry,) = line_profile(stack, user)["events"]
    assert entry["event"] == "LINE Message Received"
    assert entry["properties"]["messageType"] == "text"
    assert entry["properties"]["text"] == "請問有新品嗎？"


def test_follow_unfollow_and_unblock_change_the_friend_status(stack: Stack) -> None:
    user = fresh_user()
    start = now_ms()

    # Given a user who adds the OA as a friend
    assert stack.line([follow(source=user_source(user), timestamp=start)]).status_code == 200
    stack.drain()
    profile = line_profile(stack, user)
    assert profile["line"]["status"] == "friend"
    assert profile["line"]["accounts"] == [
        {"user": f"{LINE_CHANNEL}:{user}", "status": "friend", "since": profile["line"]["accounts"][0]["since"]}
    ]

    # When they block the OA
    assert stack.line([unfollow(source=user_source(user), timestamp=start + 1000)]).status_code == 200
    stack.drain()
    assert line_profile(stack, user)["line"]["status"] == "blocked"

    # And unblock it again
    refollow = follow(is_unblocked=True, source=user_source(user), timestamp=start + 2000)
    assert stack.line([refollow]).status_code == 200
    stack.drain()
    profile = line_profile(stack, user)
    assert profile["line"]["status"] == "friend"
    assert event_names(profile) == ["LINE Followed", "LINE Unfollowed", "LINE Followed"]
    assert profile["events"][0]["properties"]["isUnblocked"] is True
    assert profile["stats"]["channels"] == {"line": 3}


def test_redelivery_with_the_same_webhook_event_id_is_stored_once(stack: Stack) -> None:
    user = fresh_user()
    original = follow(source=user_source(user), timestamp=now_ms())
    redelivered = copy.deepcopy(original)
    redelivered["deliveryContext"] = {"isRedelivery": True}

    first = stack.line([original])
    stack.drain()
    second = stack.line([redelivered])
    stack.drain()

    assert first.status_code == 200
    assert first.json() == {"stored": 1, "duplicates": 0}
    assert second.status_code == 200
    assert second.json() == {"stored": 0, "duplicates": 1}
    profile = line_profile(stack, user)
    assert [entry["messageId"] for entry in profile["events"]] == [original["webhookEventId"]]
    assert profile["stats"]["event_count"] == 1
    assert len(stack.received(original["webhookEventId"])) == 1


def test_missing_signature_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    user = fresh_user()
    body = callback_body([follow(source=user_source(user), timestamp=now_ms())])
    response = stack.line_raw(body, None)
    assert response.status_code == 401
    assert response.json()["error"] == "missing_signature"
    stack.drain()
    stack.assert_no_profile("line", user)


def test_wrong_signature_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    user = fresh_user()
    body = callback_body([follow(source=user_source(user), timestamp=now_ms())])
    response = stack.line_raw(body, sign("not-the-channel-secret", body))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    # a signature of a different body does not fit either
    response = stack.line_raw(body, sign("local-dev-secret", body + b" "))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    stack.drain()
    stack.assert_no_profile("line", user)


def test_unknown_channel_is_404(stack: Stack) -> None:
    body, signature = signed_delivery("local-dev-secret", [follow(source=user_source(fresh_user()))])
    response = stack.line_raw(body, signature, channel=unique("no-such-channel"))
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_channel"


def test_signed_body_that_is_not_json_is_400(stack: Stack) -> None:
    response = stack.line_signed(b'{"destination": "U1", "events": [')
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"events": []},
        {"destination": "", "events": []},
        {"destination": BOT_USER_ID},
        {"destination": BOT_USER_ID, "events": {"type": "follow"}},
    ],
    ids=["array", "no-destination", "empty-destination", "no-events", "events-not-array"],
)
def test_signed_body_of_the_wrong_shape_is_400(stack: Stack, document: Any) -> None:
    response = stack.line_signed(json.dumps(document).encode())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_webhook_shape"


def test_body_over_one_megabyte_is_413(stack: Stack) -> None:
    user = fresh_user()
    huge = text_message("大" * 400_000, source=user_source(user), timestamp=now_ms())  # 1.2 MB of UTF-8
    body, signature = signed_delivery("local-dev-secret", [huge])
    assert len(body) > 1024 * 1024
    response = stack.line_raw(body, signature)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    stack.drain()
    stack.assert_no_profile("line", user)


def test_verification_request_with_no_events_is_200(stack: Stack) -> None:
    body, signature = signed_delivery("local-dev-secret", [], destination=BOT_USER_ID)
    response = stack.line_raw(body, signature)
    assert response.status_code == 200
    assert response.json() == {"stored": 0, "duplicates": 0}


def test_one_malformed_event_does_not_poison_the_delivery(stack: Stack) -> None:
    # Given a delivery with two good events around one without a webhookEventId
    first_user, second_user = fresh_user(), fresh_user()
    start = now_ms()
    good_first = follow(source=user_source(first_user), timestamp=start)
    malformed = follow(source=user_source(fresh_user()), timestamp=start)
    del malformed["webhookEventId"]
    good_second = text_message("hi", source=user_source(second_user), timestamp=start + 1)

    response = stack.line([good_first, malformed, good_second])

    # Then the answer names the bad event
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_events"
    assert body["stored"] == 2
    assert [(r["index"], r["error"]) for r in body["rejected"]] == [(1, "invalid_event")]
    assert "webhookEventId" in body["rejected"][0]["message"]
    # and the good events still reach their profiles
    stack.drain()
    assert event_names(line_profile(stack, first_user)) == ["LINE Followed"]
    assert line_profile(stack, first_user)["line"]["status"] == "friend"
    assert event_names(line_profile(stack, second_user)) == ["LINE Message Received"]
    # and LINE's retry of the whole delivery stores nothing twice
    retry = stack.line([good_first, malformed, good_second])
    assert retry.status_code == 400
    assert retry.json()["stored"] == 0
    stack.drain()
    assert line_profile(stack, first_user)["stats"]["event_count"] == 1
