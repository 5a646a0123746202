"""LINE webhook: x-line-signature verification and delivery envelope parsing."""

from __future__ import annotations

import hmac
import json
from typing import Any

import pytest
from cdp.errors import BadRequest, Unauthorized
from cdp.events import line_webhook
from cdp.events.line_webhook import KNOWN_EVENT_TYPES, parse_delivery, signature_is_valid, verify_signature

from tests.fixtures import line_events as line
from tests.fixtures.line_events import BOT_USER_ID, CHANNEL_SECRET


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Record every call to hmac.compare_digest made by the webhook module, still comparing for real."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(line_webhook.hmac, "compare_digest", spy)
    return calls


# signature ----------------------------------------------------------------------------------
def test_valid_signature_is_accepted_through_the_constant_time_comparison(compare_calls: list[Any]) -> None:
    # Given a delivery signed with the channel secret, as LINE signs it
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When it is verified
    verify_signature(CHANNEL_SECRET, body, signature)

    # Then it passes, and the comparison went through hmac.compare_digest
    assert signature_is_valid(CHANNEL_SECRET, body, signature) is True
    assert len(compare_calls) == 2
    assert compare_calls[0][1] == signature.encode()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: s[:-2] + ("A=" if s[-2:] != "A=" else "B="), id="last-chars-changed"),
        pytest.param(lambda s: s[:10], id="truncated"),
        pytest.param(lambda s: s + "AAAA", id="too-long"),
        pytest.param(lambda s: "署名" + s, id="non-ascii"),
    ],
)
def test_invalid_signature_is_refused_in_constant_time(forge: Any, compare_calls: list[Any]) -> None:
    # Given a signature that does not match the body (whatever its length or alphabet)
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])
    forged = forge(signature)

    # When it is verified
    with pytest.raises(Unauthorized) as raised:
        verify_signature(CHANNEL_SECRET, body, forged)

    # Then it is a 401 invalid_signature, decided by compare_digest (no early exit on length)
    assert raised.value.status == 401
    assert raised.value.code == "invalid_signature"
    assert len(compare_calls) == 1


def test_signature_with_surrounding_whitespace_is_accepted() -> None:
    # Given a valid signature that a proxy padded with whitespace
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When / Then it still verifies
    verify_signature(CHANNEL_SECRET, body, f"  {signature}\n")


@pytest.mark.parametrize("signature", [None, "", "   "])
def test_missing_signature_is_refused(signature: str | None) -> None:
    # Given a delivery without an x-line-signature header
    body, _ = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When it is verified
    with pytest.raises(Unauthorized) as raised:
        verify_signature(CHANNEL_SECRET, body, signature)

    # Then it is a 401 that names the missing header
    assert raised.value.code == "missing_signature"
    assert signature_is_valid(CHANNEL_SECRET, body, signature) is False


def test_tampered_body_is_refused() -> None:
    # Given a signed delivery whose body was changed after signing (one user id swapped)
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])
    tampered = body.replace(line.USER_ID.encode(), line.OTHER_USER_ID.encode())
    assert tampered != body

    # When / Then the signature no longer matches
    with pytest.raises(Unauthorized) as raised:
        verify_signature(CHANNEL_SECRET, tampered, signature)
    assert raised.value.code == "invalid_signature"


def test_body_signed_with_another_channels_secret_is_refused() -> None:
    # Given a delivery signed with a different channel's secret
    body, signature = line.signed_delivery("0" * 32, [line.follow()])

    # When / Then it does not verify against this channel's secret
    with pytest.raises(Unauthorized) as raised:
        verify_signature(CHANNEL_SECRET, body, signature)
    assert raised.value.code == "invalid_signature"


def test_empty_channel_secret_never_validates() -> None:
    # Given a channel configured with an empty secret and a body "signed" with that empty secret
    body = line.callback_body([line.follow()])
    signature = line.sign("", body)

    # When / Then nothing can be valid against an empty secret
    assert signature_is_valid("", body, signature) is False


# parse_delivery -----------------------------------------------------------------------------
def test_verification_request_has_no_events() -> None:
    # Given the console's "Verify" request: a signed body with an empty events array
    body, signature = line.verification_request()
    verify_signature(CHANNEL_SECRET, body, signature)

    # When it is parsed
    delivery = parse_delivery(body)

    # Then it is accepted with nothing to store
    assert delivery.destination == BOT_USER_ID
    assert delivery.events == []
    assert delivery.rejected == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"{not json", "invalid_json", id="not-json"),
        pytest.param(b"\xff\xfe\x00", "invalid_json", id="not-utf8"),
        pytest.param(b"", "invalid_json", id="empty"),
        pytest.param(b"[]", "invalid_webhook_shape", id="array"),
        pytest.param(b'"events"', "invalid_webhook_shape", id="string"),
        pytest.param(b'{"events": []}', "invalid_webhook_shape", id="missing-destination"),
        pytest.param(b'{"destination": "", "events": []}', "invalid_webhook_shape", id="empty-destination"),
        pytest.param(b'{"destination": 42, "events": []}', "invalid_webhook_shape", id="destination-not-string"),
        pytest.param(f'{{"destination": "{BOT_USER_ID}"}}'.encode(), "invalid_webhook_shape", id="missing-events"),
        pytest.param(
            f'{{"destination": "{BOT_USER_ID}", "events": {{}}}}'.encode(), "invalid_webhook_shape", id="events-object"
        ),
    ],
)
def test_unreadable_envelope_is_a_bad_request(body: bytes, code: str) -> None:
    # Given a body that is not a LINE callback request
    # When it is parsed
    with pytest.raises(BadRequest) as raised:
        parse_delivery(body)

    # Then the whole delivery is refused with a machine-readable code
    assert raised.value.status == 400
    assert raised.value.code == code


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


@pytest.mark.parametrize(
    ("malform", "problem"),
    [
        pytest.param(lambda e: "not an event", "object", id="not-object"),
        pytest.param(lambda e: _without(e, "type"), "`type`", id="missing-type"),
        pytest.param(lambda e: {**e, "type": ""}, "`type`", id="empty-type"),
        pytest.param(lambda e: _without(e, "webhookEventId"), "`webhookEventId`", id="missing-id"),
        pytest.param(lambda e: {**e, "webhookEventId": "x" * 129}, "`webhookEventId`", id="id-too-long"),
        pytest.param(lambda e: {**e, "timestamp": "1714557600000"}, "`timestamp`", id="timestamp-string"),
        pytest.param(lambda e: {**e, "timestamp": True}, "`timestamp`", id="timestamp-bool"),
        pytest.param(lambda e: {**e, "timestamp": -1}, "`timestamp`", id="timestamp-negative"),
        pytest.param(lambda e: {**e, "mode": "sleeping"}, "`mode`", id="bad-mode"),
        pytest.param(lambda e: {**e, "deliveryContext": []}, "`deliveryContext`", id="bad-delivery-context"),
        pytest.param(lambda e: {**e, "source": "U123"}, "`source`", id="source-not-object"),
        pytest.param(lambda e: {**e, "source": {"userId": line.USER_ID}}, "`source`", id="source-without-type"),
    ],
)
def test_malformed_event_is_set_aside_and_the_good_ones_are_kept(malform: Any, problem: str) -> None:
    # Given a delivery of three events where the middle one is malformed
    first, bad, last = line.text_message("早安"), line.follow(), line.postback()
    body = line.callback_body([first, malform(bad), last])

    # When it is parsed
    delivery = parse_delivery(body)

    # Then the good events are kept in order and the bad one is reported by index
    assert [e["webhookEventId"] for e in delivery.events] == [first["webhookEventId"], last["webhookEventId"]]
    assert len(delivery.rejected) == 1
    assert delivery.rejected[0].index == 1
    assert delivery.rejected[0].reason == "invalid_event"
    assert problem in delivery.rejected[0].message


def test_event_without_mode_or_delivery_context_is_tolerated() -> None:
    # Given an older-format event without `mode` and `deliveryContext`
    event = _without(_without(line.follow(), "mode"), "deliveryContext")

    # When it is parsed
    delivery = parse_delivery(line.callback_body([event]))

    # Then it is kept (LINE added those fields later; old redeliveries lack them)
    assert delivery.events == [event]
    assert delivery.rejected == []


@pytest.mark.parametrize("case", sorted(line.EVENT_BUILDERS))
def test_every_fixture_event_type_parses(case: str) -> None:
    # Given a signed delivery with one realistic event of this kind
    event = line.EVENT_BUILDERS[case]()
    body, signature = line.signed_delivery(CHANNEL_SECRET, [event])

    # When it is verified and parsed
    verify_signature(CHANNEL_SECRET, body, signature)
    delivery = parse_delivery(body)

    # Then the event comes back intact, with nothing rejected
    assert delivery.rejected == []
    assert delivery.events == [json.loads(body)["events"][0]]
    assert delivery.events[0]["type"] == event["type"]


def test_unknown_event_types_are_kept_not_rejected() -> None:
    # Given a delivery mixing a known type, the legacy `things` and a type LINE has not published yet
    events = [line.follow(), line.things_link(), line.unknown_event("coupon")]

    # When it is parsed
    delivery = parse_delivery(line.callback_body(events))

    # Then all three are kept: event types are never whitelisted
    assert [e["type"] for e in delivery.events] == ["follow", "things", "coupon"]
    assert "coupon" not in KNOWN_EVENT_TYPES


def test_fixtures_cover_every_type_of_the_webhook_contract() -> None:
    # Given the fixture cases
    types = {build()["type"] for build in line.EVENT_BUILDERS.values()}

    # Then each type of webhook.yml's discriminator has at least one realistic fixture
    assert types >= KNOWN_EVENT_TYPES
