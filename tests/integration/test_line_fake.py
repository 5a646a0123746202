"""The LINE API fake over real HTTP: later features trust it to reject what LINE rejects."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from infra.local.line_fake import LineApiFake, LinkTokenError, new_user_id

TOKEN = "test-channel-token"
BOT = "U" + "b" * 32
OTHER_TOKEN = "other-channel-token"
OTHER_BOT = "U" + "c" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TEXT = [{"type": "text", "text": "哈囉"}]


@pytest.fixture
def fake() -> Iterator[LineApiFake]:
    with LineApiFake() as server:
        server.register_channel(TOKEN, BOT)
        server.register_channel(OTHER_TOKEN, OTHER_BOT)
        yield server


def call(
    fake: LineApiFake,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    token: str | None = TOKEN,
    **kwargs: Any,
) -> requests.Response:
    all_headers = {"Authorization": f"Bearer {token}"} if token else {}
    all_headers.update(headers or {})
    return requests.request(method, fake.base_url + path, json=body, headers=all_headers, timeout=10, **kwargs)


def push(fake: LineApiFake, to: str, messages: Any = TEXT, **kwargs: Any) -> requests.Response:
    return call(fake, "POST", "/v2/bot/message/push", {"to": to, "messages": messages}, **kwargs)


def retry_headers(key: str) -> dict[str, str]:
    return {"X-Line-Retry-Key": key}


def details(response: requests.Response) -> list[tuple[str, str]]:
    return [(d["property"], d["message"]) for d in response.json()["details"]]


# ---------------------------------------------------------------- authentication and routing


@pytest.mark.parametrize("token", [None, "not-registered"])
def test_missing_or_unknown_token_answers_401_and_records_nothing(fake: LineApiFake, token: str | None) -> None:
    response = push(fake, new_user_id(), token=token)

    assert response.status_code == 401
    assert response.json()["message"].startswith("Authentication failed")
    assert response.headers["x-line-request-id"]
    assert fake.sent() == []


def test_every_authenticated_endpoint_requires_the_bearer_token(fake: LineApiFake) -> None:
    uid = new_user_id()
    for method, path in [
        ("GET", f"/v2/bot/profile/{uid}"),
        ("GET", "/v2/bot/message/quota"),
        ("GET", "/v2/bot/message/quota/consumption"),
        ("POST", f"/v2/bot/user/{uid}/linkToken"),
        ("POST", "/v2/bot/audienceGroup/upload"),
        ("PUT", "/v2/bot/audienceGroup/upload"),
        ("GET", "/v2/bot/audienceGroup/1"),
        ("POST", "/v2/bot/message/broadcast"),
    ]:
        assert call(fake, method, path, {}, token=None).status_code == 401, path


def test_unknown_path_is_404_and_wrong_method_is_405(fake: LineApiFake) -> None:
    assert call(fake, "GET", "/v2/bot/nope").status_code == 404
    response = call(fake, "GET", "/v2/bot/message/push")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


# ---------------------------------------------------------------- push


def test_push_answers_sent_messages_and_records_the_send(fake: LineApiFake) -> None:
    uid = new_user_id()
    messages = [
        *TEXT,
        {"type": "sticker", "packageId": "446", "stickerId": "1988"},
        {"type": "flex", "altText": "a", "contents": {}},
    ]

    response = push(fake, uid, messages)

    assert response.status_code == 200
    sent_messages = response.json()["sentMessages"]
    assert len(sent_messages) == 3
    assert all(m["id"].isdigit() for m in sent_messages)
    assert "quoteToken" in sent_messages[0] and "quoteToken" in sent_messages[1]
    assert "quoteToken" not in sent_messages[2]  # flex messages cannot be quoted
    (record,) = fake.sent()
    assert record["endpoint"] == "push"
    assert record["request_id"] == response.headers["x-line-request-id"]
    assert record["bot_user_id"] == BOT
    assert record["recipients"] == [uid]
    assert record["delivered"] is True
    assert record["messages"] == messages
    assert record["retry_key"] is None
    assert record["sent_messages"] == sent_messages
    assert record["time"] > 0


def test_push_accepts_group_and_room_ids(fake: LineApiFake) -> None:
    assert push(fake, "C" + "1" * 32).status_code == 200
    assert push(fake, "R" + "2" * 32).status_code == 200


@pytest.mark.parametrize("to", ["kutemukan", "U1234", "U" + "G" * 32, "u" + "a" * 32])
def test_push_to_malformed_id_is_rejected_like_line(fake: LineApiFake, to: str) -> None:
    response = push(fake, to)

    assert response.status_code == 400
    assert response.json() == {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"}
    assert fake.sent() == []


def test_push_without_to_names_the_property(fake: LineApiFake) -> None:
    response = call(fake, "POST", "/v2/bot/message/push", {"messages": TEXT})

    assert response.status_code == 400
    assert response.json()["message"] == "The request body has 1 error(s)"
    assert details(response) == [("to", "May not be empty")]


@pytest.mark.parametrize(
    ("messages", "prop"),
    [
        (None, "messages"),
        ([], "messages"),
        (TEXT * 6, "messages"),
        ([{"text": "no type"}], "messages[0].type"),
        ([*TEXT, {"type": "text", "text": ""}], "messages[1].text"),
        ([{"type": "text"}], "messages[0].text"),
        ([{"type": "text", "text": "x" * 5001}], "messages[0].text"),
        ([{"type": "text", "text": "😀" * 2501}], "messages[0].text"),  # UTF-16: 5002 code units
        ([{"type": "carousel"}], "messages[0].type"),
        ([{"type": "sticker", "packageId": "1"}], "messages[0].stickerId"),
        (
            [{"type": "image", "originalContentUrl": "http://x/a.jpg", "previewImageUrl": "https://x/p.jpg"}],
            "messages[0].originalContentUrl",
        ),
        ([{"type": "template", "altText": "a" * 401, "template": {}}], "messages[0].altText"),
        (["just a string"], "messages[0]"),
    ],
)
def test_invalid_messages_answer_line_error_shape(fake: LineApiFake, messages: Any, prop: str) -> None:
    response = push(fake, new_user_id(), messages)

    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("The request body has")
    assert all(set(d) == {"message", "property"} for d in body["details"])
    assert prop in [p for p, _ in details(response)]
    assert fake.sent() == []


def test_text_at_the_limits_is_accepted(fake: LineApiFake) -> None:
    assert push(fake, new_user_id(), [{"type": "text", "text": "x" * 5000}]).status_code == 200
    assert push(fake, new_user_id(), [{"type": "text", "text": "😀" * 2500}]).status_code == 200
    assert push(fake, new_user_id(), TEXT * 5).status_code == 200


def test_every_error_is_reported_at_once(fake: LineApiFake) -> None:
    response = call(fake, "POST", "/v2/bot/message/push", {"messages": [{"type": "text", "text": ""}, {}]})

    assert response.json()["message"] == "The request body has 3 error(s)"
    assert {p for p, _ in details(response)} == {"to", "messages[0].text", "messages[1].type"}


def test_body_that_is_not_json_is_400(fake: LineApiFake) -> None:
    response = requests.post(
        fake.base_url + "/v2/bot/message/push",
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 400
    assert "message" in response.json()


def test_body_over_2_mb_is_413(fake: LineApiFake) -> None:
    big = {"to": new_user_id(), "messages": TEXT, "padding": "x" * (2 * 1024 * 1024)}

    response = call(fake, "POST", "/v2/bot/message/push", big)

    assert response.status_code == 413
    assert fake.sent() == []


# ---------------------------------------------------------------- retry keys and failures


def test_retry_key_repeat_answers_409_with_the_accepted_request_id(fake: LineApiFake) -> None:
    uid, key = new_user_id(), str(uuid.uuid4())

    first = push(fake, uid, headers=retry_headers(key))
    second = push(fake, uid, headers=retry_headers(key))

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert second.headers["x-line-request-id"] != first.headers["x-line-request-id"]
    assert second.json()["message"] == "The retry key is already accepted"
    assert second.json()["sentMessages"] == first.json()["sentMessages"]
    (record,) = fake.sent()
    assert record["retry_key"] == key
    assert fake.consumption() == 1


def test_retry_keys_are_per_channel_and_expire_after_24_hours(fake: LineApiFake) -> None:
    key = str(uuid.uuid4())
    body = {"messages": TEXT}
    assert call(fake, "POST", "/v2/bot/message/broadcast", body, retry_headers(key)).status_code == 200
    assert call(fake, "POST", "/v2/bot/message/broadcast", body, retry_headers(key)).status_code == 409
    other = call(fake, "POST", "/v2/bot/message/broadcast", body, retry_headers(key), token=OTHER_TOKEN)
    assert other.status_code == 200

    fake.advance_time(24 * 3600 + 1)

    assert call(fake, "POST", "/v2/bot/message/broadcast", body, retry_headers(key)).status_code == 200
    assert len(fake.sent(endpoint="broadcast")) == 3


@pytest.mark.parametrize("key", ["not-a-uuid", "123e4567e89b12d3a456426614174000", ""])
def test_malformed_retry_key_is_400(fake: LineApiFake, key: str) -> None:
    response = push(fake, new_user_id(), headers=retry_headers(key))

    assert response.status_code == 400
    assert fake.sent() == []


def test_rejected_request_does_not_consume_its_retry_key(fake: LineApiFake) -> None:
    uid, key = new_user_id(), str(uuid.uuid4())

    assert push(fake, uid, [], headers=retry_headers(key)).status_code == 400
    assert push(fake, uid, headers=retry_headers(key)).status_code == 200


def test_fail_next_simulates_rate_limiting_for_backoff(fake: LineApiFake) -> None:
    uid, key = new_user_id(), str(uuid.uuid4())
    fake.fail_next(2)

    statuses = [push(fake, uid, headers=retry_headers(key)).status_code for _ in range(3)]

    assert statuses == [429, 429, 200]
    assert call(fake, "GET", "/v2/bot/message/quota").status_code == 200  # only sends are throttled
    assert [c["status"] for c in fake.calls() if c["path"].endswith("/push")] == [429, 429, 200]
    assert len(fake.sent()) == 1


def test_fail_after_accept_makes_the_retry_answer_409(fake: LineApiFake) -> None:
    uid, key = new_user_id(), str(uuid.uuid4())
    fake.fail_next(1, status=500, after_accept=True)

    first = push(fake, uid, headers=retry_headers(key))
    retry = push(fake, uid, headers=retry_headers(key))

    assert first.status_code == 500
    assert retry.status_code == 409
    assert retry.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert len(fake.sent()) == 1


def test_concurrent_retries_with_one_key_are_accepted_once(fake: LineApiFake) -> None:
    uid, key = new_user_id(), str(uuid.uuid4())

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: push(fake, uid, headers=retry_headers(key)).status_code, range(16)))

    assert sorted(statuses) == [200] + [409] * 15
    assert len(fake.sent()) == 1


def test_concurrent_sends_are_all_recorded(fake: LineApiFake) -> None:
    users = [new_user_id() for _ in range(40)]

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda uid: push(fake, uid).status_code, users))

    assert statuses == [200] * 40
    assert sorted(r["recipients"][0] for r in fake.sent()) == sorted(users)
    assert len({r["request_id"] for r in fake.sent()}) == 40


# ---------------------------------------------------------------- blocked users


def test_push_to_blocked_user_answers_200_but_is_not_delivered(fake: LineApiFake) -> None:
    uid = new_user_id()
    fake.add_user(uid, "小明")
    fake.block_user(uid)

    response = push(fake, uid)

    assert response.status_code == 200
    assert "sentMessages" in response.json()
    (record,) = fake.sent(to=uid)
    assert record["delivered"] is False
    assert record["not_delivered_to"] == [uid]
    assert fake.consumption() == 0
    assert call(fake, "GET", f"/v2/bot/profile/{uid}").status_code == 404

    fake.unblock_user(uid)
    push(fake, uid)
    assert fake.sent(to=uid)[-1]["delivered"] is True


# ---------------------------------------------------------------- reply


def test_reply_tokens_are_single_use_and_expire(fake: LineApiFake) -> None:
    uid = new_user_id()
    token = fake.issue_reply_token(uid)

    first = call(fake, "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": TEXT})
    again = call(fake, "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": TEXT})

    assert first.status_code == 200
    assert len(first.json()["sentMessages"]) == 1
    assert again.status_code == 400
    assert again.json() == {"message": "Invalid reply token"}
    (record,) = fake.sent(endpoint="reply")
    assert record["recipients"] == [uid]
    assert record["reply_token"] == token
    assert fake.consumption() == 0  # replies are free

    stale = fake.issue_reply_token(uid)
    fake.advance_time(61)
    assert call(fake, "POST", "/v2/bot/message/reply", {"replyToken": stale, "messages": TEXT}).status_code == 400
    unknown = call(fake, "POST", "/v2/bot/message/reply", {"replyToken": "f" * 32, "messages": TEXT})
    assert unknown.status_code == 400


def test_reply_token_of_another_channel_is_invalid(fake: LineApiFake) -> None:
    token = fake.issue_reply_token(new_user_id(), bot_user_id=OTHER_BOT)

    response = call(fake, "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": TEXT})

    assert response.status_code == 400


def test_reply_validation_and_retry_key_rejection(fake: LineApiFake) -> None:
    token = fake.issue_reply_token(new_user_id())

    missing = call(fake, "POST", "/v2/bot/message/reply", {"messages": TEXT})
    with_key = call(
        fake, "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": TEXT}, retry_headers(str(uuid.uuid4()))
    )

    assert missing.status_code == 400
    assert details(missing) == [("replyToken", "May not be empty")]
    assert with_key.status_code == 400
    assert call(fake, "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": TEXT}).status_code == 200


# ---------------------------------------------------------------- multicast, broadcast, narrowcast


def test_multicast_records_each_recipient_and_skips_blocked(fake: LineApiFake) -> None:
    users = [new_user_id() for _ in range(3)]
    fake.block_user(users[1])

    response = call(fake, "POST", "/v2/bot/message/multicast", {"to": users, "messages": TEXT})

    assert response.status_code == 200
    assert response.json() == {}
    (record,) = fake.sent(endpoint="multicast")
    assert record["recipients"] == users
    assert record["delivered_to"] == [users[0], users[2]]
    assert record["not_delivered_to"] == [users[1]]
    assert fake.consumption() == 2


def test_multicast_limits_recipients_to_500_user_ids(fake: LineApiFake) -> None:
    ok = call(fake, "POST", "/v2/bot/message/multicast", {"to": [new_user_id() for _ in range(500)], "messages": TEXT})
    too_many = call(
        fake, "POST", "/v2/bot/message/multicast", {"to": [new_user_id() for _ in range(501)], "messages": TEXT}
    )
    bad_id = call(fake, "POST", "/v2/bot/message/multicast", {"to": [new_user_id(), "C" + "1" * 32], "messages": TEXT})
    empty = call(fake, "POST", "/v2/bot/message/multicast", {"to": [], "messages": TEXT})

    assert ok.status_code == 200
    assert too_many.status_code == 400
    assert details(too_many) == [("to", "Size must be between 1 and 500")]
    assert bad_id.status_code == 400
    assert [p for p, _ in details(bad_id)] == ["to[1]"]
    assert empty.status_code == 400
    assert len(fake.sent()) == 1


def test_broadcast_reaches_every_friend_who_has_not_blocked(fake: LineApiFake) -> None:
    friends = sorted(new_user_id() for _ in range(3))
    for i, uid in enumerate(friends):
        fake.add_user(uid, f"friend {i}")
    fake.block_user(friends[0])

    response = call(fake, "POST", "/v2/bot/message/broadcast", {"messages": TEXT, "notificationDisabled": True})

    assert response.status_code == 200
    (record,) = fake.sent(endpoint="broadcast")
    assert record["recipients"] == friends[1:]
    assert record["notification_disabled"] is True
    assert fake.consumption() == 2


def create_audience(fake: LineApiFake, members: list[str], token: str = TOKEN) -> int:
    body = {"description": "vip", "audiences": [{"id": uid} for uid in members]}
    response = call(fake, "POST", "/v2/bot/audienceGroup/upload", body, token=token)
    assert response.status_code == 202, response.text
    return int(response.json()["audienceGroupId"])


def narrowcast(fake: LineApiFake, body: dict[str, Any]) -> tuple[requests.Response, dict[str, Any]]:
    response = call(fake, "POST", "/v2/bot/message/narrowcast", {"messages": TEXT, **body})
    assert response.status_code == 202, response.text
    progress = call(
        fake, "GET", "/v2/bot/message/progress/narrowcast", params={"requestId": response.headers["x-line-request-id"]}
    )
    assert progress.status_code == 200
    return response, progress.json()


def test_narrowcast_to_an_audience_succeeds_with_progress(fake: LineApiFake) -> None:
    members = [new_user_id() for _ in range(60)]
    group_id = create_audience(fake, members)
    fake.block_user(members[0])

    response, progress = narrowcast(fake, {"recipient": {"type": "audience", "audienceGroupId": group_id}})

    assert response.json() == {}
    assert progress["phase"] == "succeeded"
    assert progress["successCount"] == progress["targetCount"] == 59
    assert progress["acceptedTime"].endswith("Z")
    (record,) = fake.sent(endpoint="narrowcast")
    assert sorted(record["recipients"]) == sorted(members[1:])
    assert fake.consumption() == 59


def test_narrowcast_operators_and_limit(fake: LineApiFake) -> None:
    everyone = [new_user_id() for _ in range(120)]
    a = create_audience(fake, everyone[:100])
    b = create_audience(fake, everyone[60:])
    recipient = {
        "type": "operator",
        "and": [
            {"type": "audience", "audienceGroupId": a},
            {"type": "operator", "not": {"type": "audience", "audienceGroupId": b}},
        ],
    }

    _, progress = narrowcast(fake, {"recipient": recipient, "limit": {"max": 55}})

    assert progress["phase"] == "succeeded"
    assert progress["successCount"] == 55
    (record,) = fake.sent(endpoint="narrowcast")
    assert set(record["recipients"]) <= set(everyone[:60])


def test_narrowcast_fails_asynchronously_for_small_audiences(fake: LineApiFake) -> None:
    small = create_audience(fake, [new_user_id() for _ in range(10)])

    _, progress = narrowcast(fake, {"recipient": {"type": "audience", "audienceGroupId": small}})

    assert progress["phase"] == "failed"
    assert progress["errorCode"] == 4
    assert "failedDescription" in progress
    assert fake.sent(endpoint="narrowcast")[0]["delivered_to"] == []
    assert fake.consumption() == 0


def test_narrowcast_needs_enough_recipients() -> None:
    with LineApiFake(narrowcast_min_recipients=3) as server:
        server.register_channel(TOKEN, BOT)
        for i in range(2):
            server.add_user(new_user_id(), f"u{i}")
        _, progress = narrowcast(server, {})
        assert (progress["phase"], progress["errorCode"]) == ("failed", 2)

        server.add_user(new_user_id(), "third")
        _, progress = narrowcast(server, {})
        assert (progress["phase"], progress["successCount"]) == ("succeeded", 3)


def test_narrowcast_rejects_bad_recipients_and_unknown_audiences(fake: LineApiFake) -> None:
    foreign = create_audience(fake, [new_user_id()], token=OTHER_TOKEN)

    bad_type = call(fake, "POST", "/v2/bot/message/narrowcast", {"messages": TEXT, "recipient": {"type": "x"}})
    unknown = call(
        fake,
        "POST",
        "/v2/bot/message/narrowcast",
        {"messages": TEXT, "recipient": {"type": "audience", "audienceGroupId": foreign}},
    )
    progress_missing = call(fake, "GET", "/v2/bot/message/progress/narrowcast")
    progress_unknown = call(fake, "GET", "/v2/bot/message/progress/narrowcast", params={"requestId": "nope"})

    assert bad_type.status_code == 400
    assert [p for p, _ in details(bad_type)] == ["recipient.type"]
    assert unknown.status_code == 400
    assert unknown.json()["details"][0]["message"] == "AUDIENCE_GROUP_NOT_FOUND"
    assert progress_missing.status_code == 400
    assert progress_unknown.status_code == 404
    assert fake.sent() == []


# ---------------------------------------------------------------- quota


def test_quota_and_consumption_count_recipients_of_accepted_sends() -> None:
    with LineApiFake(monthly_quota=5) as server:
        server.register_channel(TOKEN, BOT)
        users = [new_user_id() for _ in range(4)]

        assert call(server, "GET", "/v2/bot/message/quota").json() == {"type": "limited", "value": 5}
        assert push(server, users[0]).status_code == 200
        assert (
            call(server, "POST", "/v2/bot/message/multicast", {"to": users[1:4], "messages": TEXT}).status_code == 200
        )
        assert call(server, "GET", "/v2/bot/message/quota/consumption").json() == {"totalUsage": 4}

        over = call(server, "POST", "/v2/bot/message/multicast", {"to": users[:2], "messages": TEXT})
        assert over.status_code == 429
        assert over.json() == {"message": "You have reached your monthly limit."}
        assert push(server, users[0]).status_code == 200
        assert call(server, "GET", "/v2/bot/message/quota/consumption").json() == {"totalUsage": 5}
        assert push(server, users[0]).status_code == 429
        assert len(server.sent()) == 3


def test_quota_is_unlimited_by_default_and_per_channel(fake: LineApiFake) -> None:
    assert call(fake, "GET", "/v2/bot/message/quota").json() == {"type": "none"}
    fake.set_quota(10, bot_user_id=OTHER_BOT)
    push(fake, new_user_id(), token=OTHER_TOKEN)

    assert call(fake, "GET", "/v2/bot/message/quota").json() == {"type": "none"}
    assert call(fake, "GET", "/v2/bot/message/quota", token=OTHER_TOKEN).json() == {"type": "limited", "value": 10}
    assert call(fake, "GET", "/v2/bot/message/quota/consumption").json() == {"totalUsage": 0}
    assert call(fake, "GET", "/v2/bot/message/quota/consumption", token=OTHER_TOKEN).json() == {"totalUsage": 1}


# ---------------------------------------------------------------- profile


def test_profile_answers_known_users_and_404_otherwise(fake: LineApiFake) -> None:
    with_picture, plain = new_user_id(), new_user_id()
    fake.add_user(with_picture, "王小明", picture_url="https://profile.line-scdn.net/x", status_message="hi")
    fake.add_user(plain, "Lin", language=None)

    assert call(fake, "GET", f"/v2/bot/profile/{with_picture}").json() == {
        "userId": with_picture,
        "displayName": "王小明",
        "pictureUrl": "https://profile.line-scdn.net/x",
        "statusMessage": "hi",
        "language": "zh-TW",
    }
    assert call(fake, "GET", f"/v2/bot/profile/{plain}").json() == {"userId": plain, "displayName": "Lin"}
    missing = call(fake, "GET", f"/v2/bot/profile/{new_user_id()}")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Not found"}


def test_add_user_rejects_malformed_ids(fake: LineApiFake) -> None:
    with pytest.raises(ValueError, match="not a LINE user ID"):
        fake.add_user("someone", "x")


# ---------------------------------------------------------------- account link


def test_link_token_is_single_use_and_valid_ten_minutes(fake: LineApiFake) -> None:
    uid = new_user_id()

    response = call(fake, "POST", f"/v2/bot/user/{uid}/linkToken")

    assert response.status_code == 200
    link_token = response.json()["linkToken"]
    assert len(link_token) == 32 and link_token.isalnum()
    (record,) = fake.link_tokens()
    assert record["user_id"] == uid
    assert record["bot_user_id"] == BOT
    assert record["expires_at"] - record["issued_at"] == 600
    assert fake.consume_link_token(link_token) == uid
    with pytest.raises(LinkTokenError, match="already used"):
        fake.consume_link_token(link_token)

    late = call(fake, "POST", f"/v2/bot/user/{uid}/linkToken").json()["linkToken"]
    fake.advance_time(601)
    with pytest.raises(LinkTokenError, match="expired"):
        fake.consume_link_token(late)
    with pytest.raises(LinkTokenError, match="unknown"):
        fake.consume_link_token("nope")


def test_link_token_for_malformed_user_id_is_400(fake: LineApiFake) -> None:
    assert call(fake, "POST", "/v2/bot/user/not-a-user/linkToken").status_code == 400


def test_account_link_event_reports_success_once_then_failure_without_source(fake: LineApiFake) -> None:
    uid = new_user_id()
    link_token = call(fake, "POST", f"/v2/bot/user/{uid}/linkToken").json()["linkToken"]
    nonce = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()

    ok = fake.account_link_event(link_token, nonce)
    reused = fake.account_link_event(link_token, nonce)

    assert ok["type"] == "accountLink"
    assert ok["link"] == {"result": "ok", "nonce": nonce}
    assert ok["source"] == {"type": "user", "userId": uid}
    assert len(ok["webhookEventId"]) == 26
    assert reused["link"]["result"] == "failed"
    assert "source" not in reused
    # The event's reply token works against the fake like a real webhook's.
    reply = call(fake, "POST", "/v2/bot/message/reply", {"replyToken": ok["replyToken"], "messages": TEXT})
    assert reply.status_code == 200
    assert fake.sent(endpoint="reply")[0]["recipients"] == [uid]


def test_account_link_event_rejects_short_nonce(fake: LineApiFake) -> None:
    link_token = call(fake, "POST", f"/v2/bot/user/{new_user_id()}/linkToken").json()["linkToken"]

    assert fake.account_link_event(link_token, "short")["link"]["result"] == "failed"


# ---------------------------------------------------------------- LINE Login ID token


def verify(fake: LineApiFake, **form: str) -> requests.Response:
    return requests.post(fake.base_url + "/oauth2/v2.1/verify", data=form, timeout=10)


def test_verify_answers_claims_of_issued_id_tokens(fake: LineApiFake) -> None:
    uid = new_user_id()
    id_token = fake.issue_id_token(uid, "1650000000", name="小美", email="mei@example.com", nonce="n-0123456789")

    response = verify(fake, id_token=id_token, client_id="1650000000", nonce="n-0123456789", user_id=uid)

    assert response.status_code == 200
    claims = response.json()
    assert claims["iss"] == "https://access.line.me"
    assert (claims["sub"], claims["aud"], claims["name"], claims["email"]) == (
        uid,
        "1650000000",
        "小美",
        "mei@example.com",
    )
    assert claims["exp"] - claims["iat"] == 3600
    payload = id_token.split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == claims


@pytest.mark.parametrize(
    ("form", "description"),
    [
        ({"id_token": "forged.token.value", "client_id": "1650000000"}, "Invalid IdToken."),
        ({"client_id": "1650000000"}, "id_token is required"),
        ({"client_id": "999"}, "Invalid IdToken Audience."),
        ({"client_id": "1650000000", "nonce": "other-nonce-value"}, "Invalid IdToken Nonce."),
        ({"client_id": "1650000000", "user_id": "U" + "0" * 32}, "Invalid IdToken Subject Identifier."),
    ],
)
def test_verify_rejects_like_line_login(fake: LineApiFake, form: dict[str, str], description: str) -> None:
    id_token = fake.issue_id_token(new_user_id(), "1650000000", nonce="n-0123456789")
    if description != "id_token is required":
        form = {"id_token": id_token, **form}

    response = verify(fake, **form)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": description}


def test_verify_rejects_expired_tokens_and_json_bodies(fake: LineApiFake) -> None:
    id_token = fake.issue_id_token(new_user_id(), "1650000000")
    as_json = requests.post(
        fake.base_url + "/oauth2/v2.1/verify", json={"id_token": id_token, "client_id": "1650000000"}, timeout=10
    )

    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    fake.advance_time(3600)
    expired = verify(fake, id_token=id_token, client_id="1650000000")
    assert expired.json() == {"error": "invalid_request", "error_description": "IdToken expired."}


# ---------------------------------------------------------------- audiences


def test_audience_upload_add_and_get(fake: LineApiFake) -> None:
    first, later = [new_user_id() for _ in range(3)], [new_user_id() for _ in range(2)]

    created = call(
        fake,
        "POST",
        "/v2/bot/audienceGroup/upload",
        {"description": "台北 VIP", "uploadDescription": "seed", "audiences": [{"id": uid} for uid in first]},
    )

    assert created.status_code == 202
    group = created.json()
    assert group["type"] == "UPLOAD"
    assert group["createRoute"] == "MESSAGING_API"
    assert group["permission"] == "READ_WRITE"
    assert group["description"] == "台北 VIP"
    assert group["expireTimestamp"] - group["created"] == 180 * 24 * 3600
    group_id = group["audienceGroupId"]

    added = call(
        fake,
        "PUT",
        "/v2/bot/audienceGroup/upload",
        {
            "audienceGroupId": group_id,
            "uploadDescription": "batch 2",
            "audiences": [{"id": u} for u in [*later, first[0]]],
        },
    )
    assert added.status_code == 202
    assert added.json() == {}

    fetched = call(fake, "GET", f"/v2/bot/audienceGroup/{group_id}").json()
    assert fetched["audienceGroup"]["audienceCount"] == 5
    assert fetched["audienceGroup"]["status"] == "READY"
    (job,) = fetched["jobs"]
    assert (job["type"], job["jobStatus"], job["audienceCount"], job["description"]) == (
        "DIFF_ADD",
        "FINISHED",
        2,
        "batch 2",
    )
    assert fake.audience(group_id)["members"] == sorted(first + later)

    fake.advance_time(180 * 24 * 3600)
    assert call(fake, "GET", f"/v2/bot/audienceGroup/{group_id}").json()["audienceGroup"]["status"] == "EXPIRED"
    expired_add = call(
        fake, "PUT", "/v2/bot/audienceGroup/upload", {"audienceGroupId": group_id, "audiences": [{"id": later[0]}]}
    )
    assert expired_add.status_code == 400


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"audiences": []}, "AUDIENCE_GROUP_NAME_WRONG"),
        ({"description": "", "audiences": []}, "AUDIENCE_GROUP_NAME_WRONG"),
        ({"description": "x" * 121}, "AUDIENCE_GROUP_NAME_SIZE_OVER"),
        ({"description": "d", "audiences": [{"id": "not-a-user"}]}, "UPLOAD_AUDIENCE_GROUP_INVALID_AUDIENCE_ID_FORMAT"),
        (
            {"description": "d", "audiences": [{"id": "U" + "a" * 32}] * 10_001},
            "UPLOAD_AUDIENCE_GROUP_TOO_MANY_AUDIENCE_IDS",
        ),
    ],
)
def test_audience_upload_validation(fake: LineApiFake, body: dict[str, Any], code: str) -> None:
    response = call(fake, "POST", "/v2/bot/audienceGroup/upload", body)

    assert response.status_code == 400
    assert response.json()["details"][0]["message"] == code


def test_audience_upload_accepts_10000_ids_and_ifas(fake: LineApiFake) -> None:
    ids = [{"id": new_user_id()} for _ in range(10_000)]
    ifas = [{"id": str(uuid.uuid4())}]

    assert (
        call(fake, "POST", "/v2/bot/audienceGroup/upload", {"description": "big", "audiences": ids}).status_code == 202
    )
    ifa = call(
        fake, "POST", "/v2/bot/audienceGroup/upload", {"description": "ads", "isIfaAudience": True, "audiences": ifas}
    )
    assert ifa.status_code == 202
    assert ifa.json()["isIfaAudience"] is True


def test_audiences_are_private_to_their_channel_and_deletable(fake: LineApiFake) -> None:
    group_id = create_audience(fake, [new_user_id()])

    foreign_get = call(fake, "GET", f"/v2/bot/audienceGroup/{group_id}", token=OTHER_TOKEN)
    foreign_add = call(
        fake,
        "PUT",
        "/v2/bot/audienceGroup/upload",
        {"audienceGroupId": group_id, "audiences": [{"id": new_user_id()}]},
        token=OTHER_TOKEN,
    )
    empty_add = call(fake, "PUT", "/v2/bot/audienceGroup/upload", {"audienceGroupId": group_id, "audiences": []})

    assert foreign_get.status_code == 400
    assert foreign_get.json() == {
        "message": "audience group not found",
        "details": [{"message": "AUDIENCE_GROUP_NOT_FOUND"}],
    }
    assert foreign_add.status_code == 400
    assert empty_add.status_code == 400
    assert call(fake, "DELETE", f"/v2/bot/audienceGroup/{group_id}").status_code == 200
    assert call(fake, "GET", f"/v2/bot/audienceGroup/{group_id}").status_code == 400


# ---------------------------------------------------------------- inspection over HTTP


def test_fake_sent_and_reset_over_http(fake: LineApiFake) -> None:
    uid = new_user_id()
    push(fake, uid)
    call(fake, "POST", "/v2/bot/message/broadcast", {"messages": TEXT})

    everything = requests.get(fake.base_url + "/__fake__/sent", timeout=10).json()["sent"]
    pushes = requests.get(fake.base_url + "/__fake__/sent", params={"endpoint": "push"}, timeout=10).json()["sent"]

    assert [r["endpoint"] for r in everything] == ["push", "broadcast"]
    assert [r["recipients"] for r in pushes] == [[uid]]
    assert requests.post(fake.base_url + "/__fake__/reset", timeout=10).status_code == 200
    assert requests.get(fake.base_url + "/__fake__/sent", timeout=10).json() == {"sent": []}
    assert fake.consumption() == 0
    assert push(fake, uid).status_code == 200  # channels survive a plain reset

    requests.post(fake.base_url + "/__fake__/reset", json={"full": True}, timeout=10)
    assert push(fake, uid).status_code == 401


def test_seeding_over_http_for_an_out_of_process_demo(fake: LineApiFake) -> None:
    base, uid = fake.base_url, new_user_id()

    requests.post(base + "/__fake__/channels", json={"accessToken": "demo", "botUserId": BOT}, timeout=10)
    requests.post(base + "/__fake__/users", json={"userId": uid, "displayName": "Demo"}, timeout=10)
    id_token = requests.post(base + "/__fake__/id-tokens", json={"userId": uid, "channelId": "1"}, timeout=10).json()
    reply_token = requests.post(base + "/__fake__/reply-tokens", json={"userId": uid}, timeout=10).json()
    bad_user = requests.post(base + "/__fake__/users", json={"userId": "x", "displayName": "x"}, timeout=10)

    assert call(fake, "GET", f"/v2/bot/profile/{uid}", token="demo").json()["displayName"] == "Demo"
    assert verify(fake, id_token=id_token["idToken"], client_id="1").json()["sub"] == uid
    reply = call(
        fake, "POST", "/v2/bot/message/reply", {"replyToken": reply_token["replyToken"], "messages": TEXT}, token="demo"
    )
    assert reply.status_code == 200
    assert bad_user.status_code == 400
