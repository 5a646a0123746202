"""The stack's LINE fake reads the stack's clock and is driven through `/_local/line/*`."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.conftest import HTTP_TIMEOUT_SECONDS, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ACCESS_TOKEN = "local-dev-access-token"


def test_moving_the_stack_clock_expires_the_fakes_reply_tokens_and_sends_are_listed(
    clock: Stack, line_api_url: str
) -> None:
    user = "U" + uuid.uuid4().hex
    fresh, stale = clock.line_reply_token(user), clock.line_reply_token(user)
    auth = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    messages = [{"type": "text", "text": "尺寸表請看這裡"}]
    first = requests.post(
        f"{line_api_url}/v2/bot/message/reply",
        json={"replyToken": fresh, "messages": messages},
        headers=auth,
        timeout=10,
    )
    assert first.status_code == 200, first.text

    clock.move_clock(advance=61)  # a minute later on the stack's clock: LINE's reply window is over

    late = requests.post(
        f"{line_api_url}/v2/bot/message/reply",
        json={"replyToken": stale, "messages": messages},
        headers=auth,
        timeout=10,
    )
    assert (late.status_code, late.json()) == (400, {"message": "Invalid reply token"})
    [sent] = clock.line_sent(to=user)
    assert (sent["endpoint"], sent["messages"]) == ("reply", messages)
    bad = clock.http.post(clock.url("/_local/line/quota"), json={"limit": "lots"}, timeout=HTTP_TIMEOUT_SECONDS)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_line_fake_request"
