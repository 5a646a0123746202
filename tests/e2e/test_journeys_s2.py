"""Scenario S2, cart abandonment, as a journey over HTTP on the local stack (Step Functions on the
virtual clock): `Product Added` (cart C1) by a LINE-bound member and no order within 30 minutes
→ one LINE reminder listing the cart's items; an order at minute 20 → the run exits and nothing
is sent; a second `Product Added` for the same cart → no second run. The dry run of the
definition answers the same paths without sending."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack, unique
from tests.e2e.journey_helpers import (
    admin,
    definition,
    ended,
    member_id_of,
    published_journey,
    report,
    runs,
    template,
    texts,
    waiting,
)
from tests.e2e.test_campaigns import member_on_line, taipei_at

# Journeys run on a local stack of their own (the other worker's): they are the longest e2e group.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-journeys")]

REMINDER = "您的購物車還在等您：{% for item in event.items %}{{ item.name }}×{{ item.quantity }}；{% endfor %}"


def _added(stack: Stack, member: str, cart: str, items: list[dict[str, Any]]) -> None:
    event = {
        "userId": member,
        "event": "Product Added",
        "properties": {"cart_id": cart, "product_id": items[-1]["sku"], "name": items[-1]["name"], "items": items},
        "context": {"channel": "web"},
    }
    assert stack.segment("track", event).status_code == 200


def _ordered(stack: Stack, member: str, cart: str, revenue: int) -> None:
    event = {
        "userId": member,
        "event": "Order Completed",
        "properties": {"cart_id": cart, "order_id": unique("o"), "revenue": revenue},
        "context": {"channel": "web"},
    }
    assert stack.segment("track", event).status_code == 200


def test_s2_an_abandoned_cart_gets_one_reminder_and_an_order_ends_the_run(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 14)
    ann_line, ann = member_on_line(stack, "Ann Wu")
    bob_line, bob = member_on_line(stack, "Bob Lee")
    ann_id, bob_id = member_id_of(stack, ann_line), member_id_of(stack, bob_line)
    reminder = template(stack, "cart-reminder", REMINDER)
    document = definition("s2-cart-abandonment", {"cart-reminder": reminder})
    cart_1, cart_2 = unique("C1"), unique("C2")
    dress = {"sku": "DRESS-7", "name": "碎花洋裝", "quantity": 1}
    scarf = {"sku": "SCARF-2", "name": "絲巾", "quantity": 2}

    with published_journey(stack, document) as journey_id:
        # Ann adds a dress to C1, then a scarf to the same cart: one run, keyed by the cart.
        _added(stack, ann_id, cart_1, [dress])
        first = waiting(stack, journey_id, ann, "wait_order")
        assert first["entry_key"] == cart_1 and first["waiting"]["kind"] == "event"
        assert first["waiting"]["event"] == "Order Completed"
        _added(stack, ann_id, cart_1, [dress, scarf])
        stack.drain()
        assert [run["run_id"] for run in runs(stack, journey_id, ann)] == [first["run_id"]]

        # Bob adds to C2 and orders at minute 20.
        _added(stack, bob_id, cart_2, [scarf])
        waiting(stack, journey_id, bob, "wait_order")
        stack.move_clock(advance="PT20M")
        _ordered(stack, bob_id, cart_2, 1280)
        bob_run = ended(stack, journey_id, bob)
        assert bob_run["exit_reason"] in ("exit_event", "completed")
        assert "remind" not in [step["node"] for step in bob_run["path"]]
        assert bob_run["converted_at"] is not None and bob_run["conversion_value"] == 1280

        # 30 minutes after Ann's entry, the reminder; nothing for Bob, ever.
        stack.move_clock(advance="PT11M")
        ann_run = ended(stack, journey_id, ann)
        assert ann_run["exit_reason"] == "completed" and ann_run["sent"] == {"remind": "sent"}
        assert [step["node"] for step in ann_run["path"]][-3:] == ["wait_order", "remind", "done"]
        delivered = texts(stack, ann_line)
        assert len(delivered) == 1
        assert "碎花洋裝×1" in delivered[0]  # the items of the entry event
        stack.move_clock(advance="PT1H")
        stack.drain()
        assert texts(stack, bob_line) == []
        assert len(texts(stack, ann_line)) == 1

        # The report: 2 runs, 1 reminder sent, 1 conversion with its value.
        figures = report(stack, journey_id)
        assert figures["runs"]["total"] == 2 and figures["runs"]["active"] == 0
        assert figures["nodes"]["wait_order"]["entered"] == 2
        assert figures["nodes"]["remind"]["entered"] == 1 and figures["nodes"]["remind"]["sent"] == 1
        assert figures["converted"] == 1 and figures["conversion_value"] == 1280
        assert figures["branches"]["wait_order"]["timed_out"]["runs"] == 1
        assert figures["branches"]["wait_order"]["timed_out"]["sent"] == 1

        # The timeline says where Ann went.
        timeline = admin(stack, "GET", f"/admin/v1/profiles/{ann}/timeline").json()
        names = {entry.get("event") for entry in timeline["events"]}
        assert {"Journey Entered", "Journey Exited"} <= names

        # A dry run of the definition for Ann answers both paths and sends nothing more.
        ordered = {"event": "Order Completed", "properties": {"cart_id": "C9", "revenue": 500}, "after": "PT20M"}
        body = {"profile_id": ann, "entry": {"event": "Product Added", "properties": {"cart_id": "C9"}}}
        dry = admin(stack, "POST", f"/admin/v1/journeys/{journey_id}/test", {**body, "events": [ordered]})
        assert dry.status_code == 200, dry.text
        assert dry.json()["sends"] == [] and dry.json()["exit_reason"] == "exit_event"
        assert dry.json()["conversion"]["converted"] is True
        dry = admin(stack, "POST", f"/admin/v1/journeys/{journey_id}/test", body)
        assert dry.status_code == 200, dry.text
        sends = dry.json()["sends"]
        assert [(s["node"], s["template_id"]) for s in sends] == [("remind", reminder)]
        assert dry.json()["path"][0]["branch"] == "timed_out"
        stack.drain()
        assert len(texts(stack, ann_line)) == 1


def test_the_test_route_refuses_bad_input(stack: Stack) -> None:
    reminder = template(stack, "cart-reminder", REMINDER)
    with published_journey(stack, definition("s2-cart-abandonment", {"cart-reminder": reminder})) as journey_id:
        path = f"/admin/v1/journeys/{journey_id}/test"
        late = {"profile_id": "nobody", "events": [{"event": "Order Completed", "after": "soon"}]}
        answer = admin(stack, "POST", path, late)
        assert answer.status_code in (400, 404), answer.text
        assert answer.json()["error"] in ("invalid_test_events", "profile_not_found")
        _, someone = member_on_line(stack, "Cy Tsai")
        answer = admin(stack, "POST", path, {**late, "profile_id": someone})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_test_events", answer.text
        answer = admin(stack, "POST", path, {"profile_id": someone, "surprise": 1})
        assert answer.status_code == 400 and answer.json()["error"] == "unknown_test_field", answer.text
        missing = admin(stack, "GET", f"/admin/v1/journeys/{unique('nope').lower()}/report")
        assert missing.status_code == 404 and missing.json()["error"] == "journey_not_found"
