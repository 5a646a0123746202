"""A template rendered for a LINE friend on moto, its tracked link clicked: the click lands on the
friend's timeline naming the message (campaign, message, template version), as the send point
will render it (TemplateRenderer over DynamoDB, TrackedLinkMinter with the link store)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.templates import DynamoTemplateStore
from cdp.messaging.templates.context import profile_context
from cdp.messaging.templates.links import TrackedLinkMinter, people_from_profiles
from cdp.messaging.templates.renderer import TemplateRenderer

from tests.fakes import FixedClock
from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import LINE_CHANNEL, RawStream, Stack, api_event, response_json
from tests.integration.test_links import ADMIN, PUBLIC_BASE, SIGNING_KEY, admin, click, clicks_of, links_stack
from tests.unit.builders import NOW_ISO

__all__ = ["links_stack"]  # the fixture, shared with test_links


def _follow(stack: Stack, user: str) -> None:
    body, signature = signed_delivery(
        CHANNEL_SECRET, [line_events.follow(source=line_events.user_source(user), timestamp=BASE_TIMESTAMP_MS)]
    )
    webhook = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert stack.invoke("line_webhook", webhook)["statusCode"] == 200


def _lookup(stack: Stack, user: str) -> dict[str, Any]:
    response = admin(stack, "GET", "/admin/v1/profiles/lookup", type="line", value=user)
    assert response["statusCode"] == 200, response
    return response_json(response)  # type: ignore[no-any-return]


def test_a_rendered_message_link_is_the_friends_click_on_that_message(
    links_stack: Stack, raw_stream: RawStream
) -> None:
    stack = links_stack
    user = line_events.user_id("template-click")
    _follow(stack, user)
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}
    body = {"id": "spring-push", "name": "Spring", "line": {"messages": [
        {"type": "text", "text": "New in for spring: https://shop.example.com/spring"}]}}  # fmt: skip
    created = stack.invoke("admin_api", api_event("POST", "/admin/v1/templates", headers=ADMIN, body=json.dumps(body)))
    assert created["statusCode"] == 201, created

    # The send point's renderer for one friend, with the message's ids
    dynamodb = stack.client("dynamodb")
    profiles = DynamoProfileStore(dynamodb, stack.core_table)
    minter = TrackedLinkMinter(
        DynamoLinkStore(dynamodb, stack.core_table),
        base_url=PUBLIC_BASE,
        clock=FixedClock(),
        signing_key=lambda: SIGNING_KEY.encode(),
        person_of=people_from_profiles(profiles),
    )
    renderer = TemplateRenderer(DynamoTemplateStore(dynamodb, stack.core_table), minter)
    profile = profiles.get(_lookup(stack, user)["profile_id"])
    assert profile is not None
    context = profile_context(profile, now=NOW_ISO, link_attribution={"campaign_id": "spring", "message_id": "msg-1"})
    rendered = renderer.render(template_id="spring-push", version=None, channel="line", context=context)
    (code,) = rendered.link_codes
    url = (rendered.line_messages or [{}])[0]["text"].removeprefix("New in for spring: ")
    assert url.startswith(f"{PUBLIC_BASE}/r/{code}?u=")

    # The friend clicks it
    token = parse_qs(urlsplit(url).query)["u"][0]
    answer = click(stack, code, query={"u": token})
    assert answer["statusCode"] == 302
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}

    (clicked,) = [e for e in _lookup(stack, user)["events"] if e.get("event") == "Link Clicked"]
    properties = clicked["properties"]
    assert properties["url"] == "https://shop.example.com/spring" and properties["link_code"] == code
    assert (properties["campaign_id"], properties["message_id"]) == ("spring", "msg-1")
    assert (properties["template_id"], properties["template_version"]) == ("spring-push", "1")
    assert clicks_of(stack, code) == {"total": 1, "known": 1, "anonymous": 0}
