"""accept_line_delivery: channel lookup, signature, per-event storage, dedup on webhookEventId."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, NotFound, Unauthorized
from cdp.events.raw import line_event_id
from cdp.ingestion.channels import LineChannels
from cdp.ingestion.line import accept_line_delivery

from tests.fixtures import line_events as line
from tests.fixtures.line_events import BOT_USER_ID, CHANNEL_SECRET
from tests.unit.builders import LINE_CHANNEL, LINE_PROVIDER, NOW_MS

if TYPE_CHECKING:
    from tests.unit.conftest import FakeRawEventStore, FixedClock


def _accept(
    body: bytes,
    signature: str | None,
    *,
    channels: LineChannels,
    store: FakeRawEventStore,
    clock: FixedClock,
    channel: str = LINE_CHANNEL,
):
    return accept_line_delivery(
        channel_name=channel, body=body, signature=signature, channels=channels, store=store, clock=clock
    )


def test_delivery_events_are_stored_with_channel_provider_and_destination(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a signed delivery of a follow and a message for the configured channel
    events = [line.follow(), line.text_message("我想問尺寸")]
    body, signature = line.signed_delivery(CHANNEL_SECRET, events)

    # When it is accepted
    result = _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then each event is stored once under its LINE id, scoped by the channel's provider
    assert (result.stored, result.duplicates, result.rejected) == (2, 0, [])
    for event in events:
        raw = raw_store.events[line_event_id(LINE_CHANNEL, event["webhookEventId"])]
        assert raw.origin == "line"
        assert raw.source == LINE_CHANNEL
        assert raw.provider == LINE_PROVIDER
        assert raw.destination == BOT_USER_ID
        assert raw.received_at == iso_from_ms(NOW_MS)
        assert raw.payload == event


def test_channel_without_provider_id_scopes_by_channel_name(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a channel configured without `providerId`
    body, signature = line.signed_delivery("f" * 32, [line.follow()])

    # When a delivery for it is accepted
    _accept(body, signature, channels=line_channels, store=raw_store, clock=clock, channel="no-provider-oa")

    # Then the channel name stands in for the provider
    (raw,) = raw_store.events.values()
    assert raw.provider == "no-provider-oa"


def test_unknown_channel_is_not_found(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a delivery to a channel name that is not configured
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When it is accepted
    with pytest.raises(NotFound) as raised:
        _accept(body, signature, channels=line_channels, store=raw_store, clock=clock, channel="other-oa")

    # Then it is a 404 unknown_channel and nothing is stored
    assert raised.value.status == 404
    assert raised.value.code == "unknown_channel"
    assert raw_store.calls == 0


@pytest.mark.parametrize(
    ("signature", "code"),
    [(None, "missing_signature"), ("", "missing_signature"), ("bm90IGEgc2lnbmF0dXJl", "invalid_signature")],
)
def test_unsigned_or_badly_signed_delivery_is_unauthorized(
    signature: str | None, code: str, line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a delivery with a missing or wrong signature
    body, _ = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When it is accepted
    with pytest.raises(Unauthorized) as raised:
        _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then it is a 401 with the reason, and nothing is stored
    assert raised.value.status == 401
    assert raised.value.code == code
    assert raw_store.events == {}


def test_signature_is_checked_before_the_body_is_parsed(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given an unsigned body that is not even JSON
    # When it is accepted
    # Then the answer is 401 (not 400): nothing about an unauthenticated body is looked at
    with pytest.raises(Unauthorized):
        _accept(b"{garbage", "c2lnbmF0dXJl", channels=line_channels, store=raw_store, clock=clock)


def test_signed_but_malformed_envelope_is_a_bad_request(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a correctly signed body that is not a callback request
    body = b'{"events": []}'

    # When it is accepted
    with pytest.raises(BadRequest) as raised:
        _accept(body, line.sign(CHANNEL_SECRET, body), channels=line_channels, store=raw_store, clock=clock)

    # Then it is a 400 and nothing is stored
    assert raised.value.code == "invalid_webhook_shape"
    assert raw_store.events == {}


def test_redelivery_of_the_same_event_is_stored_once(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given an event that was delivered, then redelivered by LINE (same webhookEventId, isRedelivery)
    original = line.text_message("有 M 號嗎")
    redelivered = {**original, "deliveryContext": {"isRedelivery": True}}
    first_body, first_signature = line.signed_delivery(CHANNEL_SECRET, [original])
    second_body, second_signature = line.signed_delivery(CHANNEL_SECRET, [redelivered, line.follow()])

    # When both deliveries are accepted
    first = _accept(first_body, first_signature, channels=line_channels, store=raw_store, clock=clock)
    clock.advance(60_000)
    second = _accept(second_body, second_signature, channels=line_channels, store=raw_store, clock=clock)

    # Then the message is stored once (the first copy) and the redelivery counts as a duplicate
    assert (first.stored, first.duplicates) == (1, 0)
    assert (second.stored, second.duplicates) == (1, 1)
    stored = raw_store.events[line_event_id(LINE_CHANNEL, original["webhookEventId"])]
    assert stored.payload["deliveryContext"] == {"isRedelivery": False}
    assert stored.received_at == iso_from_ms(NOW_MS)
    assert len(raw_store.events) == 2


def test_same_event_twice_in_one_delivery_is_stored_once(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given one delivery that carries the same webhookEventId twice
    event = line.postback()
    body, signature = line.signed_delivery(CHANNEL_SECRET, [event, event])

    # When it is accepted
    result = _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then one is stored and one is a duplicate
    assert (result.stored, result.duplicates) == (1, 1)
    assert list(raw_store.events) == [line_event_id(LINE_CHANNEL, event["webhookEventId"])]


def test_same_webhook_event_id_on_two_channels_is_two_events(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given the same webhookEventId arriving on two different channels
    event = line.follow()
    body_a, signature_a = line.signed_delivery(CHANNEL_SECRET, [event])
    body_b, signature_b = line.signed_delivery("f" * 32, [event])

    # When both are accepted
    a = _accept(body_a, signature_a, channels=line_channels, store=raw_store, clock=clock)
    b = _accept(body_b, signature_b, channels=line_channels, store=raw_store, clock=clock, channel="no-provider-oa")

    # Then the dedup key is per channel: both are stored
    assert (a.stored, b.stored) == (1, 1)
    assert len(raw_store.events) == 2


def test_malformed_event_is_reported_and_the_rest_stored(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a signed delivery whose second event has no webhookEventId
    good = line.follow()
    bad = {k: v for k, v in line.unfollow().items() if k != "webhookEventId"}
    body, signature = line.signed_delivery(CHANNEL_SECRET, [good, bad])

    # When it is accepted
    result = _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then the good event is stored and the bad one is named by index
    assert result.stored == 1
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "invalid_event")]
    assert list(raw_store.events) == [line_event_id(LINE_CHANNEL, good["webhookEventId"])]


def test_verification_request_stores_nothing(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given the console's verification request
    body, signature = line.verification_request()

    # When it is accepted
    result = _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then it succeeds with nothing stored
    assert (result.stored, result.duplicates, result.rejected) == (0, 0, [])
    assert raw_store.events == {}
