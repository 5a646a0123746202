"""`/_local/line/<name>`: the stack's routes onto the LINE fake's control API, in the stack's error shape."""

from __future__ import annotations

import json

import requests

from infra.local.line_fake import CONTROL_ROUTES, LineApiFake, new_user_id
from infra.local.line_routes import LineFakeRoutes


def test_every_control_route_is_served_and_answers_like_the_fake() -> None:
    with LineApiFake() as fake:
        fake.register_channel("token", "U" + "e" * 32)
        routes = LineFakeRoutes(fake).routes()
        assert set(routes) == {(method, f"/_local/line/{name}") for method, name in CONTROL_ROUTES}
        user = new_user_id()
        status, answer = routes[("POST", "/_local/line/reply-tokens")]("", {}, json.dumps({"userId": user}).encode())
        assert status == 200 and answer["replyToken"]
        assert routes[("GET", "/_local/line/sent")]("", {"to": user}, b"") == (200, {"sent": []})
        status, error = routes[("POST", "/_local/line/quota")]("", {}, b'{"limit": "many"}')
        assert status == 400 and error["error"] == "invalid_line_fake_request" and "limit" in error["message"]
        status, error = routes[("POST", "/_local/line/blocks")]("", {}, b"{}")  # no userId
        assert status == 400 and error["error"] == "invalid_line_fake_request"


def test_without_the_fake_every_route_says_so() -> None:
    routes = LineFakeRoutes(None, "https://api.line.me").routes()
    for route in routes.values():
        status, answer = route("", {}, b"")
        assert status == 404 and answer["error"] == "line_fake_not_running"
        assert "https://api.line.me" in answer["message"]


def test_a_full_reset_keeps_the_stacks_channel() -> None:
    with LineApiFake() as fake:
        registered: list[str] = []

        def register() -> None:
            fake.register_channel("token", "U" + "e" * 32)
            registered.append("again")

        register()
        routes = LineFakeRoutes(fake, after_reset=register).routes()
        assert routes[("POST", "/_local/line/reset")]("", {"full": "1"}, b"")[0] == 200
        assert registered == ["again", "again"]
        pushed = requests.post(
            f"{fake.base_url}/v2/bot/message/push",
            json={"to": new_user_id(), "messages": [{"type": "text", "text": "hi"}]},
            headers={"Authorization": "Bearer token"},
            timeout=10,
        )
        assert pushed.status_code == 200  # the channel's token still works
