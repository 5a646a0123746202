"""One-click unsubscribe on moto: POST /u/{token} (the link_redirect function) lands a consent raw
event that the processor applies to the person the email went to; GET changes nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from cdp import settings as env_names
from cdp.messaging.unsubscribe import unsubscribe_token

from tests.integration.conftest import ADMIN_TOKEN, WRITE_KEY, RawStream, Stack, api_event, response_json

SIGNING_KEY = "integration-unsubscribe-signing-key-" + "0123456789abcdef" * 2


@pytest.fixture
def unsubscribe_stack(stack: Stack) -> Iterator[Stack]:
    secret_id = stack.env("link_redirect", env_names.ENV_LINK_SIGNING_SECRET)
    stack.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=SIGNING_KEY)
    build = stack.runtime.module("link_redirect").build_unsubscriber
    build.cache_clear()
    yield stack
    build.cache_clear()


def unsubscribe(stack: Stack, method: str, token: str) -> dict[str, object]:
    event = api_event(
        method,
        f"/u/{token}",
        resource="/u/{token}",
        path_parameters={"token": token},
        body="List-Unsubscribe=One-Click" if method == "POST" else None,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer: dict[str, object] = stack.invoke("link_redirect", event)
    return answer


def consent_of(stack: Stack) -> dict[str, object]:
    event = api_event(
        "GET",
        "/admin/v1/profiles/lookup",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        query={"type": "email", "value": "amy@example.com"},
    )
    profile = response_json(stack.invoke("admin_api", event))
    consent: dict[str, object] = profile["consent"]
    return consent


def test_the_one_click_post_records_the_opt_out_on_the_persons_profile(
    unsubscribe_stack: Stack, raw_stream: RawStream
) -> None:
    stack = unsubscribe_stack
    identify = {"type": "identify", "userId": "amy-1", "traits": {"email": "Amy@Example.com"}}
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    response = stack.invoke(
        "ingest", api_event("POST", "/v1/identify", body=json.dumps(identify), headers={"Authorization": auth})
    )
    assert response["statusCode"] == 200
    assert stack.invoke("event_processor", {"Records": raw_stream.new_records()}) == {"batchItemFailures": []}
    token = unsubscribe_token(SIGNING_KEY.encode(), "email", "amy@example.com")

    shown = unsubscribe(stack, "GET", token)
    assert shown["statusCode"] == 200 and raw_stream.new_records() == []
    done = unsubscribe(stack, "POST", token)
    again = unsubscribe(stack, "POST", token)
    assert (done["statusCode"], again["statusCode"]) == (200, 200)
    records = raw_stream.new_records()
    assert len(records) == 1  # the repeated POST is the same event
    assert stack.invoke("event_processor", {"Records": records}) == {"batchItemFailures": []}

    assert consent_of(stack)["email:marketing"]["granted"] is False  # type: ignore[index]
    forged = unsubscribe(stack, "POST", token[:-3] + "abc")
    assert forged["statusCode"] == 400
    assert json.loads(str(forged["body"]))["error"] == "invalid_unsubscribe_token"
