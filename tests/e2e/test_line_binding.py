"""LINE account link and LINE Login binding over HTTP, against the local stack and its LINE API fake.

The brand's server calls the admin API; the user's side (LINE's account-link dialog, LINE Login)
is played by the fake's control routes, and LINE's webhook by a signed POST, as LINE would send it.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
import requests

from infra.local.config import LocalConfig
from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, LINE_CHANNEL, Stack, identifier_values, unique
from tests.fixtures.line_events import user_id

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

LOGIN_CHANNEL_ID = LocalConfig.from_env().line_login_channel_id  # what the stack subprocess puts in its secret


def admin_post(stack: Stack, path: str, body: Any, *, token: str | None = ADMIN_TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return stack.http.post(stack.url(path), json=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)


def fake(line_api_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{line_api_url}/__fake__/{path}", json=body, timeout=HTTP_TIMEOUT_SECONDS)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_account_link_from_link_token_to_an_accepted_webhook(stack: Stack, line_api_url: str) -> None:
    u1, member = user_id(unique("link-u1")), unique("M")

    # The brand's site asks for a link for U1 while member M is logged in
    issued = admin_post(stack, "/admin/v1/line/link-token", {"lineUserId": u1, "memberId": member})
    assert issued.status_code == 201, issued.text
    link = issued.json()
    url = urllib.parse.urlsplit(link["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://access.line.me/dialog/bot/accountLink"
    assert urllib.parse.parse_qs(url.query) == {"linkToken": [link["linkToken"]], "nonce": [link["nonce"]]}

    # LINE issued that link token for U1
    tokens = requests.get(f"{line_api_url}/__fake__/link-tokens", timeout=HTTP_TIMEOUT_SECONDS).json()["linkTokens"]
    assert {"link_token": link["linkToken"], "user_id": u1}.items() <= next(
        t for t in tokens if t["link_token"] == link["linkToken"]
    ).items()

    # U1 opens the URL and LINE sends the accountLink webhook carrying our nonce
    event = fake(line_api_url, "account-link", {"linkToken": link["linkToken"], "nonce": link["nonce"]})
    assert event["link"] == {"result": "ok", "nonce": link["nonce"]}
    assert event["source"] == {"type": "user", "userId": u1}
    delivered = stack.line([event])
    assert delivered.status_code == 200, delivered.text
    assert delivered.json() == {"stored": 1, "duplicates": 0}
    assert stack.line([event]).json() == {"stored": 0, "duplicates": 1}  # LINE's redelivery is stored once
    # (turning the stored event into the U1 <-> M binding is the event processor's, through AccountLinks)

    # The link token is single use: LINE fails a second attempt
    again = fake(line_api_url, "account-link", {"linkToken": link["linkToken"], "nonce": link["nonce"]})
    assert again["link"]["result"] == "failed"
    assert "source" not in again


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"memberId": "M1"}, "missing_line_user_id"),
        ({"lineUserId": "U1234", "memberId": "M1"}, "invalid_line_user_id"),
        ({"lineUserId": "U" + "0" * 32}, "missing_member_id"),
        ({"lineUserId": "U" + "0" * 32, "memberId": "M1", "channel": "nope"}, "unknown_channel"),
    ],
)
def test_link_token_refuses_bad_input_with_a_code(stack: Stack, body: dict[str, Any], code: str) -> None:
    response = admin_post(stack, "/admin/v1/line/link-token", body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code


@pytest.mark.parametrize("path", ["/admin/v1/line/link-token", "/admin/v1/line/login"])
def test_line_routes_need_the_admin_token(stack: Stack, path: str) -> None:
    response = admin_post(stack, path, {"lineUserId": "U" + "0" * 32, "memberId": "M1"}, token="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_admin_token"


def test_line_login_binds_the_line_user_to_the_member_profile(stack: Stack, line_api_url: str) -> None:
    u1, member = user_id(unique("login-u1")), unique("M")
    id_token = fake(line_api_url, "id-tokens", {"userId": u1, "channelId": LOGIN_CHANNEL_ID, "name": "Amy"})["idToken"]

    # The brand's site posts the LINE Login ID token of its logged-in member
    bound = admin_post(stack, "/admin/v1/line/login", {"idToken": id_token, "memberId": member})
    assert bound.status_code == 200, bound.text
    body = bound.json()
    assert (body["lineUserId"], body["memberId"]) == (u1, member)
    assert body["eventId"].startswith("partner#line-login#")
    # Posting the same login again is the same event, not a second binding
    assert admin_post(stack, "/admin/v1/line/login", {"idToken": id_token, "memberId": member}).json() == body
    stack.drain()

    # The member's profile now carries the provider-scoped LINE identifier, and LINE finds the same profile
    profile = stack.lookup("member_id", member)
    assert identifier_values(profile)["line"] == [f"{LINE_CHANNEL}:{u1}"]
    assert stack.lookup("line", f"{LINE_CHANNEL}:{u1}")["profile_id"] == profile["profile_id"]
    assert stack.lookup("line", u1)["profile_id"] == profile["profile_id"]  # the default provider


def test_line_login_refuses_a_token_of_another_channel(stack: Stack, line_api_url: str) -> None:
    member = unique("M")
    id_token = fake(line_api_url, "id-tokens", {"userId": user_id(unique("u")), "channelId": "1659999999"})["idToken"]

    response = admin_post(stack, "/admin/v1/line/login", {"idToken": id_token, "memberId": member})

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_id_token"
    stack.drain()
    stack.assert_no_profile("member_id", member)


def test_line_login_refuses_a_forged_token(stack: Stack) -> None:
    response = admin_post(stack, "/admin/v1/line/login", {"idToken": "a.b.c", "memberId": unique("M")})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_id_token"
    assert "Invalid IdToken" in response.json()["message"]
