"""S5's replies over HTTP on the local stack: a LINE text containing 尺寸 gets the size guide
through LINE's reply API and is tagged `asked:size`; a follow gets the greeting; a text nothing
matches gets the fallback; a redelivered webhook is not answered twice; an expired reply token
becomes a push when the rule allows it. Each reply reaches the LINE fake within 2 s of the
webhook's 200.

The auto-replies and the rule this test adds are the workspace's: it puts back what it found.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cdp.settings import ENV_RULES_CACHE_SECONDS

from infra.local.provision import LOCAL_ENVIRONMENT
from tests.e2e.conftest import ADMIN_TOKEN, HTTP_TIMEOUT_SECONDS, LINE_CHANNEL, Stack, now_ms, unique
from tests.fixtures import line_events

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONFIG_WAIT_SECONDS = 30  # the local processor caches rules and auto-replies for 2 s (deployed: 60 s)
REPLY_WITHIN_SECONDS = 2.0


def _admin(stack: Stack, method: str, path: str, body: Any = None) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, headers=ADMIN, timeout=HTTP_TIMEOUT_SECONDS)


def _template(stack: Stack, prefix: str, text: str) -> str:
    template_id = unique(prefix)
    body = {"id": template_id, "name": prefix, "line": {"messages": [{"type": "text", "text": text}]}}
    created = _admin(stack, "POST", "/admin/v1/templates", body)
    assert created.status_code == 201, created.text
    return template_id


def _texts(sent: dict[str, Any]) -> list[str]:
    return [message.get("text", "") for message in sent["messages"]]


def _wait_for_send(stack: Stack, user: str, count: int, within: float) -> tuple[list[dict[str, Any]], float]:
    """The LINE fake's sends to `user` once there are `count`, and how long that took."""
    start = time.monotonic()
    while True:
        sent = stack.line_sent(to=user)
        elapsed = time.monotonic() - start
        if len(sent) >= count or elapsed > within:
            return sent, elapsed
        time.sleep(0.02)


def _put_rules(stack: Stack, change: Any) -> None:
    """Compare-and-set on the version read, retried when someone else wrote in between."""
    for _attempt in range(10):
        current = _admin(stack, "GET", "/admin/v1/tags/rules").json()
        keywords = change(list(current["keywords"]))
        body = {"keywords": keywords, "postbacks": current["postbacks"], "version": current["version"]}
        written = _admin(stack, "PUT", "/admin/v1/tags/rules", body)
        if written.status_code != 409:
            assert written.status_code == 200, written.text
            return
    pytest.fail("the tag rules kept changing under this test")


@pytest.fixture
def replies(stack: Stack) -> Iterator[dict[str, str]]:
    """Templates, a 尺寸 rule with a reply, and the default channel's greeting and fallback; the
    workspace's auto-replies and rules as they were afterwards."""
    run = unique("ar")
    templates = {
        "size": _template(stack, "size-guide", f"尺寸表 {run}: S 36 / M 38 / L 40"),
        "welcome": _template(stack, "welcome", f"歡迎加入 {run}"),
        "menu": _template(stack, "menu", f"請從選單選擇 {run}"),
    }
    rule = {"keyword": "尺寸", "match": "contains", "tag": "asked:size", "reply": {"template_id": templates["size"]}}
    _put_rules(stack, lambda keywords: [rule, *keywords])
    before = _admin(stack, "GET", "/admin/v1/auto-replies").json()
    channels = {
        **before["channels"],
        LINE_CHANNEL: {
            "greeting": {"template_id": templates["welcome"]},
            "fallback": {"template_id": templates["menu"]},
        },
    }
    saved = _admin(stack, "PUT", "/admin/v1/auto-replies", {"channels": channels, "version": before["version"]})
    assert saved.status_code == 200, saved.text
    try:
        yield {**templates, "run": run}
    finally:
        now = _admin(stack, "GET", "/admin/v1/auto-replies").json()
        restored = {"channels": before["channels"], "version": now["version"]}
        assert _admin(stack, "PUT", "/admin/v1/auto-replies", restored).status_code == 200
        _put_rules(stack, lambda keywords: [k for k in keywords if k != rule])
        # The processor keeps what it read for its cache time: wait it out, so the tests after
        # this one do not see a greeting they never configured.
        time.sleep(float(LOCAL_ENVIRONMENT[ENV_RULES_CACHE_SECONDS]) + 1.0)


def _wait_until_replies_apply(stack: Stack, run: str) -> None:
    """A probe friend follows and asks until both the greeting and the keyword reply come back
    (the processor's configuration cache catches up)."""
    deadline = time.monotonic() + CONFIG_WAIT_SECONDS
    attempt = 0
    while True:
        attempt += 1
        probe = line_events.user_id(f"{run}-probe-{attempt}")
        source = line_events.user_source(probe)
        events = [
            line_events.follow(source=source, timestamp=now_ms()),
            line_events.text_message("尺寸?", source=source, timestamp=now_ms() + 1),
        ]
        for event in events:
            event["replyToken"] = stack.line_reply_token(probe)
            assert stack.line([event]).status_code == 200
        sent, _ = _wait_for_send(stack, probe, 2, 5.0)
        texts = [text for s in sent for text in _texts(s)]
        if any(run in t and "歡迎" in t for t in texts) and any(run in t and "尺寸表" in t for t in texts):
            return
        assert time.monotonic() < deadline, f"the auto-replies did not apply within {CONFIG_WAIT_SECONDS}s: {sent}"
        time.sleep(2)


def _event(stack: Stack, user: str, kind: str, **fields: Any) -> dict[str, Any]:
    source = line_events.user_source(user)
    if kind == "follow":
        event = line_events.follow(source=source, timestamp=now_ms())
    else:
        event = line_events.text_message(fields["text"], source=source, timestamp=now_ms())
    event["replyToken"] = stack.line_reply_token(user)
    return event


def test_greeting_keyword_reply_fallback_and_redelivery(stack: Stack, replies: dict[str, str]) -> None:
    run = replies["run"]
    _wait_until_replies_apply(stack, run)
    amy = line_events.user_id(f"{run}-amy")
    latencies: list[float] = []

    # A follow gets the greeting, through the reply API (free).
    assert stack.line([_event(stack, amy, "follow")]).status_code == 200
    sent, elapsed = _wait_for_send(stack, amy, 1, 10.0)
    latencies.append(elapsed)
    assert [(s["endpoint"], _texts(s)) for s in sent] == [("reply", [f"歡迎加入 {run}"])]

    # 尺寸 gets the size guide and tags her.
    asked = _event(stack, amy, "text", text="請問這件外套的尺寸怎麼選？")
    assert stack.line([asked]).status_code == 200
    sent, elapsed = _wait_for_send(stack, amy, 2, 10.0)
    latencies.append(elapsed)
    assert (sent[1]["endpoint"], _texts(sent[1])) == ("reply", [f"尺寸表 {run}: S 36 / M 38 / L 40"])

    # Anything else gets the fallback.
    assert stack.line([_event(stack, amy, "text", text="你好")]).status_code == 200
    sent, elapsed = _wait_for_send(stack, amy, 3, 10.0)
    latencies.append(elapsed)
    assert (sent[2]["endpoint"], _texts(sent[2])) == ("reply", [f"請從選單選擇 {run}"])
    assert max(latencies) < REPLY_WITHIN_SECONDS, latencies

    # LINE redelivers the 尺寸 event: no second reply, no second push.
    redelivered = {**asked, "deliveryContext": {"isRedelivery": True}}
    assert stack.line([redelivered]).status_code == 200
    stack.drain()
    time.sleep(1)
    assert len(stack.line_sent(to=amy)) == 3

    profile = stack.lookup("line", amy)
    assert profile["tags"]["asked:size"]["source"] == "keyword"
    sent_events = [e for e in profile["events"] if e.get("event") == "Message Sent"]
    assert len(sent_events) == 3
    # The reply token is kept nowhere: not on the timeline.
    assert asked["replyToken"] not in str(profile["events"])


def test_an_expired_reply_token_becomes_a_push(clock: Stack, replies: dict[str, str]) -> None:
    stack, run = clock, replies["run"]
    _wait_until_replies_apply(stack, run)
    bob = line_events.user_id(f"{run}-bob")
    assert stack.line([_event(stack, bob, "follow")]).status_code == 200
    _wait_for_send(stack, bob, 1, 10.0)
    late = _event(stack, bob, "text", text="尺寸")
    stack.move_clock(advance=61)  # LINE's reply token is valid about a minute
    assert stack.line([late]).status_code == 200
    sent, _ = _wait_for_send(stack, bob, 2, 10.0)
    assert [s["endpoint"] for s in sent] == ["reply", "push"]
    assert _texts(sent[1]) == [f"尺寸表 {run}: S 36 / M 38 / L 40"] and sent[1]["retry_key"]


def test_a_reply_naming_an_unknown_template_is_refused(stack: Stack) -> None:
    current = _admin(stack, "GET", "/admin/v1/auto-replies").json()
    body = {"channels": {LINE_CHANNEL: {"greeting": {"template_id": unique("missing")}}}, "version": current["version"]}
    refused = _admin(stack, "PUT", "/admin/v1/auto-replies", body)
    assert (refused.status_code, refused.json()["error"]) == (404, "template_not_found")
    bad = {"channels": {LINE_CHANNEL: {"fallback": {"template_id": "x", "purpose": "spam"}}}, "version": 0}
    refused = _admin(stack, "PUT", "/admin/v1/auto-replies", bad)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_reply")
    rules = _admin(stack, "GET", "/admin/v1/tags/rules").json()
    keywords = [*rules["keywords"], {"keyword": "尺寸", "reply": {"template_id": unique("missing")}}]
    body = {"keywords": keywords, "postbacks": rules["postbacks"], "version": rules["version"]}
    refused = _admin(stack, "PUT", "/admin/v1/tags/rules", body)
    assert (refused.status_code, refused.json()["error"]) == (404, "template_not_found")
