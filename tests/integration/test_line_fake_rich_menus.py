"""The LINE API fake's rich menus, rate limits, shared clock and monthly count, over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from infra.local.clock import LocalClock
from infra.local.line_fake import LineApiFake, new_user_id

TOKEN = "rich-menu-token"
BOT = "U" + "d" * 32
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MENU = {
    "size": {"width": 2500, "height": 843},
    "selected": True,
    "name": "test ride",
    "chatBarText": "預約試乘",
    "areas": [{"bounds": {"x": 0, "y": 0, "width": 2500, "height": 843}, "action": {"type": "uri", "uri": "https://example.com/ride"}}],
}  # fmt: skip


@pytest.fixture
def fake() -> Iterator[LineApiFake]:
    with LineApiFake() as server:
        server.register_channel(TOKEN, BOT)
        yield server


def call(fake: LineApiFake, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
    kwargs.setdefault("timeout", 10)
    return requests.request(method, fake.base_url + path, json=body, headers=headers, **kwargs)


def menu_with_image(fake: LineApiFake) -> str:
    created = call(fake, "POST", "/v2/bot/richmenu", MENU)
    assert created.status_code == 200, created.text
    rich_menu_id: str = created.json()["richMenuId"]
    uploaded = call(
        fake, "POST", f"/v2/bot/richmenu/{rich_menu_id}/content", data=PNG, headers={"Content-Type": "image/png"}
    )
    assert uploaded.status_code == 200, uploaded.text
    return rich_menu_id


def test_a_rich_menu_is_linked_per_user_and_unlinking_falls_back_to_the_default(fake: LineApiFake) -> None:
    menu, default = menu_with_image(fake), menu_with_image(fake)
    amy, bob = new_user_id(), new_user_id()
    assert call(fake, "POST", f"/v2/bot/user/all/richmenu/{default}").status_code == 200
    assert call(fake, "POST", f"/v2/bot/user/{amy}/richmenu/{menu}").status_code == 200

    assert call(fake, "GET", f"/v2/bot/user/{amy}/richmenu").json() == {"richMenuId": menu}
    assert call(fake, "GET", "/v2/bot/user/all/richmenu").json() == {"richMenuId": default}
    no_link = call(fake, "GET", f"/v2/bot/user/{bob}/richmenu")
    assert no_link.status_code == 404  # LINE does not report the default as a user's menu
    assert (fake.rich_menu_of(amy), fake.rich_menu_of(bob)) == (menu, default)

    assert call(fake, "DELETE", f"/v2/bot/user/{amy}/richmenu").status_code == 200
    assert fake.rich_menu_of(amy) == default
    assert call(fake, "DELETE", "/v2/bot/user/all/richmenu").status_code == 200
    assert fake.rich_menu_of(amy) is None


def test_bulk_link_and_unlink_take_up_to_500_users(fake: LineApiFake) -> None:
    menu = menu_with_image(fake)
    users = [new_user_id() for _ in range(500)]
    linked = call(fake, "POST", "/v2/bot/richmenu/bulk/link", {"richMenuId": menu, "userIds": users})
    assert linked.status_code == 202
    assert {fake.rich_menu_of(u) for u in users} == {menu}

    too_many = call(
        fake, "POST", "/v2/bot/richmenu/bulk/link", {"richMenuId": menu, "userIds": [*users, new_user_id()]}
    )
    assert too_many.status_code == 400 and too_many.json()["details"][0]["property"] == "userIds"
    bad_id = call(fake, "POST", "/v2/bot/richmenu/bulk/unlink", {"userIds": [users[0], "Uxyz"]})
    assert bad_id.status_code == 400 and bad_id.json()["details"] == [
        {"message": "Invalid user ID", "property": "userIds[1]"}
    ]
    assert fake.rich_menu_of(users[0]) == menu  # a rejected request changes nothing

    assert call(fake, "POST", "/v2/bot/richmenu/bulk/unlink", {"userIds": users[:300]}).status_code == 202
    assert sum(fake.rich_menu_of(u) == menu for u in users) == 200


def test_a_rich_menu_without_its_image_or_unknown_cannot_be_applied(fake: LineApiFake) -> None:
    bare = call(fake, "POST", "/v2/bot/richmenu", MENU).json()["richMenuId"]
    user = new_user_id()
    for path in (f"/v2/bot/user/{user}/richmenu/{bare}", f"/v2/bot/user/all/richmenu/{bare}"):
        assert call(fake, "POST", path).status_code == 400
    bulk = call(fake, "POST", "/v2/bot/richmenu/bulk/link", {"richMenuId": bare, "userIds": [user]})
    assert bulk.status_code == 400
    assert call(fake, "POST", f"/v2/bot/user/{user}/richmenu/richmenu-{'0' * 32}").status_code == 404
    assert fake.rich_menu_of(user) is None


def test_rich_menu_objects_and_images_are_validated(fake: LineApiFake) -> None:
    bad = {**MENU, "size": {"width": 2500, "height": 2000}, "chatBarText": "x" * 15, "areas": []}
    answer = call(fake, "POST", "/v2/bot/richmenu", bad)
    assert answer.status_code == 400
    assert {d["property"] for d in answer.json()["details"]} == {"size", "chatBarText", "areas"}
    assert call(fake, "POST", "/v2/bot/richmenu/validate", MENU).status_code == 200
    menu = call(fake, "POST", "/v2/bot/richmenu", MENU).json()["richMenuId"]
    content = f"/v2/bot/richmenu/{menu}/content"
    assert call(fake, "POST", content, data=b"GIF89a", headers={"Content-Type": "image/gif"}).status_code == 415
    assert call(fake, "POST", content, data=PNG, headers={"Content-Type": "image/png"}).status_code == 200
    assert call(fake, "POST", content, data=PNG, headers={"Content-Type": "image/png"}).status_code == 400  # once
    downloaded = call(fake, "GET", content)
    assert (downloaded.content, downloaded.headers["Content-Type"]) == (PNG, "image/png")


def test_deleting_a_rich_menu_unlinks_its_users(fake: LineApiFake) -> None:
    menu, user = menu_with_image(fake), new_user_id()
    call(fake, "POST", f"/v2/bot/user/{user}/richmenu/{menu}")
    call(fake, "POST", f"/v2/bot/user/all/richmenu/{menu}")
    assert [m["richMenuId"] for m in call(fake, "GET", "/v2/bot/richmenu/list").json()["richmenus"]] == [menu]
    assert call(fake, "DELETE", f"/v2/bot/richmenu/{menu}").status_code == 200
    assert fake.rich_menu_of(user) is None and call(fake, "GET", f"/v2/bot/richmenu/{menu}").status_code == 404


def test_a_rate_limit_answers_429_past_n_requests_a_second_per_operation(fake: LineApiFake) -> None:
    fake.set_rate_limit("push", 3)
    user = new_user_id()
    statuses = [
        call(
            fake, "POST", "/v2/bot/message/push", {"to": user, "messages": [{"type": "text", "text": "hi"}]}
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    assert len(fake.sent()) == 3
    multicast = call(
        fake, "POST", "/v2/bot/message/multicast", {"to": [user], "messages": [{"type": "text", "text": "hi"}]}
    )
    assert multicast.status_code == 200  # another operation, another budget
    fake.set_rate_limit("push", None)
    assert call(fake, "POST", "/v2/bot/message/push", {"to": user, "messages": [{"type": "text", "text": "hi"}]}).ok


def test_a_shared_clock_ages_reply_tokens_and_retry_keys_for_everyone_who_reads_it() -> None:
    clock = LocalClock()
    with LineApiFake(clock=clock) as fake:
        fake.register_channel(TOKEN, BOT)
        user, key = new_user_id(), str(uuid.uuid4())
        token = fake.issue_reply_token(user, BOT)
        body = {"to": user, "messages": [{"type": "text", "text": "hi"}]}
        assert call(fake, "POST", "/v2/bot/message/push", body, headers={"X-Line-Retry-Key": key}).status_code == 200
        clock.advance(timedelta(seconds=61))  # the stack's clock moves: the fake sees it
        reply = call(fake, "POST", "/v2/bot/message/reply", {"replyToken": token, "messages": body["messages"]})
        assert reply.status_code == 400 and reply.json() == {"message": "Invalid reply token"}
        assert call(fake, "POST", "/v2/bot/message/push", body, headers={"X-Line-Retry-Key": key}).status_code == 409
        fake.advance_time(24 * 3600)  # and the fake's own advance moves the shared clock
        assert clock.offset == pytest.approx(24 * 3600 + 61)
        assert call(fake, "POST", "/v2/bot/message/push", body, headers={"X-Line-Retry-Key": key}).status_code == 200
        fake.reset()
        assert clock.virtual  # the fake does not reset a clock it does not own


def test_the_control_routes_set_quota_rate_limits_and_show_rich_menus(fake: LineApiFake) -> None:
    menu, user = menu_with_image(fake), new_user_id()
    call(fake, "POST", f"/v2/bot/user/{user}/richmenu/{menu}")
    assert fake.control("GET", "rich-menus", {"user": user}, b"") == (200, {"userId": user, "richMenuId": menu})
    status, state = fake.control("GET", "rich-menus", {}, b"")
    assert status == 200 and state["links"] == {user: menu} and state["richMenus"][0]["imageUploaded"] is True

    assert fake.control("POST", "quota", {}, b'{"limit": 1}')[0] == 200
    body = {"to": [user, new_user_id()], "messages": [{"type": "text", "text": "hi"}]}
    over = call(fake, "POST", "/v2/bot/message/multicast", body)
    assert (over.status_code, over.json()) == (429, {"message": "You have reached your monthly limit."})
    assert fake.control("POST", "quota", {}, b'{"limit": -1}')[0] == 400
    assert fake.control("POST", "rate-limit", {}, b'{"operation": "multicast", "perSecond": 0}')[0] == 200
    fake.set_quota(None)
    assert call(fake, "POST", "/v2/bot/message/multicast", body).status_code == 429


def test_the_monthly_count_starts_again_at_midnight_jst_on_the_first() -> None:
    clock = LocalClock()
    clock.set(datetime(2027, 1, 31, 23, 59, 0, tzinfo=ZoneInfo("Asia/Tokyo")))
    with LineApiFake(clock=clock, monthly_quota=2) as fake:
        fake.register_channel(TOKEN, BOT)
        body = {"to": [new_user_id(), new_user_id()], "messages": [{"type": "text", "text": "hi"}]}
        assert call(fake, "POST", "/v2/bot/message/multicast", body).status_code == 200
        assert call(fake, "POST", "/v2/bot/message/multicast", body).status_code == 429
        clock.advance(timedelta(minutes=1))  # February, in Tokyo
        assert call(fake, "GET", "/v2/bot/message/quota/consumption").json() == {"totalUsage": 0}
        assert call(fake, "POST", "/v2/bot/message/multicast", body).status_code == 200
        assert fake.consumption() == 2


def test_a_slow_answer_is_delivered_once_and_the_retry_after_a_client_timeout_gets_409(fake: LineApiFake) -> None:
    user, key = new_user_id(), str(uuid.uuid4())
    body = {"to": user, "messages": [{"type": "text", "text": "hi"}]}
    fake.slow_next(1, seconds=1.0)
    with pytest.raises(requests.Timeout):
        call(fake, "POST", "/v2/bot/message/push", body, headers={"X-Line-Retry-Key": key}, timeout=0.3)
    retry = call(fake, "POST", "/v2/bot/message/push", body, headers={"X-Line-Retry-Key": key})
    assert retry.status_code == 409 and retry.headers["x-line-accepted-request-id"]
    assert len(fake.sent(to=user)) == 1


def test_quick_replies_hold_1_to_13_items_each_with_an_action(fake: LineApiFake) -> None:
    item = {"type": "action", "action": {"type": "message", "label": "S", "text": "S"}}
    user = new_user_id()

    def push(quick_reply: Any) -> requests.Response:
        message = {"type": "text", "text": "尺寸？", "quickReply": quick_reply}
        return call(fake, "POST", "/v2/bot/message/push", {"to": user, "messages": [message]})

    assert push({"items": [item] * 13}).status_code == 200
    too_many = push({"items": [item] * 14})
    assert too_many.status_code == 400
    assert too_many.json()["details"][0]["property"] == "messages[0].quickReply.items"
    no_action = push({"items": [{"type": "action"}]})
    assert no_action.json()["details"][0]["property"] == "messages[0].quickReply.items[0].action"
    assert len(fake.sent()) == 1
