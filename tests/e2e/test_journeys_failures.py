"""Journeys under failure, over HTTP on the local stack: the send node's function dies after LINE
accepted the message (one delivery), LINE answers 5xx (the retry carries the same retry key, one
delivery), the template is deleted after publish (the pinned version still sends), and an
invalid definition is refused with a 400 naming the JSON pointer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.e2e.conftest import Stack, now_ms, unique
from tests.e2e.journey_helpers import admin, ended, line_calls, published_journey, template, texts
from tests.e2e.test_campaigns import follower, taipei_at
from tests.fixtures.line_events import text_message, user_source

# Journeys run on a local stack of their own (the other worker's): they are the longest e2e group.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-journeys")]

TEXT = "您的訂單已出貨，追蹤號碼請見會員中心"


def _send_once(template_id: str, code: str) -> dict[str, Any]:
    """Any LINE message containing `code` starts a run that sends `template_id` and ends."""
    return {
        "name": "Send once",
        "entry": {
            "type": "event",
            "event": "LINE Message Received",
            "where": [{"property": "text", "op": "eq", "value": code}],
        },
        "start": "send",
        "nodes": {
            "send": {"type": "send", "template_id": template_id, "channels": ["line"], "next": "done"},
            "done": {"type": "exit"},
        },
        "reentry": {"mode": "never"},
    }


def _say(stack: Stack, line_user: str, text: str) -> None:
    assert stack.line([text_message(text, source=user_source(line_user), timestamp=now_ms())]).status_code == 200


@contextmanager
def _faults(stack: Stack, plan: dict[str, Any]) -> Iterator[None]:
    configured = stack.http.post(stack.url("/_local/faults"), json=plan, timeout=30)
    assert configured.status_code == 200, configured.text
    try:
        yield
    finally:
        stack.http.delete(stack.url("/_local/faults"), timeout=30)


def test_a_send_node_that_dies_after_line_accepted_delivers_once(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 13)
    code = unique("ship")
    line_user, profile_id = follower(stack, "crash")
    with published_journey(stack, _send_once(template(stack, "shipped", TEXT), code)) as journey_id:
        with _faults(stack, {"journey_step_failures": 1, "journey_step_op": "send"}):
            _say(stack, line_user, code)
            run = ended(stack, journey_id, profile_id)
            injected = stack.http.get(stack.url("/_local/faults"), timeout=30).json()["injected"]
        assert injected == {"journey_step_failures": 1}  # it really died once, after its work
        assert run["exit_reason"] == "completed" and run["sent"] == {"send": "sent"}
        stack.drain()
        assert texts(stack, line_user) == [TEXT]


@pytest.mark.parametrize("after_accept", [False, True])
def test_line_5xx_is_retried_with_the_same_retry_key_and_delivers_once(clock: Stack, after_accept: bool) -> None:
    stack = clock
    taipei_at(stack, 13)
    code = unique("ship")
    line_user, profile_id = follower(stack, "line5xx")
    with published_journey(stack, _send_once(template(stack, "shipped", TEXT), code)) as journey_id:
        stack.line_control("fail-next", {"n": 1, "status": 500, "afterAccept": after_accept})
        _say(stack, line_user, code)
        run = ended(stack, journey_id, profile_id)
        assert run["sent"] == {"send": "sent"}
        delivered = stack.line_sent(line_user)
        assert len(delivered) == 1 and texts(stack, line_user) == [TEXT]
        key = delivered[0]["retry_key"]
        assert key
        calls = [c for c in line_calls(stack) if c["retry_key"] == key]
        statuses = [c["status"] for c in calls]
        assert len(calls) >= 2 and statuses[0] == 500, statuses  # the first answer failed, the retry kept the key


def test_a_template_deleted_after_publish_still_sends_its_pinned_version(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 13)
    code = unique("ship")
    line_user, profile_id = follower(stack, "pinned")
    template_id = template(stack, "shipped", TEXT)
    with published_journey(stack, _send_once(template_id, code)) as journey_id:
        deleted = admin(stack, "DELETE", f"/admin/v1/templates/{template_id}")
        assert deleted.status_code in (200, 204), deleted.text
        _say(stack, line_user, code)
        run = ended(stack, journey_id, profile_id)
        assert run["sent"] == {"send": "sent"}
        assert texts(stack, line_user) == [TEXT]


def _refused(stack: Stack, document: dict[str, Any]) -> dict[str, Any]:
    answer = admin(stack, "POST", "/admin/v1/journeys", {"id": unique("bad").lower(), "definition": document})
    assert answer.status_code == 400, answer.text
    error: dict[str, Any] = answer.json()
    assert error["error"] == "invalid_journey", error
    return error


def test_an_invalid_definition_is_refused_with_the_pointer(stack: Stack) -> None:
    template_id = template(stack, "shipped", TEXT)
    good = _send_once(template_id, "x")

    bad_type = {**good, "nodes": {**good["nodes"], "send": {**good["nodes"]["send"], "channels": ["fax"]}}}
    assert _refused(stack, bad_type)["details"]["path"] == "/nodes/send/channels/0"

    orphan = {**good, "nodes": {**good["nodes"], "orphan": {"type": "exit"}}}
    assert _refused(stack, orphan)["details"]["path"] == "/nodes/orphan"

    missing = {**good, "nodes": {**good["nodes"], "send": {**good["nodes"]["send"], "template_id": "no-such"}}}
    assert _refused(stack, missing)["details"]["path"].startswith("/nodes/send")

    waits_too_long = {
        **good,
        "start": "wait",
        "nodes": {
            **good["nodes"],
            "wait": {"type": "delay", "duration": "P400D", "next": "send"},
        },
    }
    assert _refused(stack, waits_too_long)["details"]["path"] == "/nodes/wait/duration"

    spin = {
        **good,
        "start": "send",
        "nodes": {
            "send": {**good["nodes"]["send"], "next": "again"},
            "again": {**good["nodes"]["send"], "next": "send"},
        },
    }
    assert _refused(stack, spin)["details"]["path"].startswith("/nodes/")
