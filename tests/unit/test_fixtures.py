"""The shared LINE fixtures look like LINE's own payloads, and the unit suite cannot reach the network."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.fixtures import line_events as line

USER = re.compile(r"U[0-9a-f]{32}")
ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def test_fixed_ids_have_lines_formats() -> None:
    assert USER.fullmatch(line.BOT_USER_ID)
    assert USER.fullmatch(line.USER_ID) and USER.fullmatch(line.OTHER_USER_ID)
    assert re.fullmatch(r"C[0-9a-f]{32}", line.GROUP_ID)
    assert re.fullmatch(r"R[0-9a-f]{32}", line.ROOM_ID)
    assert USER.fullmatch(line.user_id("anyone")) and line.user_id("a") == line.user_id("a") != line.user_id("b")


@pytest.mark.parametrize("case", sorted(line.EVENT_BUILDERS))
def test_every_fixture_event_has_the_required_envelope(case: str) -> None:
    # Given a fixture event
    event = line.EVENT_BUILDERS[case]()

    # Then it has webhook.yml's required Event fields in LINE's formats
    assert {"type", "timestamp", "mode", "webhookEventId", "deliveryContext"} <= event.keys()
    assert ULID.fullmatch(event["webhookEventId"])
    assert event["mode"] in ("active", "standby")
    assert isinstance(event["deliveryContext"]["isRedelivery"], bool)
    source = event.get("source")
    if source is not None and "userId" in source:
        assert USER.fullmatch(source["userId"])
    if event["type"] == "message":
        assert re.fullmatch(r"\d{18}", event["message"]["id"])
    if event["mode"] == "standby":
        assert "replyToken" not in event


def test_webhook_event_ids_are_unique_and_time_ordered() -> None:
    # Given ids minted for successive timestamps
    ids = [line.webhook_event_id(line.BASE_TIMESTAMP_MS + step) for step in range(50)]

    # Then none repeats and they sort in time order (ULID)
    assert len(set(ids)) == 50
    assert [i[:10] for i in ids] == sorted(i[:10] for i in ids)


def test_signed_delivery_is_the_body_and_its_signature() -> None:
    # Given a signed delivery with non-ASCII text
    body, signature = line.signed_delivery(
        line.CHANNEL_SECRET, [line.text_message("早安")], destination=line.BOT_USER_ID
    )

    # Then the body is compact UTF-8 JSON and the signature is the HMAC of exactly those bytes
    assert "早安".encode() in body
    assert json.loads(body)["destination"] == line.BOT_USER_ID
    assert signature == line.sign(line.CHANNEL_SECRET, body)
    assert signature != line.sign(line.CHANNEL_SECRET, body + b" ")


def test_unit_suite_cannot_open_sockets() -> None:
    # Given the unit suite's guard
    # When code tries to open a socket (as any HTTP client would)
    # Then it fails at once instead of touching the network
    with pytest.raises(RuntimeError, match="must not open sockets"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(RuntimeError):
        socket.create_connection(("127.0.0.1", 9))
