"""Data for the browser tests, made through the real APIs the way the POS, the web shop and LINE do.

Scenario S1's Amy: the store's POS knows her by phone (and records an order), the web shop by her
email (she browses, then logs in), and she is a LINE friend whose account the shop links to her
membership: one person, three channels. Every run makes up its own ids, so the shared stack's other
tests never see her.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import requests

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, now_ms, unique
from tests.fixtures.line_events import follow, text_message, user_id, user_source

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STORE = {"channel": "pos"}
WEB = {"channel": "web"}


@dataclass(frozen=True, slots=True)
class Person:
    profile_id: str
    member_id: str
    name: str
    phone: str  # as the POS typed it: 0912-xxx-xxx
    phone_e164: str
    email: str
    line_user: str


def random_mobile() -> tuple[str, str]:
    digits = f"{secrets.randbelow(10**6):06d}"
    return f"0912-{digits[:3]}-{digits[3:]}", f"+886912{digits}"


def _ok(response: requests.Response, what: str) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), f"{what}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def admin_post(stack: Stack, path: str, body: Any) -> dict[str, Any]:
    return _ok(stack.http.post(stack.url(path), json=body, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS), path)


def admin_get(stack: Stack, path: str, **params: Any) -> dict[str, Any]:
    response = stack.http.get(stack.url(path), params=params, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS)
    return _ok(response, path)


def seed_amy(stack: Stack) -> Person:
    """S1 steps 1-4: POS phone + order, web email + browsing, LINE friend, account link."""
    member = unique("M1")
    phone, phone_e164 = random_mobile()
    email = f"{unique('amy')}@example.com"
    browser = unique("browser")
    line_user = user_id(unique("s1-u1"))

    # In store: the POS identifies her by phone and records a NT$5,000 purchase
    identify = {"userId": member, "traits": {"name": "Amy Chen", "phone": phone}, "context": STORE}
    _ok(stack.segment("identify", identify), "POS identify")
    order = {
        "userId": member,
        "event": "Order Completed",
        "properties": {"order_id": unique("POS"), "revenue": 5000, "currency": "TWD"},
        "context": STORE,
    }
    _ok(stack.segment("track", order), "POS order")
    # The web shop: anonymous browsing, then a login with her email
    browsing = [
        {"type": "page", "anonymousId": browser, "name": "New Arrivals", "context": WEB},
        {
            "type": "track",
            "anonymousId": browser,
            "event": "Product Viewed",
            "properties": {"sku": "DRESS-7"},
            "context": WEB,
        },
    ]
    _ok(stack.segment("batch", {"batch": browsing}), "web browsing")
    stack.drain()
    login = {"userId": member, "anonymousId": browser, "traits": {"email": email}, "context": WEB}
    _ok(stack.segment("identify", login), "web login")
    # LINE: she adds the official account as a friend and says hello
    start = now_ms()
    events = [follow(source=user_source(line_user), timestamp=start)]
    events.append(text_message("請問有新品嗎？", source=user_source(line_user), timestamp=start + 1500))
    assert stack.line(events).status_code == 200
    stack.drain()
    # The shop links her LINE account to her membership (LINE's accountLink webhook)
    issued = admin_post(stack, "/admin/v1/line/link-token", {"lineUserId": line_user, "memberId": member})
    line_api = stack.drain()["line_api_url"]
    linked: dict[str, Any] = requests.post(
        f"{line_api}/__fake__/account-link",
        json={"linkToken": issued["linkToken"], "nonce": issued["nonce"]},
        timeout=HTTP_TIMEOUT_SECONDS,
    ).json()
    assert stack.line([linked]).status_code == 200
    stack.drain()
    profile = stack.lookup("phone", phone_e164)
    assert stack.lookup("line", line_user)["profile_id"] == profile["profile_id"], "the LINE friend was not merged"
    return Person(
        profile_id=profile["profile_id"],
        member_id=member,
        name="Amy Chen",
        phone=phone,
        phone_e164=phone_e164,
        email=email,
        line_user=line_user,
    )


def tag(stack: Stack, profile_id: str, *tags: str) -> None:
    """Tags through the admin API (applied asynchronously: drain before reading)."""
    admin_post(stack, f"/admin/v1/profiles/{profile_id}/tags", {"add": list(tags)})


def member(stack: Stack, name: str) -> str:
    """A store member known by phone only: their profile id."""
    member_id = unique("M")
    identify = {"userId": member_id, "traits": {"name": name, "phone": random_mobile()[0]}, "context": STORE}
    _ok(stack.segment("identify", identify), "POS identify")
    stack.drain()
    return str(stack.lookup("member_id", member_id)["profile_id"])
