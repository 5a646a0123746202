"""Regressions for defects found in review: each would have lost good events or crashed a path."""

from __future__ import annotations

import json

import pytest
from cdp.errors import BadRequest, Unauthorized
from cdp.events.canonical import EventNormalizer
from cdp.events.line_webhook import parse_delivery
from cdp.events.raw import RawEvent
from cdp.events.segment import InvalidEvent, parse_request, validate_event
from cdp.identity.identifiers import MAX_IDENTIFIERS_PER_EVENT, IdentifierNormalizer
from cdp.ingestion.channels import WriteKeys
from cdp.ingestion.partner import accept_partner_call

from tests.fakes import FakeRawEventStore, FixedClock


def test_lone_surrogate_is_rejected_by_index_and_does_not_sink_the_batch(write_keys: WriteKeys) -> None:
    # Given a batch whose second event carries a lone surrogate (valid JSON, not valid Unicode)
    body = b'{"batch":[{"type":"track","userId":"u1","event":"ok"},{"type":"track","userId":"u2","event":"\\ud800"}]}'
    store = FakeRawEventStore()
    # When it is accepted with a good key in the body
    document = json.loads(body)
    document["writeKey"] = next(iter(write_keys._known()))
    result = accept_partner_call(
        call="batch",
        body=json.dumps(document).encode(),
        header_write_key=None,
        write_keys=write_keys,
        store=store,
        clock=FixedClock(),
    )
    # Then the good event is stored and the bad one is named
    assert result.accepted == 1
    assert [(r.index, r.error) for r in result.rejected] == [(1, "invalid_encoding")]


def test_lone_surrogate_single_event_is_invalid_encoding() -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(
            {"type": "track", "userId": "u", "event": "\ud800"}, single_call=None, shared={}, received_at_ms=1
        )
    assert caught.value.code == "invalid_encoding"


def test_deeply_nested_bodies_are_a_400_not_a_crash() -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BadRequest):
        parse_request("batch", b'{"batch":' + nested + b"}")
    with pytest.raises(BadRequest):
        parse_delivery(b'{"destination":"U1","events":' + nested + b"}")


def test_wrong_header_key_is_refused_before_the_body_is_parsed(write_keys: WriteKeys) -> None:
    with pytest.raises(Unauthorized):
        accept_partner_call(
            call="batch",
            body=b"not json at all",
            header_write_key="wrong-key",
            write_keys=write_keys,
            store=FakeRawEventStore(),
            clock=FixedClock(),
        )


def test_an_event_names_at_most_a_bounded_number_of_identifiers() -> None:
    # Given an identify with 150 external ids (a transaction holds at most 100 items)
    external = [{"type": "idfa", "id": f"idfa-{i}"} for i in range(150)]
    payload = {"type": "identify", "userId": "M1", "messageId": "m", "context": {"externalIds": external}}
    raw = RawEvent("partner#s#m", "partner", "s", "2026-11-23T00:00:00.000Z", payload)
    # When normalised
    event = EventNormalizer(IdentifierNormalizer("TW")).normalize(raw)
    # Then only the first identifiers are kept and the rest are reported
    assert len(event.identifiers) == MAX_IDENTIFIERS_PER_EVENT
    assert {r.reason for r in event.rejected_identifiers} == {"too_many_identifiers"}


def test_far_future_line_timestamp_is_set_aside() -> None:
    body = json.dumps(
        {
            "destination": "U1",
            "events": [{"type": "follow", "timestamp": 10**15, "webhookEventId": "01X", "mode": "active"}],
        }
    ).encode()
    delivery = parse_delivery(body)
    assert delivery.events == [] and delivery.rejected[0].index == 0
