"""Scenario S1 (衣著A), steps 1-4, over HTTP against the local stack (Step Functions included).

1. The POS identifies member M1 with her phone and sends an `Order Completed` of NT$5,000.
2. On the web she browses anonymously, then logs in as M1 with her email: the browsing joins M1.
3. LINE user U1 follows the OA: a new, still anonymous LINE profile.
4. The shop issues an account link for U1 and M1; LINE's `accountLink` webhook carries the
   nonce back and the LINE profile is merged into M1's: one person with all four identifiers.
Then the merge is undone through the admin API, and stays undone.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, LINE_CHANNEL, Stack, event_names, identifier_values, now_ms, unique
from tests.fixtures.line_events import follow, text_message, user_id, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

STORE = {"channel": "pos"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _phone() -> tuple[str, str]:
    digits = f"{random.randrange(10**8):08d}"
    return f"09{digits[:2]}-{digits[2:5]}-{digits[5:]}", f"+8869{digits}"


def _post(stack: Stack, path: str, body: dict[str, Any]) -> requests.Response:
    return stack.http.post(stack.url(path), json=body, headers=ADMIN, timeout=30)


def _link(stack: Stack, line_user: str, member: str) -> dict[str, Any]:
    """The brand's site asks for a link; the user confirms in LINE; LINE posts the webhook."""
    issued = _post(stack, "/admin/v1/line/link-token", {"lineUserId": line_user, "memberId": member})
    assert issued.status_code in (200, 201), issued.text
    token = issued.json()
    assert token["url"].startswith("https://access.line.me/dialog/bot/accountLink?linkToken=")
    line_api = stack.drain()["line_api_url"]
    event: dict[str, Any] = requests.post(
        f"{line_api}/__fake__/account-link", json={"linkToken": token["linkToken"], "nonce": token["nonce"]}, timeout=10
    ).json()
    return event


def test_s1_steps_1_to_4_make_one_customer_and_the_merge_can_be_undone(stack: Stack) -> None:
    member = unique("M1")
    phone, phone_e164 = _phone()
    email = f"{unique('amy')}@example.com"
    browser = unique("browser")
    u1 = user_id(unique("s1-u1"))
    order_id = unique("POS-20261123")

    # 1. In store: the POS identifies M1 with her phone and records a NT$5,000 purchase
    assert stack.segment("identify", {"userId": member, "traits": {"name": "Amy Chen", "phone": phone}, "context": STORE}).status_code == 200  # fmt: skip
    order = {
        "userId": member,
        "event": "Order Completed",
        "properties": {"order_id": order_id, "revenue": 5000, "currency": "TWD", "store_id": "store-taipei-101"},
        "context": STORE,
    }
    assert stack.segment("track", order).status_code == 200
    stack.drain()

    # 2. Web: anonymous browsing, then a login as M1 with her email (mixed case, padded, as typed)
    browsing = [
        {"type": "page", "anonymousId": browser, "name": "New Arrivals"},
        {"type": "track", "anonymousId": browser, "event": "Product Viewed", "properties": {"sku": "DRESS-7"}},
    ]
    assert stack.segment("batch", {"batch": browsing}).json()["accepted"] == 2
    stack.drain()
    login = {"userId": member, "anonymousId": browser, "traits": {"email": f" {email.upper()} "}}
    assert stack.segment("identify", login).status_code == 200
    stack.drain()

    # Then the pre-login browsing joined M1 (a merge on Step Functions), found by any of her ids
    amy = stack.lookup("member_id", member)
    assert stack.lookup("anonymous_id", browser)["profile_id"] == amy["profile_id"]
    assert stack.lookup("phone", phone)["profile_id"] == amy["profile_id"]
    assert stack.lookup("email", email)["profile_id"] == amy["profile_id"]
    assert {"Product Viewed", "Viewed New Arrivals", "Order Completed"} <= set(event_names(amy))

    # 3. LINE: U1 adds the OA as a friend and asks a question: a separate, anonymous profile
    start = now_ms()
    followed = stack.line(
        [
            follow(source=user_source(u1), timestamp=start),
            text_message("請問有新品嗎？", source=user_source(u1), timestamp=start + 1500),
        ]
    )
    assert followed.status_code == 200, followed.text
    stack.drain()
    friend = stack.lookup("line", u1)
    assert friend["profile_id"] != amy["profile_id"]
    assert friend["line"]["status"] == "friend"

    # 4. Account link: the nonce comes back in LINE's webhook and binds U1 to M1
    linked = _link(stack, u1, member)
    assert linked["link"]["result"] == "ok"
    assert stack.line([linked]).status_code == 200
    stack.drain()

    # Then one profile has all four identifiers, the purchase, both channels and the LINE friendship
    amy = stack.lookup("line", u1)
    assert stack.lookup("member_id", member)["profile_id"] == amy["profile_id"]
    ids = identifier_values(amy)
    assert ids["member_id"] == [member]
    assert ids["phone"] == [phone_e164]
    assert ids["email"] == [email]
    assert ids["line"] == [f"{LINE_CHANNEL}:{u1}"]
    assert ids["anonymous_id"] == [browser]
    assert amy["stats"]["channel_mix"] == "omnichannel"
    assert amy["orders"] == {
        "count": 1,
        "revenue": {"TWD": 5000.0},
        "first_order_at": amy["orders"]["first_order_at"],
        "last_order_at": amy["orders"]["last_order_at"],
    }
    assert amy["line"]["status"] == "friend"
    assert {"LINE Followed", "LINE Message Received", "LINE Account Linked", "Order Completed"} <= set(event_names(amy))
    merges = stack.http.get(stack.url(f"/admin/v1/profiles/{amy['profile_id']}/merges"), headers=ADMIN).json()["merges"]
    assert len(merges) == 2  # the pre-login browser, then the LINE friend
    assert friend["profile_id"] in {m["loser"] for m in merges}
    assert all(m["status"] == "merged" for m in merges)
    line_merge = next(m for m in merges if m["loser"] == friend["profile_id"])
    assert line_merge["events_moved"] == 2
    merged_events = [
        e for e in stack.published("profile.merged") if e["detail"]["data"]["mergeId"] == line_merge["merge_id"]
    ]
    assert len(merged_events) == 1

    # And a second event re-using the nonce is stored on her timeline but binds nothing
    reused = {**linked, "webhookEventId": linked["webhookEventId"][:-4] + "ZZZZ"}
    assert stack.line([reused]).status_code == 200
    stack.drain()
    rejected = [
        e
        for e in stack.lookup("line", u1)["events"]
        if e.get("properties", {}).get("linkRejectedReason") == "already_used"
    ]
    assert len(rejected) == 1

    # When the LINE merge is undone
    undo = _post(stack, f"/admin/v1/profiles/{amy['profile_id']}/unmerge", {"mergeId": line_merge["merge_id"]})
    assert undo.status_code == 202, undo.text
    stack.drain()

    # Then the LINE profile is back on its own with what it had, and M1 keeps the rest
    ledger = stack.http.get(stack.url(f"/admin/v1/merges/{line_merge['merge_id']}"), headers=ADMIN).json()
    assert ledger["status"] == "unmerged"
    restored = stack.lookup("line", u1)
    assert restored["profile_id"] == friend["profile_id"]
    assert identifier_values(restored)["line"] == [f"{LINE_CHANNEL}:{u1}"]
    assert "LINE Followed" in event_names(restored)
    member_profile = stack.lookup("member_id", member)
    assert "line" not in identifier_values(member_profile)
    assert member_profile["orders"]["count"] == 1
    assert [e for e in stack.published("profile.unmerged") if e["detail"]["data"]["mergeId"] == line_merge["merge_id"]]
