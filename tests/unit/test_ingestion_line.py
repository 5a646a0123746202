"""accept_line_delivery: channel lookup, signature, per-event storage, dedup on webhookEventId."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, NotFound, Unauthorized
from cdp.events.line_webhook import MAX_EVENT_BYTES
from cdp.events.raw import line_event_id
from cdp.ingestion.channels import REFRESH_INTERVAL_MS, ChannelMisconfigured, LineChannels
from cdp.ingestion.line import accept_line_delivery

from tests.fakes import FakeSecrets
from tests.fixtures import line_events as line
from tests.fixtures.line_events import BOT_USER_ID, CHANNEL_SECRET
from tests.unit.builders import LINE_CHANNEL, LINE_CHANNELS_SECRET_ID, LINE_PROVIDER, NOW_MS, SECOND_CHANNEL

if TYPE_CHECKING:
    from tests.unit.conftest import FakeRawEventStore, FakeRejectionLog, FixedClock


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


def test_channel_without_provider_id_is_refused_with_the_missing_setting(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a channel configured without `providerId`
    body, signature = line.signed_delivery("f" * 32, [line.follow()])

    # When a delivery for it is accepted
    with pytest.raises(ChannelMisconfigured) as raised:
        _accept(body, signature, channels=line_channels, store=raw_store, clock=clock, channel="no-provider-oa")

    # Then nothing is stored under a guessed provider, and the answer names the missing setting
    assert raw_store.events == {}
    assert raised.value.code == "line_channel_misconfigured"
    assert raised.value.details == {"channel": "no-provider-oa", "missing": "providerId"}


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
    b = _accept(body_b, signature_b, channels=line_channels, store=raw_store, clock=clock, channel=SECOND_CHANNEL)

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


# a channel filled in (or a secret rotated) while the channels secret is cached ---------------
def _stale_channels(clock: FixedClock, channels: dict[str, Any]) -> tuple[FakeSecrets, LineChannels]:
    secrets = FakeSecrets({LINE_CHANNELS_SECRET_ID: channels}, caching=True)
    line_channels = LineChannels(secrets, LINE_CHANNELS_SECRET_ID, clock)
    line_channels.find(LINE_CHANNEL)  # the container read (and cached) the secret before the change
    return secrets, line_channels


def test_new_channel_is_found_after_one_refresh(raw_store: FakeRawEventStore, clock: FixedClock) -> None:
    # Given a cached channels secret, then an operator adds a channel
    secrets, channels = _stale_channels(clock, {})
    secrets.values[LINE_CHANNELS_SECRET_ID] = {
        LINE_CHANNEL: {"channelSecret": CHANNEL_SECRET, "providerId": LINE_PROVIDER}
    }
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When LINE's Verify (or the first delivery) arrives
    result = _accept(body, signature, channels=channels, store=raw_store, clock=clock)

    # Then the secret was re-read once and the event stored
    assert result.stored == 1
    assert secrets.refreshes == [LINE_CHANNELS_SECRET_ID]


def test_rotated_secret_is_read_again_on_a_failed_signature(raw_store: FakeRawEventStore, clock: FixedClock) -> None:
    # Given a cached channel secret, then the operator rotates it
    secrets, channels = _stale_channels(
        clock, {LINE_CHANNEL: {"channelSecret": "old" * 8, "providerId": LINE_PROVIDER}}
    )
    secrets.values[LINE_CHANNELS_SECRET_ID] = {
        LINE_CHANNEL: {"channelSecret": CHANNEL_SECRET, "providerId": LINE_PROVIDER}
    }
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When a delivery signed with the new secret arrives
    result = _accept(body, signature, channels=channels, store=raw_store, clock=clock)

    # Then it is verified against the fresh secret
    assert result.stored == 1
    assert secrets.refreshes == [LINE_CHANNELS_SECRET_ID]


def test_refresh_is_rate_limited_per_container(raw_store: FakeRawEventStore, clock: FixedClock) -> None:
    # Given a stranger probing channel names that do not exist
    secrets, channels = _stale_channels(clock, {})
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When three probes arrive within the refresh interval, and one after it
    for _ in range(3):
        with pytest.raises(NotFound):
            _accept(body, signature, channels=channels, store=raw_store, clock=clock, channel="nope")
        clock.advance(REFRESH_INTERVAL_MS // 4)
    clock.advance(REFRESH_INTERVAL_MS)
    with pytest.raises(NotFound):
        _accept(body, signature, channels=channels, store=raw_store, clock=clock, channel="nope")

    # Then the secret was re-read once per interval, not once per probe
    assert secrets.refreshes == [LINE_CHANNELS_SECRET_ID] * 2


def test_valid_signature_never_refreshes(
    line_channels: LineChannels, secrets: FakeSecrets, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a known channel and a correctly signed delivery
    channels = LineChannels(secrets, LINE_CHANNELS_SECRET_ID, clock)
    body, signature = line.signed_delivery(CHANNEL_SECRET, [line.follow()])

    # When it is accepted
    _accept(body, signature, channels=channels, store=raw_store, clock=clock)

    # Then the cache was trusted
    assert secrets.refreshes == []


# values no store can keep, and an event too large for one item --------------------------------
@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("\ud800", "invalid_encoding", id="lone-surrogate"),
        pytest.param(float("nan"), "non_finite_number", id="nan"),
        pytest.param(2**64, "integer_out_of_range", id="2^64"),
    ],
)
def test_unstorable_value_in_one_event_refuses_that_event_alone(
    text: Any, code: str, line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a signed delivery whose second event carries an unstorable value
    good = line.follow()
    bad = line.text_message()
    bad["message"]["text"] = text
    # ASCII-escaped as a sender may write it: `\ud800`, `NaN` and big integers are valid to json
    body = json.dumps({"destination": line.BOT_USER_ID, "events": [good, bad]}).encode()
    signature = line.sign(CHANNEL_SECRET, body)

    # When it is accepted
    result = _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then the good event is stored and the bad one is named with its field
    assert result.stored == 1
    (rejected,) = result.rejected
    assert (rejected.index, rejected.reason, rejected.field) == (1, code, "/events/1/message/text")
    assert not rejected.conformant


def test_event_over_the_size_limit_is_refused_alone_and_the_delivery_is_conformant(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a signed delivery with one event larger than a stored item can hold (DynamoDB: 400 KB)
    good = line.follow()
    huge = line.text_message("長" * (MAX_EVENT_BYTES // 3 + 1))
    body, signature = line.signed_delivery(CHANNEL_SECRET, [good, huge])

    # When it is accepted
    result = _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)

    # Then only the oversized event is refused, as LINE-conformant (the delivery is answered 200)
    assert result.stored == 1
    (rejected,) = result.rejected
    assert (rejected.index, rejected.reason, rejected.conformant) == (1, "event_too_large", True)
    assert list(raw_store.events) == [line_event_id(LINE_CHANNEL, good["webhookEventId"])]


def test_deeply_nested_delivery_is_a_400_not_a_crash(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a signed body nested 10,000 levels deep
    body = b'{"destination": "U1", "events": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    signature = line.sign(CHANNEL_SECRET, body)

    # When / Then
    with pytest.raises(BadRequest) as raised:
        _accept(body, signature, channels=line_channels, store=raw_store, clock=clock)
    assert raised.value.code == "json_too_deep"


def test_refused_events_are_recorded_with_their_id_and_type_but_not_their_content(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock, rejection_log: FakeRejectionLog
) -> None:
    # Given a verified delivery with a good event, a malformed one and one too large to store
    good = line.follow()
    bad_mode = line.postback(mode="replay")
    huge = line.text_message("長" * (MAX_EVENT_BYTES // 3 + 1))
    body, signature = line.signed_delivery(CHANNEL_SECRET, [good, bad_mode, huge])

    # When it is accepted with a rejections log
    accept_line_delivery(
        channel_name=LINE_CHANNEL,
        body=body,
        signature=signature,
        channels=line_channels,
        store=raw_store,
        clock=clock,
        rejections=rejection_log,
    )

    # Then each refusal is kept with the channel, the event's id and type, and no text
    assert [(r.index, r.error, r.message_id, r.type, r.source, r.call) for r in rejection_log.records] == [
        (1, "invalid_event", bad_mode["webhookEventId"], "postback", LINE_CHANNEL, "line_webhook"),
        (2, "event_too_large", huge["webhookEventId"], "message", LINE_CHANNEL, "line_webhook"),
    ]
    assert "長" not in json.dumps([r.as_dict() for r in rejection_log.records], ensure_ascii=False)


def test_nothing_is_recorded_for_an_unsigned_delivery(
    line_channels: LineChannels, raw_store: FakeRawEventStore, clock: FixedClock, rejection_log: FakeRejectionLog
) -> None:
    body, _ = line.signed_delivery(CHANNEL_SECRET, [line.postback(mode="replay")])

    with pytest.raises(Unauthorized):
        accept_line_delivery(
            channel_name=LINE_CHANNEL,
            body=body,
            signature="forged",
            channels=line_channels,
            store=raw_store,
            clock=clock,
            rejections=rejection_log,
        )

    assert rejection_log.records == []
