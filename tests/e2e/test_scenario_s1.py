"""Scenario S1 (衣著A), steps 1-3: store, web and LINE data about one customer, over HTTP.

1. The POS identifies member M1 with phone 0912-345-678 and sends an `Order Completed` of NT$5,000.
2. On the web the same person browses anonymously, then logs in as M1 with amy@example.com.
3. LINE user U1 follows the OA: a new, still anonymous LINE profile.
Steps 4-6 (account link, journeys, segments) are not in the product yet.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LINE_CHANNEL, Stack, event_names, identifier_values, now_ms, unique
from tests.fixtures.line_events import follow, text_message, user_id, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

MEMBER = "M1"
PHONE = "0912-345-678"
PHONE_E164 = "+886912345678"
EMAIL = "amy@example.com"
STORE = {"channel": "pos"}


def test_s1_store_web_and_line_data_about_one_customer(stack: Stack) -> None:
    browser = unique("browser")
    u1 = user_id(unique("s1-u1"))
    order_id = unique("POS-20261123")

    # 1. In store: the POS identifies M1 with her phone and records a NT$5,000 purchase
    pos_identify = {"userId": MEMBER, "traits": {"name": "Amy Chen", "phone": PHONE}, "context": STORE}
    assert stack.segment("identify", pos_identify).status_code == 200
    order = {
        "userId": MEMBER,
        "event": "Order Completed",
        "properties": {
            "order_id": order_id,
            "revenue": 5000,
            "currency": "TWD",
            "store_id": "store-taipei-101",
            "products": [{"sku": "COAT-01", "name": "羊毛大衣", "price": 5000, "quantity": 1}],
        },
        "context": STORE,
    }
    assert stack.segment("track", order).status_code == 200

    # 2. Web: anonymous browsing, then a login as M1 with her email (mixed case, padded, as typed)
    browsing = [
        {"type": "page", "anonymousId": browser, "name": "New Arrivals"},
        {"type": "track", "anonymousId": browser, "event": "Product Viewed", "properties": {"sku": "DRESS-7"}},
    ]
    assert stack.segment("batch", {"batch": browsing}).json()["accepted"] == 2
    login = {"userId": MEMBER, "anonymousId": browser, "traits": {"email": " Amy@Example.com "}}
    assert stack.segment("identify", login).status_code == 200
    stack.drain()

    # 3. LINE: U1 adds the OA as a friend and asks a question
    start = now_ms()
    followed = stack.line(
        [
            follow(source=user_source(u1), timestamp=start),
            text_message("請問有新品嗎？", source=user_source(u1), timestamp=start + 1500),
        ]
    )
    assert followed.status_code == 200, followed.text
    stack.drain()

    # Then phone (in local format), email (in any case) and member id find one and the same profile
    amy = stack.lookup("phone", PHONE)
    assert stack.lookup("email", "AMY@example.com")["profile_id"] == amy["profile_id"]
    assert stack.lookup("member_id", MEMBER)["profile_id"] == amy["profile_id"]
    assert stack.lookup("phone", PHONE_E164)["profile_id"] == amy["profile_id"]
    identifiers = identifier_values(amy)
    assert identifiers["member_id"] == [MEMBER]
    assert identifiers["phone"] == [PHONE_E164]
    assert identifiers["email"] == [EMAIL]
    assert "line" not in identifiers
    # with her traits, normalised
    assert amy["traits"]["name"] == "Amy Chen"
    assert amy["traits"]["phone"] == PHONE_E164
    assert amy["traits"]["email"] == EMAIL
    # bought in store and logged in on the web: omnichannel
    assert amy["stats"]["channels"] == {"pos": 2, "web": 1}
    assert amy["stats"]["channel_mix"] == "omnichannel"
    # with the purchase on her timeline
    purchases = [entry for entry in amy["events"] if entry.get("event") == "Order Completed"]
    assert len(purchases) == 1
    assert purchases[0]["channel"] == "pos"
    assert purchases[0]["properties"]["revenue"] == 5000
    assert purchases[0]["properties"]["order_id"] == order_id
    assert purchases[0]["properties"]["products"][0]["sku"] == "COAT-01"
    # and not yet tied to LINE (account linking, step 4, is what joins them)
    assert amy["line"]["status"] == "never_followed"

    # And the LINE user is a separate, anonymous profile who is a friend of the OA
    friend = stack.lookup("line", u1)
    assert friend["profile_id"] != amy["profile_id"]
    assert identifier_values(friend) == {"line": [f"{LINE_CHANNEL}:{u1}"]}
    assert friend["line"]["status"] == "friend"
    assert friend["stats"]["channel_mix"] is None
    assert event_names(friend) == ["LINE Message Received", "LINE Followed"]
    assert friend["events"][0]["properties"]["text"] == "請問有新品嗎？"
    assert stack.lookup("line", f"{LINE_CHANNEL}:{u1}")["profile_id"] == friend["profile_id"]

    # And the anonymous browsing stays on the visitor's profile (merging it is future work)
    visitor = stack.lookup("anonymous_id", browser)
    assert sorted(event_names(visitor)) == ["Product Viewed", "Viewed New Arrivals"]
