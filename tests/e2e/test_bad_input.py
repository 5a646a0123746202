"""Bad input at the edges, over HTTP on the local stack: what Python's json accepts but no store can
keep (NaN, Infinity, integers past 64 bits, lone surrogates, 10,000-level nesting), a LINE event
too large for one item, and a tracked link to a non-ASCII URL. Each is refused (or converted) with a
stable code naming the field, the good events beside it are kept, and the refusals are listed for
the admin at GET /admin/v1/ingest/rejections."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, BOT_USER_ID, HTTP_TIMEOUT_SECONDS, WRITE_KEY, Stack, now_ms, unique
from tests.fixtures.line_events import follow, text_message, user_id, user_source
from tests.fixtures.links import NON_ASCII_DESTINATIONS

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

DEEP = b"[" * 10_000 + b"]" * 10_000


def _line_body(events: list[dict[str, Any]]) -> bytes:
    """ASCII-escaped JSON as any sender may write it: `\\ud800` and `NaN` are valid to Python's json."""
    return json.dumps({"destination": BOT_USER_ID, "events": events}).encode()


# LINE webhook ------------------------------------------------------------------------------------
def test_a_lone_surrogate_in_one_signed_event_is_400_naming_it_and_the_other_event_is_kept(stack: Stack) -> None:
    good_user, bad_user = user_id(unique("good")), user_id(unique("bad"))
    good = follow(source=user_source(good_user), timestamp=now_ms())
    bad = text_message("x", source=user_source(bad_user), timestamp=now_ms())
    bad["message"]["text"] = "\ud800"

    response = stack.line_signed(_line_body([good, bad]))

    assert response.status_code == 400, response.text  # not 503: LINE would redeliver it forever
    payload = response.json()
    assert payload["error"] == "invalid_events" and payload["stored"] == 1
    assert [(r["index"], r["error"], r["field"]) for r in payload["rejected"]] == [
        (1, "invalid_encoding", "/events/1/message/text")
    ]
    stack.drain()
    assert stack.lookup("line", good_user)["profile_id"]
    stack.assert_no_profile("line", bad_user)


def test_one_event_over_the_item_limit_is_refused_alone_and_the_delivery_answers_200(stack: Stack) -> None:
    good_user = user_id(unique("good"))
    good = follow(source=user_source(good_user), timestamp=now_ms())
    huge = text_message("大" * 150_000, source=user_source(user_id(unique("huge"))), timestamp=now_ms())

    response = stack.line_signed(_line_body([good, huge]))
    again = stack.line_signed(_line_body([good, huge]))  # a redelivery: the same answer, nothing twice

    assert response.status_code == 200, response.text
    assert [(r["index"], r["error"]) for r in response.json()["rejected"]] == [(1, "event_too_large")]
    assert (again.status_code, again.json()["stored"], again.json()["duplicates"]) == (200, 0, 1)
    stack.drain()
    assert stack.lookup("line", good_user)["profile_id"]
    listed = stack.admin_get("/admin/v1/ingest/rejections", limit="200").json()["rejections"]
    mine = [r for r in listed if r.get("message_id") == huge["webhookEventId"]]
    assert [(r["call"], r["error"], r["type"]) for r in mine] == [("line_webhook", "event_too_large", "message")] * 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            b'{"destination":"' + BOT_USER_ID.encode() + b'","events":' + DEEP + b"}", "json_too_deep", id="deep"
        ),
        pytest.param(b'{"destination":NaN,"events":[]}', "non_finite_number", id="nan-destination"),
    ],
)
def test_an_unreadable_signed_envelope_is_400(stack: Stack, body: bytes, code: str) -> None:
    response = stack.line_signed(body)

    assert (response.status_code, response.json()["error"]) == (400, code)


# Segment-compatible ingestion ----------------------------------------------------------------------
def test_nan_infinity_and_2_64_are_refused_per_event_and_listed_for_the_admin(stack: Stack) -> None:
    user = unique("M")
    good = {"type": "identify", "userId": user, "messageId": unique("ok"), "traits": {"city": "Taipei"}}
    ids = [unique("bad") for _ in range(3)]
    body = (
        '{"batch":['
        + json.dumps(good)
        + f',{{"type":"track","event":"Order Completed","userId":"{user}","messageId":"{ids[0]}",'
        + '"properties":{"revenue":NaN}}'
        + f',{{"type":"identify","userId":"{user}","messageId":"{ids[1]}","traits":{{"age":Infinity}}}}'
        + f',{{"type":"identify","userId":"{user}","messageId":"{ids[2]}","traits":{{"n":18446744073709551616}}}}'
        + "]}"
    ).encode()

    response = stack.segment_raw("batch", body)

    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["accepted"] == 1
    assert [(r["index"], r["error"], r["field"]) for r in payload["rejected"]] == [
        (1, "non_finite_number", "/properties/revenue"),
        (2, "non_finite_number", "/traits/age"),
        (3, "integer_out_of_range", "/traits/n"),
    ]
    stack.drain()
    profile = stack.lookup("member_id", user)
    assert profile["traits"] == {"city": "Taipei"}  # and the profile answer is valid JSON

    listed = stack.admin_get("/admin/v1/ingest/rejections", limit="200")
    assert listed.status_code == 200, listed.text
    mine = {r["message_id"]: r for r in listed.json()["rejections"] if r.get("message_id") in ids}
    assert {message_id: r["error"] for message_id, r in mine.items()} == {
        ids[0]: "non_finite_number",
        ids[1]: "non_finite_number",
        ids[2]: "integer_out_of_range",
    }
    assert mine[ids[0]]["event"] == "Order Completed" and mine[ids[0]]["call"] == "batch"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b'{"userId":"u1","event":"x","properties":{"age":Infinity}}', "non_finite_number", id="infinity"),
        pytest.param(
            b'{"userId":"u1","event":"x","properties":{"name":"\\ud800"}}', "invalid_encoding", id="surrogate"
        ),
        pytest.param(b'{"userId":"u1","event":"x","properties":' + DEEP + b"}", "json_too_deep", id="deep"),
    ],
)
def test_a_single_track_call_with_an_unstorable_value_is_400_naming_the_field(
    stack: Stack, body: bytes, code: str
) -> None:
    response = stack.segment_raw("track", body)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == code


def test_the_rejections_route_needs_the_admin_token(stack: Stack) -> None:
    assert stack.admin_get("/admin/v1/ingest/rejections", token=None).status_code == 401
    assert stack.admin_get("/admin/v1/ingest/rejections", token=WRITE_KEY).status_code == 401


# admin API and tracked links -------------------------------------------------------------------
def test_an_admin_body_with_nan_or_a_lone_surrogate_is_400_naming_the_field(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    for body, code, field in (
        (b'{"id":"s1","name":"\\ud800","rule":{}}', "invalid_encoding", "/name"),
        (b'{"id":"s1","name":"x","rule":{},"refresh_minutes":NaN}', "non_finite_number", "/refresh_minutes"),
    ):
        response = stack.http.post(
            stack.url("/admin/v1/segments"), data=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        )
        assert response.status_code == 400, response.text
        assert (response.json()["error"], response.json()["details"]["field"]) == (code, field)


@pytest.mark.parametrize(
    ("destination", "location"),
    NON_ASCII_DESTINATIONS,
)
def test_a_link_to_a_non_ascii_url_redirects_with_an_ascii_location(
    stack: Stack, destination: str, location: str
) -> None:
    code = unique("iri")
    created = stack.http.post(
        stack.url("/admin/v1/links"),
        json={"code": code, "url": destination, "src": "line-rich-menu"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert created.status_code == 201, created.text
    assert created.json()["url"] == location

    response = requests.get(stack.url(f"/r/{code}"), allow_redirects=False, timeout=HTTP_TIMEOUT_SECONDS)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{location}?cdp_aid=")
