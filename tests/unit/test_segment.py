"""Segment/RudderStack HTTP API: request parsing and per-event validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest
from cdp.events.segment import CALL_TYPES, MAX_EVENT_BYTES, InvalidEvent, parse_request, validate_event
from hypothesis import given
from hypothesis import strategies as st

RECEIVED_MS = 1_714_561_200_000  # 2024-05-01T11:00:00.000Z
RECEIVED_ISO = "2024-05-01T11:00:00.000Z"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _body(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _validate(item: Any, *, single_call: str | None = None, shared: dict[str, Any] | None = None) -> dict[str, Any]:
    return validate_event(item, single_call=single_call, shared=shared or {}, received_at_ms=RECEIVED_MS)


def _rejection(item: Any, *, single_call: str | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as raised:
        _validate(item, single_call=single_call)
    return raised.value


TRACK = {"type": "track", "userId": "M0001", "event": "Product Viewed", "properties": {"sku": "TS-001"}}


# parse_request ------------------------------------------------------------------------------
@pytest.mark.parametrize("call", CALL_TYPES)
def test_single_call_body_is_one_event_of_that_call(call: str) -> None:
    # Given the body of /v1/<call>, with the write key in the body
    document = {"userId": "M0001", "writeKey": "wk_live_x", "context": {"channel": "pos"}}

    # When it is parsed
    request = parse_request(call, _body(document))

    # Then it is one event, typed by the path, with batch-level context left empty
    assert request.items == [document]
    assert request.single_call == call
    assert request.shared == {}
    assert request.body_write_key == "wk_live_x"


@pytest.mark.parametrize("call", ["batch", "import"])
def test_batch_body_is_its_events_with_shared_fields(call: str) -> None:
    # Given a /v1/batch (or /v1/import) body with batch-level context, integrations and sentAt
    batch = [{"type": "identify", "userId": "M0001"}, {"type": "track", "userId": "M0001", "event": "Signed Up"}]
    document = {
        "batch": batch,
        "context": {"library": {"name": "analytics-python", "version": "2.3.2"}},
        "integrations": {"All": True},
        "sentAt": "2024-05-01T10:59:59.000Z",
        "writeKey": "wk_live_x",
        "messageId": "batch-level ids are not shared",
    }

    # When it is parsed
    request = parse_request(call, _body(document))

    # Then each batch entry is one item, and only context/integrations/sentAt are shared
    assert request.items == batch
    assert request.single_call is None
    assert request.shared == {
        "context": document["context"],
        "integrations": {"All": True},
        "sentAt": "2024-05-01T10:59:59.000Z",
    }
    assert request.body_write_key == "wk_live_x"


@pytest.mark.parametrize("write_key", [None, "", 42])
def test_body_write_key_must_be_a_non_empty_string(write_key: Any) -> None:
    # Given a body whose writeKey is absent, empty or not a string
    # When it is parsed
    request = parse_request("track", _body({"userId": "u", "event": "e", "writeKey": write_key}))

    # Then there is no body write key
    assert request.body_write_key is None


@pytest.mark.parametrize(
    ("call", "body", "code"),
    [
        pytest.param("track", b"{oops", "invalid_json", id="not-json"),
        pytest.param("track", b"\xff\xfe", "invalid_json", id="not-utf8"),
        pytest.param("track", b"", "invalid_body", id="empty"),
        pytest.param("track", b"[1, 2]", "invalid_body", id="array"),
        pytest.param("batch", b"null", "invalid_body", id="null"),
        pytest.param("batch", b'{"batch": {"type": "track"}}', "invalid_batch", id="batch-object"),
        pytest.param("batch", b'{"events": []}', "invalid_batch", id="batch-missing"),
        pytest.param("import", b'{"batch": "[]"}', "invalid_batch", id="batch-string"),
        pytest.param("purchase", b"{}", "unknown_call", id="unknown-call"),
    ],
)
def test_unreadable_body_is_a_bad_request(call: str, body: bytes, code: str) -> None:
    # Given a body that cannot be read as a Segment call
    # When it is parsed
    with pytest.raises(BadRequest) as raised:
        parse_request(call, body)

    # Then the whole request is a 400 with a machine-readable code
    assert raised.value.status == 400
    assert raised.value.code == code


# validate_event: rejections -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("item", "single_call", "code", "field"),
    [
        pytest.param(["not", "an", "event"], None, "invalid_event", None, id="not-object"),
        pytest.param({"type": "track", "event": "x"}, None, "missing_identity", "userId", id="no-ids"),
        pytest.param(
            {"type": "track", "event": "x", "userId": "  ", "anonymousId": ""},
            None,
            "missing_identity",
            "userId",
            id="blank-ids",
        ),
        pytest.param({"type": "track", "userId": "u"}, None, "missing_event_name", "event", id="no-event"),
        pytest.param({"type": "track", "userId": "u", "event": "  "}, None, "missing_event_name", "event", id="blank"),
        pytest.param({"type": "track", "userId": "u", "event": 7}, None, "missing_event_name", "event", id="nonstr"),
        pytest.param({"type": "track", "userId": "u", "event": "e" * 201}, None, "invalid_field", "event", id="long"),
        pytest.param({"type": "purchase", "userId": "u"}, None, "invalid_type", "type", id="invalid-type"),
        pytest.param({"userId": "u", "event": "x"}, None, "missing_type", "type", id="missing-type-in-batch"),
        pytest.param({"type": "identify", "userId": "u"}, "track", "type_mismatch", "type", id="type-mismatch"),
        pytest.param({"type": "identify", "userId": "u", "traits": [1]}, None, "invalid_field", "traits", id="traits"),
        pytest.param(
            {"type": "track", "userId": "u", "event": "x", "properties": "p"},
            None,
            "invalid_field",
            "properties",
            id="properties",
        ),
        pytest.param({"type": "page", "userId": "u", "context": 1}, None, "invalid_field", "context", id="context"),
        pytest.param({"type": "page", "userId": "u", "name": 3}, None, "invalid_field", "name", id="page-name"),
        pytest.param({"type": "track", "userId": True, "event": "x"}, None, "invalid_identifier", "userId", id="bool"),
        pytest.param(
            {"type": "track", "userId": {"id": 1}, "event": "x"}, None, "invalid_identifier", "userId", id="object-id"
        ),
        pytest.param(
            {"type": "track", "anonymousId": "a" * 513, "event": "x"},
            None,
            "invalid_identifier",
            "anonymousId",
            id="id-too-long",
        ),
        pytest.param({"type": "alias", "userId": "M0001"}, None, "missing_field", "previousId", id="alias-previous"),
        pytest.param(
            {"type": "alias", "anonymousId": "a1", "previousId": "a0"},
            None,
            "missing_field",
            "previousId",
            id="alias-user",
        ),
        pytest.param({"type": "group", "userId": "u"}, None, "missing_field", "groupId", id="group"),
        pytest.param({"type": "group", "userId": "u", "groupId": " "}, None, "missing_field", "groupId", id="group-bl"),
        pytest.param({**TRACK, "timestamp": 1714557600}, None, "invalid_timestamp", "timestamp", id="ts-number"),
        pytest.param({**TRACK, "timestamp": "yesterday"}, None, "invalid_timestamp", "timestamp", id="ts-text"),
        pytest.param(
            {**TRACK, "originalTimestamp": "1999-12-31T23:59:59Z"},
            None,
            "invalid_timestamp",
            "originalTimestamp",
            id="ts-too-old",
        ),
        pytest.param({**TRACK, "sentAt": "2101-01-01T00:00:00Z"}, None, "invalid_timestamp", "sentAt", id="ts-late"),
        pytest.param({**TRACK, "messageId": ""}, None, "invalid_message_id", "messageId", id="msgid-empty"),
        pytest.param({**TRACK, "messageId": "   "}, None, "invalid_message_id", "messageId", id="msgid-blank"),
        pytest.param({**TRACK, "messageId": 12345}, None, "invalid_message_id", "messageId", id="msgid-number"),
        pytest.param({**TRACK, "messageId": "m" * 201}, None, "invalid_message_id", "messageId", id="msgid-long"),
    ],
)
def test_invalid_event_is_rejected_with_its_reason(
    item: Any, single_call: str | None, code: str, field: str | None
) -> None:
    # Given an event that breaks one rule of the Segment spec
    # When it is validated
    rejection = _rejection(item, single_call=single_call)

    # Then it is rejected with the rule's code and the offending field
    assert rejection.code == code
    assert rejection.field == field
    assert rejection.message


def test_event_over_32_kb_is_rejected_and_one_just_under_is_accepted() -> None:
    # Given two track events whose serialised size straddles the 32 KB limit
    def sized(padding: int) -> dict[str, Any]:
        return {**TRACK, "messageId": "m-1", "properties": {"note": "x" * padding}}

    base = len(json.dumps(_validate(sized(0)), ensure_ascii=False, separators=(",", ":")).encode())
    fits, too_big = sized(MAX_EVENT_BYTES - base), sized(MAX_EVENT_BYTES - base + 1)

    # When they are validated
    accepted = _validate(fits)
    rejection = _rejection(too_big)

    # Then the one at the limit passes and the one byte over is event_too_large
    assert len(json.dumps(accepted, ensure_ascii=False, separators=(",", ":")).encode()) == MAX_EVENT_BYTES
    assert rejection.code == "event_too_large"


def test_multibyte_text_counts_in_utf8_bytes() -> None:
    # Given an event whose properties are 11,000 Chinese characters (33,000 UTF-8 bytes)
    item = {**TRACK, "properties": {"comment": "好" * 11_000}}

    # When it is validated
    rejection = _rejection(item)

    # Then the limit is applied to bytes, not characters
    assert rejection.code == "event_too_large"


# validate_event: what is stored -------------------------------------------------------------
def test_single_call_takes_its_type_from_the_path() -> None:
    # Given a /v1/identify body without a `type`
    # When it is validated as an identify call
    event = _validate({"userId": "M0001", "traits": {"name": "林小美"}}, single_call="identify")

    # Then it is an identify event
    assert event["type"] == "identify"


def test_client_cannot_set_server_fields() -> None:
    # Given an event that claims its own receivedAt and carries a writeKey
    item = {**TRACK, "receivedAt": "2001-01-01T00:00:00Z", "writeKey": "wk_live_secret"}

    # When it is validated
    event = _validate(item)

    # Then receivedAt is the server's and the write key is not stored with the event
    assert event["receivedAt"] == RECEIVED_ISO
    assert "writeKey" not in event


@pytest.mark.parametrize(("user_id", "expected"), [(12345, "12345"), ("  M0001  ", "M0001"), (0, "0")])
def test_user_id_is_coerced_to_a_trimmed_string(user_id: Any, expected: str) -> None:
    # Given an event with a numeric or padded userId (many SDKs and POS systems send numbers)
    # When it is validated
    event = _validate({**TRACK, "userId": user_id})

    # Then the stored userId is the trimmed string
    assert event["userId"] == expected


def test_blank_user_id_is_dropped_when_an_anonymous_id_identifies_the_event() -> None:
    # Given an event with an empty userId and an anonymousId
    # When it is validated
    event = _validate({"type": "page", "userId": "", "anonymousId": " a-123 ", "name": "Home"})

    # Then the blank userId is removed and the anonymousId is trimmed
    assert "userId" not in event
    assert event["anonymousId"] == "a-123"


def test_alias_and_group_with_their_fields_are_accepted() -> None:
    # Given well-formed alias and group calls
    alias = _validate({"type": "alias", "userId": "M0001", "previousId": "anon-42"})
    group = _validate({"type": "group", "userId": "M0001", "groupId": 9001, "traits": {"name": "衣著A 企業會員"}})

    # Then they are kept, the numeric groupId as a string
    assert (alias["userId"], alias["previousId"]) == ("M0001", "anon-42")
    assert group["groupId"] == "9001"


# timestamps ---------------------------------------------------------------------------------
def test_clock_skew_is_corrected_from_sent_at_and_original_timestamp() -> None:
    # Given a device whose clock is 2 h 30 min behind, which queued an event for 5 s before sending
    item = {**TRACK, "originalTimestamp": "2024-05-01T08:29:55.000Z", "sentAt": "2024-05-01T08:30:00.000Z"}

    # When the server receives it at 11:00:00
    event = _validate(item)

    # Then timestamp = receivedAt - (sentAt - originalTimestamp) = 10:59:55
    assert event["timestamp"] == "2024-05-01T10:59:55.000Z"
    assert event["originalTimestamp"] == item["originalTimestamp"]


def test_explicit_timestamp_wins_over_skew_correction() -> None:
    # Given an event with its own timestamp (a server-side import of a past order)
    item = {
        **TRACK,
        "timestamp": "2024-04-30T20:15:00+08:00",
        "originalTimestamp": "2024-05-01T08:29:55Z",
        "sentAt": "2024-05-01T08:30:00Z",
    }

    # When it is validated
    event = _validate(item)

    # Then the timestamp is the client's, normalised to UTC with milliseconds
    assert event["timestamp"] == "2024-04-30T12:15:00.000Z"


def test_original_timestamp_without_sent_at_is_taken_as_is() -> None:
    # Given an event with originalTimestamp only
    # When it is validated
    event = _validate({**TRACK, "originalTimestamp": "2024-05-01T10:00:00.250Z"})

    # Then there is nothing to correct with
    assert event["timestamp"] == "2024-05-01T10:00:00.250Z"


def test_event_without_any_time_is_timed_at_reception() -> None:
    # Given an event with no time at all (sentAt alone says nothing about when it happened)
    # When it is validated
    event = _validate({**TRACK, "sentAt": "2024-05-01T10:59:00Z"})

    # Then it happened when it was received
    assert event["timestamp"] == RECEIVED_ISO


def test_zone_less_timestamp_is_read_as_utc() -> None:
    # Given a timestamp without an offset
    # When it is validated
    event = _validate({**TRACK, "timestamp": "2024-05-01T09:00:00"})

    # Then it is read as UTC, as Segment does
    assert event["timestamp"] == "2024-05-01T09:00:00.000Z"


@given(
    st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)  # 2000-01-01 .. 2099-12-31, in ms
)
def test_explicit_timestamp_keeps_its_exact_millisecond(ms: int) -> None:
    # Given any client timestamp in the accepted range, with millisecond precision
    moment = EPOCH + timedelta(milliseconds=ms)
    item = {**TRACK, "messageId": "m", "timestamp": moment.isoformat().replace("+00:00", "Z")}

    # When it is validated
    event = _validate(item)

    # Then the stored timestamp is that same millisecond (no float rounding down)
    assert event["timestamp"] == iso_from_ms(ms)


@given(
    original_ms=st.integers(min_value=1_600_000_000_000, max_value=1_800_000_000_000),
    queued_ms=st.integers(min_value=0, max_value=7 * 86_400_000),
)
def test_skew_correction_preserves_the_queueing_delay(original_ms: int, queued_ms: int) -> None:
    # Given an event created at any device time and sent after any queueing delay
    def iso(ms: int) -> str:
        return (EPOCH + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")

    item = {**TRACK, "originalTimestamp": iso(original_ms), "sentAt": iso(original_ms + queued_ms)}

    # When it is validated
    event = _validate(item)

    # Then the event is placed exactly that delay before reception, whatever the device clock said
    assert event["timestamp"] == iso_from_ms(RECEIVED_MS - queued_ms)


# messageId ----------------------------------------------------------------------------------
def test_client_message_id_is_kept() -> None:
    # Given an event with its own messageId
    # When it is validated
    event = _validate({**TRACK, "messageId": " ajs-next-1714557600000-4a5b "})

    # Then that id (trimmed) is the dedup key
    assert event["messageId"] == "ajs-next-1714557600000-4a5b"


def test_retry_of_a_timed_event_without_message_id_gets_the_same_id() -> None:
    # Given an event without messageId, sent, then retried by the SDK with a later sentAt
    item = {**TRACK, "originalTimestamp": "2024-05-01T10:58:00.000Z"}
    first = _validate({**item, "sentAt": "2024-05-01T10:58:01.000Z"})
    retry = validate_event(
        {**item, "sentAt": "2024-05-01T10:59:30.000Z"}, single_call=None, shared={}, received_at_ms=RECEIVED_MS + 90_000
    )

    # Then both get the same generated id, so the retry dedups
    assert first["messageId"].startswith("cdp-")
    assert first["messageId"] == retry["messageId"]


def test_different_timed_events_get_different_ids() -> None:
    # Given two timed events that differ only in a property
    a = _validate({**TRACK, "timestamp": "2024-05-01T10:00:00Z", "properties": {"sku": "A"}})
    b = _validate({**TRACK, "timestamp": "2024-05-01T10:00:00Z", "properties": {"sku": "B"}})

    # Then their generated ids differ
    assert a["messageId"] != b["messageId"]


def test_untimed_events_without_message_id_get_fresh_ids() -> None:
    # Given the same untimed event sent twice (nothing tells a retry from a second action)
    a, b = _validate(dict(TRACK)), _validate(dict(TRACK))

    # Then each gets its own generated id
    assert a["messageId"].startswith("cdp-")
    assert b["messageId"].startswith("cdp-")
    assert a["messageId"] != b["messageId"]


# batch-level fields -------------------------------------------------------------------------
def test_batch_context_is_merged_into_each_event_with_event_keys_winning() -> None:
    # Given batch-level context/integrations/sentAt and an event that overrides some of them
    shared = {
        "context": {"channel": "web", "library": {"name": "analytics-python"}, "ip": "203.0.113.7"},
        "integrations": {"All": True},
        "sentAt": "2024-05-01T10:59:59.000Z",
    }
    own = {**TRACK, "context": {"channel": "pos", "store_id": "TPE-101"}, "integrations": {"LINE": False}}
    plain = {**TRACK, "messageId": "plain-1"}

    # When the events are validated with the shared fields
    merged = _validate(own, shared=shared)
    defaulted = _validate(plain, shared=shared)

    # Then the batch fills in what the event lacks and the event's own keys win
    assert merged["context"] == {
        "channel": "pos",
        "library": {"name": "analytics-python"},
        "ip": "203.0.113.7",
        "store_id": "TPE-101",
    }
    assert merged["integrations"] == {"All": True, "LINE": False}
    assert merged["sentAt"] == "2024-05-01T10:59:59.000Z"
    assert defaulted["context"] == shared["context"]
    assert defaulted["context"] is not shared["context"]


def test_event_sent_at_wins_over_the_batch_sent_at() -> None:
    # Given an event with its own sentAt in a batch with another
    shared = {"sentAt": "2024-05-01T10:59:59.000Z"}
    item = {**TRACK, "originalTimestamp": "2024-05-01T10:59:00.000Z", "sentAt": "2024-05-01T10:59:30.000Z"}

    # When it is validated
    event = _validate(item, shared=shared)

    # Then its own sentAt is kept and used for the skew correction (30 s queued)
    assert event["sentAt"] == "2024-05-01T10:59:30.000Z"
    assert event["timestamp"] == "2024-05-01T10:59:30.000Z"


def test_batch_context_does_not_hide_a_non_object_event_context() -> None:
    # Given an event whose own context is not an object, in a batch that has a context
    # When it is validated
    with pytest.raises(InvalidEvent) as raised:
        _validate({**TRACK, "context": "web"}, shared={"context": {"channel": "web"}})

    # Then the event's own bad value is judged, not silently replaced by the batch's
    assert (raised.value.code, raised.value.field) == ("invalid_field", "context")


def test_validation_does_not_mutate_the_request_item() -> None:
    # Given a batch item
    item = {**TRACK, "userId": 42, "receivedAt": "x", "context": {"channel": "pos"}}
    before = json.loads(json.dumps(item))

    # When it is validated with shared context
    _validate(item, shared={"context": {"ip": "203.0.113.7"}})

    # Then the caller's item is unchanged (a retry of the same dict validates the same way)
    assert item == before
