"""Tracked source links and QR codes over HTTP on the local stack (SCENARIOS S5, S1 step 6).

A store poster's QR code tags whoever follows it with the store as their acquisition source, and
the tag stays with the person once they identify; a personal link in a LINE message attributes
the click to that LINE friend and counts as LINE engagement. The redirect answers 302 itself:
the client never follows it here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, now_ms, unique
from tests.fixtures import line_events

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return stack.http.request(
        method, stack.url(path), json=body, params=params or None, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS
    )


def follow(url: str, **headers: str) -> requests.Response:
    """One request, the redirect not followed: what a browser receives first."""
    return requests.get(url, allow_redirects=False, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)


def test_a_store_qr_code_tags_the_visitor_with_the_store_and_the_tag_follows_them_when_they_identify(
    stack: Stack,
) -> None:
    code, store = unique("poster"), unique("store-taipei-101").lower()
    created = admin(
        stack,
        "POST",
        "/admin/v1/links",
        {
            "code": code,
            "url": "https://shop.example.com/new?utm_medium=qr",
            "src": "poster",
            "tags": ["interest:denim"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["public_url"] == stack.url(f"/r/{code}")
    taken = admin(stack, "POST", "/admin/v1/links", {"code": code, "url": "https://x.example", "src": "x"})
    assert (taken.status_code, taken.json()["error"]) == (409, "link_code_taken")
    qr = admin(stack, "GET", f"/admin/v1/links/{code}/qr.svg", src=store)
    assert qr.status_code == 200 and qr.headers["Content-Type"] == "image/svg+xml"
    assert qr.headers["X-Link-Url"] == stack.url(f"/r/{code}?src={store}") and "<svg" in qr.text

    # A visitor scans the store's QR code
    scanned = follow(qr.headers["X-Link-Url"], Accept="text/html")
    assert scanned.status_code == 302, scanned.text
    location = urlsplit(scanned.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://shop.example.com/new"
    params = parse_qs(location.query)
    assert params["utm_medium"] == ["qr"]
    (anonymous_id,) = params["cdp_aid"]
    assert scanned.cookies.get("cdp_aid") == anonymous_id
    stack.drain()

    visitor = stack.lookup("anonymous_id", anonymous_id)
    assert {tag: entry["source"] for tag, entry in visitor["tags"].items()} == {
        f"source:{store}": "link",
        "interest:denim": "link",
    }
    assert visitor["computed_traits"]["line_engagement"]["clicks"] == 0  # not from LINE
    assert admin(stack, "GET", f"/admin/v1/links/{code}").json()["clicks"] == {"total": 1, "known": 0, "anonymous": 1}

    # The brand's site adopts the id from `cdp_aid`; a later login joins the click to the member
    member = unique("M")
    identify = {"type": "identify", "userId": member, "anonymousId": anonymous_id, "timestamp": "2026-01-01T00:00:00Z"}
    assert stack.segment("identify", identify).status_code == 200
    stack.drain()
    assert f"source:{store}" in stack.lookup("member_id", member)["tags"]


def test_a_personal_link_in_a_line_message_is_the_friends_click(stack: Stack) -> None:
    user = line_events.user_id(unique("link-friend"))
    assert stack.line([line_events.follow(source=line_events.user_source(user), timestamp=now_ms())]).status_code == 200
    stack.drain()
    friend = stack.lookup("line", user)
    assert friend["computed_traits"]["line_engagement"]["clicks"] == 0

    code = unique("vip-preview")
    created = admin(
        stack,
        "POST",
        "/admin/v1/links",
        {
            "code": code,
            "url": "https://shop.example.com/vip",
            "src": "line-push",
            "campaign": "vip-preview",
            "tags": ["campaign:vip-preview"],
        },
    )
    assert created.status_code == 201, created.text
    personal = admin(
        stack, "POST", f"/admin/v1/links/{code}/personal", {"profile_id": friend["profile_id"], "channel": "line"}
    )
    assert personal.status_code == 200, personal.text
    assert personal.json()["identifier_type"] == "line"

    clicked = follow(personal.json()["url"])
    assert clicked.status_code == 302 and clicked.headers["Location"].startswith(
        "https://shop.example.com/vip?cdp_aid="
    )
    # a forged token is still a redirect, recorded as an anonymous click
    forged = follow(stack.url(f"/r/{code}?u=v1.Zm9yZ2Vk.AAAA"))
    assert forged.status_code == 302
    stack.drain()

    friend = stack.lookup("line", user)
    assert {tag: entry["source"] for tag, entry in friend["tags"].items()} == {
        "source:line-push": "link",
        "campaign:vip-preview": "link",
    }
    engagement = friend["computed_traits"]["line_engagement"]
    assert engagement["clicks"] == 1 and engagement["last_click_at"] is not None
    assert admin(stack, "GET", f"/admin/v1/links/{code}").json()["clicks"] == {"total": 2, "known": 1, "anonymous": 1}


def test_an_unknown_code_is_a_404_with_a_reason(stack: Stack) -> None:
    missing = follow(stack.url(f"/r/{unique('nope')}"))
    assert (missing.status_code, missing.json()["error"]) == (404, "link_not_found")
    page = follow(stack.url("/r/nope-nope"), Accept="text/html")
    assert page.status_code == 404 and 'data-error="link_not_found"' in page.text
    no_token = stack.http.get(stack.url("/admin/v1/links/nope-nope"), timeout=HTTP_TIMEOUT_SECONDS)
    assert no_token.status_code == 401
