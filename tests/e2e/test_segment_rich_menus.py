"""Seed 002's rich menu per segment over HTTP on the local stack: a "book a test ride" rich menu
linked to a segment reaches a LINE friend who enters it (LINE's per-user link on the fake), and
the default menu comes back when they leave; a friend already in the segment when the menu is
linked gets it from the full resync."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, now_ms, unique
from tests.fixtures import line_events

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LINE_TOKEN = {"Authorization": "Bearer local-dev-access-token"}  # the stack's channel (infra/local/config.py)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MENU = {
    "size": {"width": 2500, "height": 843},
    "selected": True,
    "name": "test ride",
    "chatBarText": "預約試乘",
    "areas": [{"bounds": {"x": 0, "y": 0, "width": 2500, "height": 843}, "action": {"type": "uri", "uri": "https://example.com/ride"}}],
}  # fmt: skip
WAIT_SECONDS = 30


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS)


def _rich_menu(line_api_url: str) -> str:
    """A rich menu with its image, made on the stack's LINE fake as an operator would on LINE."""
    created = requests.post(f"{line_api_url}/v2/bot/richmenu", json=MENU, headers=LINE_TOKEN, timeout=30)
    assert created.status_code == 200, created.text
    menu: str = created.json()["richMenuId"]
    image = requests.post(
        f"{line_api_url}/v2/bot/richmenu/{menu}/content",
        data=PNG,
        headers={**LINE_TOKEN, "Content-Type": "image/png"},
        timeout=30,
    )
    assert image.status_code == 200, image.text
    return menu


def _menu_of(stack: Stack, user: str) -> str | None:
    response = stack.http.get(stack.url("/_local/line/rich-menus"), params={"user": user}, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    menu: str | None = body.get("richMenuId", body.get("rich_menu_id"))
    return menu


def _default_menu(stack: Stack) -> str | None:
    """The channel's default menu (what a user without a link of their own sees)."""
    response = stack.http.get(stack.url("/_local/line/rich-menus"), timeout=30)
    assert response.status_code == 200, response.text
    default: str | None = response.json()["default"]
    return default


def _wait_for_menu(stack: Stack, user: str, expected: str | None) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while _menu_of(stack, user) != expected:
        assert time.monotonic() < deadline, f"{user} sees {_menu_of(stack, user)}, not {expected}"
        time.sleep(0.2)


def _friend(stack: Stack, seed: str) -> tuple[str, str]:
    user = line_events.user_id(seed)
    follow = line_events.follow(source=line_events.user_source(user), timestamp=now_ms(), replyable=False)
    assert stack.line([follow]).status_code == 200
    stack.drain()
    return user, stack.lookup("line", user)["profile_id"]


def _tag(stack: Stack, profile_id: str, **change: list[str]) -> None:
    response = _admin(stack, "POST", f"/admin/v1/profiles/{profile_id}/tags", change)
    assert response.status_code == 202, response.text  # recorded as an event, folded by the processor


def test_a_segments_rich_menu_follows_its_members(stack: Stack, line_api_url: str) -> None:
    run = unique("ride")
    tag = f"wants:{run}"
    segment_id = unique("test-riders")
    created = _admin(
        stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": "預約試乘", "rule": {"tag": {"name": tag}}}
    )
    assert created.status_code == 201, created.text
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s

    early, early_profile = _friend(stack, f"{run}-early")
    _tag(stack, early_profile, add=[tag])
    stack.drain()

    menu = _rich_menu(line_api_url)
    default = _default_menu(stack)
    missing = _admin(
        stack, "PUT", f"/admin/v1/segments/{segment_id}/rich-menu", {"rich_menu_id": "richmenu-" + "0" * 32}
    )
    assert (missing.status_code, missing.json()["error"]) == (404, "rich_menu_not_found")
    bad = _admin(stack, "PUT", f"/admin/v1/segments/{segment_id}/rich-menu", {"rich_menu_id": "menu"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_rich_menu_id")
    unknown = _admin(stack, "PUT", f"/admin/v1/segments/{unique('nope')}/rich-menu", {"rich_menu_id": menu})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "segment_not_found")

    linked = _admin(stack, "PUT", f"/admin/v1/segments/{segment_id}/rich-menu", {"rich_menu_id": menu})
    assert linked.status_code == 202, linked.text
    assert _admin(stack, "GET", f"/admin/v1/segments/{segment_id}/rich-menu").json()["rich_menu_id"] == menu
    _wait_for_menu(stack, early, menu)  # the resync reached the member who was already in

    # A friend enters: the menu reaches them; they leave: the default comes back.
    amy, amy_profile = _friend(stack, f"{run}-amy")
    assert _menu_of(stack, amy) == default
    _tag(stack, amy_profile, add=[tag])
    _wait_for_menu(stack, amy, menu)
    _tag(stack, amy_profile, remove=[tag])
    _wait_for_menu(stack, amy, default)
    assert _menu_of(stack, early) == menu

    # Unlinking the segment's menu gives its members the default back.
    released = _admin(stack, "DELETE", f"/admin/v1/segments/{segment_id}/rich-menu")
    assert released.status_code == 202, released.text
    _wait_for_menu(stack, early, default)
    gone = _admin(stack, "GET", f"/admin/v1/segments/{segment_id}/rich-menu")
    assert (gone.status_code, gone.json()["error"]) == (404, "rich_menu_not_linked")
