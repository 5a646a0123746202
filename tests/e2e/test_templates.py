"""Message templates over HTTP on the local stack: create, version, preview for a real profile,
archive, and bad content answered 400 `invalid_template` with the JSON pointer."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, Stack, unique

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return stack.http.request(
        method, stack.url(path), json=body, params=params or None, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS
    )


def coupon(template_id: str) -> dict[str, Any]:
    return {
        "id": template_id,
        "name": "首購優惠",
        "line": {
            "messages": [
                {
                    "type": "flex",
                    "altText": "{{ traits.first_name | default: '您' }}的首購優惠",
                    "contents": {
                        "type": "bubble",
                        "body": {
                            "type": "box",
                            "layout": "vertical",
                            "contents": [
                                {
                                    "type": "text",
                                    "text": "Hi {{ traits.first_name | default: 'there' }}",
                                    "weight": "bold",
                                },
                                {
                                    "type": "text",
                                    "text": "{% if tags contains 'vip' %}VIP {% endif %}NT$200 off",
                                    "wrap": True,
                                },
                                {
                                    "type": "button",
                                    "style": "primary",
                                    "action": {"type": "uri", "label": "Shop", "uri": "https://shop.example.com/first"},
                                },
                            ],
                        },
                    },
                }
            ]
        },
        "email": {
            "subject": "{{ traits.first_name | default: 'Hello' }}, NT$200 off",
            "html": '<p>Hi {{ traits.first_name | default: "there" }}</p><a href="https://shop.example.com/first">Shop</a>',
        },
        "sms": {"text": "首購優惠 NT$200：https://shop.example.com/first"},
    }


def test_a_template_is_created_versioned_previewed_and_archived(stack: Stack) -> None:
    template_id = unique("coupon").lower()
    created = admin(stack, "POST", "/admin/v1/templates", coupon(template_id))
    assert created.status_code == 201, created.text
    assert created.json()["channels"] == ["line", "email", "sms"] and created.json()["latest_version"] == 1

    # A second version changes the SMS only; version 1 stays as it was.
    updated = admin(
        stack,
        "PUT",
        f"/admin/v1/templates/{template_id}",
        {"sms": {"text": "NT$200 off: https://shop.example.com/first"}, "version": 1},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["latest_version"] == 2
    first = admin(stack, "GET", f"/admin/v1/templates/{template_id}", version="1").json()
    assert first["version"]["content"]["sms"]["text"].startswith("首購優惠")
    stale = admin(stack, "PUT", f"/admin/v1/templates/{template_id}", {"name": "x", "version": 1})
    assert (stale.status_code, stale.json()["error"]) == (409, "template_version_conflict")

    # Preview for a real person: her traits and tags, URLs as written, nothing minted.
    member = unique("member")
    identify = {"userId": member, "traits": {"first_name": "Amy"}}
    assert stack.segment("identify", identify).status_code == 200
    stack.drain()
    profile_id = stack.lookup("member_id", member)["profile_id"]
    tagged = admin(stack, "POST", f"/admin/v1/profiles/{profile_id}/tags", {"add": ["vip"]})
    assert tagged.status_code == 202, tagged.text
    stack.drain()
    preview = admin(stack, "POST", f"/admin/v1/templates/{template_id}/render", {"profile_id": profile_id})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["preview"] is True and body["version"] == 2 and body["failures"] == {}
    flex = body["channels"]["line"]["messages"][0]
    assert flex["altText"] == "Amy的首購優惠"
    contents = flex["contents"]["body"]["contents"]
    assert contents[0]["text"] == "Hi Amy" and contents[1]["text"] == "VIP NT$200 off"
    assert contents[2]["action"]["uri"] == "https://shop.example.com/first"
    assert body["channels"]["line"]["links"] == ["https://shop.example.com/first"]
    assert body["channels"]["email"]["subject"] == "Amy, NT$200 off"
    assert body["channels"]["sms"] == {
        "text": "NT$200 off: https://shop.example.com/first",
        "segments": 1,
        "encoding": "gsm7",
        "links": ["https://shop.example.com/first"],
    }
    pinned = admin(
        stack, "POST", f"/admin/v1/templates/{template_id}/render", {"version": 1, "channel": "sms", "sample": {}}
    )
    assert pinned.json()["channels"]["sms"]["encoding"] == "ucs2"

    archived = admin(stack, "DELETE", f"/admin/v1/templates/{template_id}")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    listed = admin(stack, "GET", "/admin/v1/templates", status="archived").json()["templates"]
    assert template_id in {t["id"] for t in listed}
    assert admin(stack, "GET", f"/admin/v1/templates/{template_id}", version="2").status_code == 200
    restored = admin(stack, "POST", f"/admin/v1/templates/{template_id}/restore")
    assert restored.status_code == 200 and restored.json()["status"] == "active"
    admin(stack, "DELETE", f"/admin/v1/templates/{template_id}")


def test_invalid_line_content_is_refused_with_its_pointer(stack: Stack) -> None:
    bad = coupon(unique("bad").lower())
    # A flex button whose URI action lost its `uri`, and an unknown message type after it.
    bad["line"]["messages"][0]["contents"]["body"]["contents"][2]["action"] = {"type": "uri", "label": "Shop"}
    refused = admin(stack, "POST", "/admin/v1/templates", bad)
    assert refused.status_code == 400, refused.text
    error = refused.json()
    assert error["error"] == "invalid_template"
    assert error["details"]["pointer"] == "/line/messages/0/contents/body/contents/2/action"
    assert "`uri` is required" in error["message"] and error["request_id"]

    bad["line"]["messages"] = [{"type": "text", "text": "hi"}, {"type": "carousel", "text": "x"}]
    refused = admin(stack, "POST", "/admin/v1/templates", bad)
    assert refused.json()["details"]["pointer"] == "/line/messages/1/type"
    bad["line"]["messages"] = [{"type": "text"}]
    refused = admin(stack, "POST", "/admin/v1/templates", bad)
    assert (refused.status_code, refused.json()["details"]["pointer"]) == (400, "/line/messages/0")
    missing = admin(stack, "GET", f"/admin/v1/templates/{unique('none').lower()}")
    assert (missing.status_code, missing.json()["error"]) == (404, "template_not_found")
