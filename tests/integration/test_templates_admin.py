"""Template admin routes through the admin_api handler on moto: create, versions, archive, preview."""

from __future__ import annotations

import json
from typing import Any

from tests.integration.conftest import ADMIN_TOKEN, RawStream, Stack, api_event, response_json
from tests.integration.test_event_processor import ingest, process, profiles

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
ONE = "/admin/v1/templates/{id}"
RENDER = "/admin/v1/templates/{id}/render"
SIZE_GUIDE: dict[str, Any] = {
    "id": "size-guide",
    "name": "尺寸表",
    "line": {
        "messages": [
            {
                "type": "text",
                "text": "{{ traits.first_name | default: '您好' }}，尺寸表在 https://shop.example.com/size",
            },
            {"type": "sticker", "packageId": "446", "stickerId": "1988"},
        ]
    },
    "sms": {"text": "尺寸表 https://shop.example.com/size"},
}


def call(
    stack: Stack, method: str, path: str, body: Any = None, *, resource: str | None = None, query: Any = None
) -> tuple[int, Any]:
    event = api_event(
        method,
        path,
        resource=resource,
        headers=BEARER,
        body=json.dumps(body, ensure_ascii=False) if body is not None else None,
        query=query,
    )
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def test_templates_are_created_versioned_read_and_archived(stack: Stack) -> None:
    status, created = call(stack, "POST", "/admin/v1/templates", SIZE_GUIDE)
    assert status == 201, created
    assert (created["id"], created["latest_version"], created["channels"]) == ("size-guide", 1, ["line", "sms"])
    assert created["version"]["content"]["line"] == SIZE_GUIDE["line"]
    status, error = call(stack, "POST", "/admin/v1/templates", SIZE_GUIDE)
    assert (status, error["error"]) == (409, "template_exists")

    status, error = call(
        stack, "PUT", "/admin/v1/templates/size-guide", {"sms": {"text": "v2"}, "version": 2}, resource=ONE
    )
    assert (status, error["error"], error["details"]) == (409, "template_version_conflict", {"latest_version": 1})
    status, updated = call(
        stack,
        "PUT",
        "/admin/v1/templates/size-guide",
        {"sms": {"text": "v2 {{ profile.id }}"}, "version": 1},
        resource=ONE,
    )
    assert status == 200 and updated["latest_version"] == 2, updated
    assert updated["version"]["content"]["line"] == SIZE_GUIDE["line"]  # carried over
    assert updated["version"]["content"]["sms"] == {"text": "v2 {{ profile.id }}"}
    status, renamed = call(
        stack, "PUT", "/admin/v1/templates/size-guide", {"name": "Size guide", "version": 2}, resource=ONE
    )
    assert status == 200 and renamed["latest_version"] == 2 and renamed["name"] == "Size guide"
    status, dropped = call(stack, "PUT", "/admin/v1/templates/size-guide", {"sms": None, "version": 2}, resource=ONE)
    assert status == 200 and dropped["channels"] == ["line"] and dropped["latest_version"] == 3

    status, newest = call(stack, "GET", "/admin/v1/templates/size-guide", resource=ONE)
    assert status == 200 and newest["version"]["version"] == 3
    assert [v["version"] for v in newest["versions"]] == [1, 2, 3]
    status, first = call(stack, "GET", "/admin/v1/templates/size-guide", resource=ONE, query={"version": "1"})
    assert status == 200 and first["version"]["content"]["sms"] == SIZE_GUIDE["sms"]
    status, error = call(stack, "GET", "/admin/v1/templates/size-guide", resource=ONE, query={"version": "9"})
    assert (status, error["error"]) == (404, "template_version_not_found")
    status, error = call(stack, "GET", "/admin/v1/templates/nope", resource=ONE)
    assert (status, error["error"]) == (404, "template_not_found")

    status, archived = call(stack, "DELETE", "/admin/v1/templates/size-guide", resource=ONE)
    assert status == 200 and archived["status"] == "archived" and archived["archived_at"]
    status, again = call(stack, "DELETE", "/admin/v1/templates/size-guide", resource=ONE)
    assert status == 200 and again == archived
    status, error = call(stack, "PUT", "/admin/v1/templates/size-guide", {"name": "x", "version": 3}, resource=ONE)
    assert (status, error["error"]) == (409, "template_archived")
    status, still = call(stack, "GET", "/admin/v1/templates/size-guide", resource=ONE, query={"version": "2"})
    assert status == 200 and still["status"] == "archived"
    _status, listed = call(stack, "GET", "/admin/v1/templates", query={"status": "archived"})
    assert [t["id"] for t in listed["templates"]] == ["size-guide"]
    _status, active = call(stack, "GET", "/admin/v1/templates", query={"status": "active"})
    assert active["templates"] == []

    restore = "/admin/v1/templates/{id}/restore"
    status, restored = call(stack, "POST", "/admin/v1/templates/size-guide/restore", resource=restore)
    assert status == 200 and restored["status"] == "active" and restored["archived_at"] is None
    assert restored["latest_version"] == 3
    status, again = call(stack, "POST", "/admin/v1/templates/size-guide/restore", resource=restore)
    assert status == 200 and again == restored
    status, renamed = call(
        stack, "PUT", "/admin/v1/templates/size-guide", {"name": "Sizes", "version": 3}, resource=ONE
    )
    assert status == 200 and renamed["name"] == "Sizes"
    status, error = call(stack, "POST", "/admin/v1/templates/nope/restore", resource=restore)
    assert (status, error["error"]) == (404, "template_not_found")


def test_invalid_content_is_400_invalid_template_with_the_pointer(stack: Stack) -> None:
    bad = {"name": "x", "line": {"messages": [{"type": "text", "text": "ok"}, {"type": "flex", "altText": "x", "contents": {
        "type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text"}]}}}]}}  # fmt: skip
    status, error = call(stack, "POST", "/admin/v1/templates", bad)
    assert (status, error["error"]) == (400, "invalid_template")
    assert error["details"]["pointer"] == "/line/messages/1/contents/body/contents/0"
    assert error["message"].startswith("/line/messages/1/contents/body/contents/0: ")
    status, error = call(stack, "POST", "/admin/v1/templates", {"name": "x", "sms": {"text": "{{ traits.a | shout }}"}})
    assert (status, error["details"]["pointer"]) == (400, "/sms/text")
    status, error = call(stack, "POST", "/admin/v1/templates", {"name": "x"})
    assert (status, error["error"]) == (400, "invalid_template")
    status, error = call(stack, "POST", "/admin/v1/templates", {"id": "Not A Slug", "name": "x", "sms": {"text": "a"}})
    assert (status, error["error"]) == (400, "invalid_template_id")
    status, error = call(stack, "POST", "/admin/v1/templates", {"name": "x", "sms": {"text": "a"}, "colour": 1})
    assert (status, error["error"]) == (400, "unknown_template_field")


def test_preview_renders_for_a_stored_profile_or_sample_data_without_minting(
    stack: Stack, raw_stream: RawStream
) -> None:
    call(stack, "POST", "/admin/v1/templates", SIZE_GUIDE)
    identify = {"type": "identify", "userId": "M-AMY", "messageId": "crm-amy", "traits": {"first_name": "Amy"}}
    ingest(stack, [identify])
    assert process(stack, raw_stream.new_records()) == []
    (profile_id,) = profiles(stack)

    status, preview = call(
        stack, "POST", "/admin/v1/templates/size-guide/render", {"profile_id": profile_id}, resource=RENDER
    )
    assert status == 200 and preview["preview"] is True and preview["failures"] == {}
    line = preview["channels"]["line"]
    assert line["messages"][0]["text"] == "Amy，尺寸表在 https://shop.example.com/size"  # the URL as written
    assert line["links"] == ["https://shop.example.com/size"]
    assert preview["channels"]["sms"]["segments"] == 1 and preview["channels"]["sms"]["encoding"] == "ucs2"
    links = [item for item in stack.scan(stack.core_table) if item["pk"]["S"].startswith("LINK#")]
    assert links == []  # a preview mints nothing

    status, sample = call(
        stack, "POST", "/admin/v1/templates/size-guide/render", {"sample": {}, "channel": "line"}, resource=RENDER
    )
    assert status == 200 and sample["channels"]["line"]["messages"][0]["text"].startswith("您好，")
    strict = {"id": "strict", "name": "s", "sms": {"text": "Hi {{ traits.first_name }}"}}
    call(stack, "POST", "/admin/v1/templates", strict)
    status, failed = call(
        stack, "POST", "/admin/v1/templates/strict/render", {"sample": {"traits": {}}}, resource=RENDER
    )
    assert status == 200 and failed["channels"] == {} and failed["failures"]["sms"]["reason"] == "missing_data"
    status, error = call(stack, "POST", "/admin/v1/templates/strict/render", {"profile_id": "nobody"}, resource=RENDER)
    assert (status, error["error"]) == (404, "profile_not_found")
    status, error = call(stack, "POST", "/admin/v1/templates/strict/render", {"channel": "line"}, resource=RENDER)
    assert (status, error["error"]) == (404, "template_channel_missing")
