"""Auto-replies on moto: configured through the admin_api handler (templates checked on save),
and the event processor handing each reply to the message sender through Lambda's asynchronous
Invoke, after its commit, once per LINE event and again (same send key) on a stream replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cdp.messaging.request import SendRequest

from infra.local.lambda_service import LocalLambdaService, install
from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import ADMIN_TOKEN, LINE_CHANNEL, RawStream, Stack, api_event, response_json

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


class HandedOver(LocalLambdaService):
    """Lambda's Invoke on moto, keeping what asynchronous invokes carried instead of running them."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.payloads: list[tuple[str, dict[str, Any]]] = []

    def start_async(self, folder: str, payload: dict[str, Any]) -> None:
        self.payloads.append((folder, payload))


@pytest.fixture
def invokes(stack: Stack) -> Iterator[HandedOver]:
    service = HandedOver(stack.runtime, stack.resources.function_arns)
    undo = install(service)
    yield service
    undo()


def call(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    event = api_event(method, path, headers=BEARER, body=json.dumps(body) if body is not None else None)
    response = stack.invoke("admin_api", event)
    return response["statusCode"], response_json(response)


def template(stack: Stack, template_id: str, text: str) -> None:
    body = {"id": template_id, "name": template_id, "line": {"messages": [{"type": "text", "text": text}]}}
    status, created = call(stack, "POST", "/admin/v1/templates", body)
    assert status == 201, created


def deliver(stack: Stack, events: list[dict[str, Any]]) -> None:
    body, signature = signed_delivery(CHANNEL_SECRET, events)
    webhook = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert stack.invoke("line_webhook", webhook)["statusCode"] == 200


def test_configuration_is_checked_on_save(stack: Stack) -> None:
    assert call(stack, "GET", "/admin/v1/auto-replies") == (200, {"channels": {}, "version": 0})
    greeting = {"channels": {LINE_CHANNEL: {"greeting": {"template_id": "welcome"}}}, "version": 0}
    status, error = call(stack, "PUT", "/admin/v1/auto-replies", greeting)
    assert (status, error["error"]) == (404, "template_not_found")
    status, error = call(stack, "PUT", "/admin/v1/auto-replies", {"channels": {LINE_CHANNEL: []}, "version": 0})
    assert (status, error["error"]) == (400, "invalid_auto_replies")
    status, error = call(stack, "PUT", "/admin/v1/auto-replies", {"greeting": {}, "version": 0})
    assert (status, error["error"]) == (400, "invalid_auto_replies")

    body = {"id": "email-only", "name": "e", "email": {"subject": "s", "text": "t"}}
    assert call(stack, "POST", "/admin/v1/templates", body)[0] == 201
    no_line = {"channels": {LINE_CHANNEL: {"fallback": {"template_id": "email-only"}}}, "version": 0}
    status, error = call(stack, "PUT", "/admin/v1/auto-replies", no_line)
    assert (status, error["error"]) == (400, "template_not_for_line")

    template(stack, "welcome", "歡迎")
    status, stored = call(stack, "PUT", "/admin/v1/auto-replies", greeting)
    assert status == 200, stored
    assert stored == {
        "channels": {
            LINE_CHANNEL: {
                "greeting": {"template_id": "welcome", "purpose": "transactional", "fallback_to_push": True},
                "fallback": None,
            }
        },
        "version": 1,
    }
    status, error = call(stack, "PUT", "/admin/v1/auto-replies", greeting)  # version 0 is stale
    assert (status, error["error"]) == (409, "rules_version_conflict")


def test_the_processor_hands_replies_to_the_sender_once_per_event_and_again_on_replay(
    stack: Stack, raw_stream: RawStream, invokes: HandedOver
) -> None:
    template(stack, "size-guide", "尺寸表")
    template(stack, "welcome", "歡迎")
    rules = {"keywords": [{"keyword": "尺寸", "tag": "asked:size", "reply": {"template_id": "size-guide"}}]}
    assert call(stack, "PUT", "/admin/v1/tags/rules", {**rules, "version": 0})[0] == 200
    replies = {"channels": {LINE_CHANNEL: {"greeting": {"template_id": "welcome"}}}, "version": 0}
    assert call(stack, "PUT", "/admin/v1/auto-replies", replies)[0] == 200

    source = line_events.user_source(line_events.user_id("auto-reply"))
    events = [
        line_events.follow(source=source, timestamp=BASE_TIMESTAMP_MS),
        line_events.text_message("尺寸?", source=source, timestamp=BASE_TIMESTAMP_MS + 1000),
        line_events.text_message("你好", source=source, timestamp=BASE_TIMESTAMP_MS + 2000),  # no fallback set
    ]
    deliver(stack, events)
    deliver(stack, [{**events[1], "deliveryContext": {"isRedelivery": True}}])  # stored once: no new record
    records = raw_stream.new_records()
    assert len(records) == 3
    assert stack.invoke("event_processor", {"Records": records}) == {"batchItemFailures": []}

    handed = [(folder, SendRequest.model_validate(r)) for folder, p in invokes.payloads for r in p["requests"]]
    assert [(folder, r.template_id, r.reply_token) for folder, r in handed] == [
        ("message_sender", "welcome", events[0]["replyToken"]),
        ("message_sender", "size-guide", events[1]["replyToken"]),
    ]
    assert handed[1][1].send_key == f"auto-reply:line#{LINE_CHANNEL}#{events[1]['webhookEventId']}"

    # A stream replay hands the same requests over again: the send key makes them no-ops.
    assert stack.invoke("event_processor", {"Records": records}) == {"batchItemFailures": []}
    keys = [r["send_key"] for _, p in invokes.payloads for r in p["requests"]]
    assert keys == [keys[0], keys[1], keys[0], keys[1]]

    # The reply token is on no item of the core table (timeline, profile, markers).
    core = str(stack.scan(stack.core_table))
    assert events[1]["replyToken"] not in core and events[0]["replyToken"] not in core
