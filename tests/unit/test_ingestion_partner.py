"""accept_partner_call: write keys, per-event validation, per-index rejections, dedup on messageId."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, Unauthorized
from cdp.events.raw import partner_event_id
from cdp.ingestion.channels import WriteKeys, write_key_from_basic_auth
from cdp.ingestion.partner import accept_partner_call
from cdp.ingestion.rejections import MAX_RECORDED_PER_REQUEST

from tests.unit.builders import NOW_MS, POS_SOURCE, POS_WRITE_KEY, WRITE_KEY, WRITE_KEY_SOURCE

if TYPE_CHECKING:
    from tests.unit.conftest import FakeRawEventStore, FakeRejectionLog, FixedClock


def _body(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _call(
    call: str,
    document: Any,
    *,
    write_keys: WriteKeys,
    store: FakeRawEventStore,
    clock: FixedClock,
    header_key: str | None = WRITE_KEY,
):
    return accept_partner_call(
        call=call,
        body=_body(document),
        header_write_key=header_key,
        write_keys=write_keys,
        store=store,
        clock=clock,
    )


ORDER = {
    "type": "track",
    "userId": "M0001",
    "event": "Order Completed",
    "messageId": "pos-TPE101-000123",
    "timestamp": "2024-05-01T18:30:00+08:00",
    "properties": {"order_id": "TPE101-000123", "revenue": 5000, "currency": "TWD", "store_id": "TPE-101"},
    "context": {"channel": "pos"},
}


def test_mixed_batch_stores_good_events_and_reports_bad_ones_by_index(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a batch of five where the 2nd has no identity and the 4th has an unknown type
    batch = [
        {"type": "identify", "userId": "M0001", "messageId": "m-1", "traits": {"email": "amy@example.com"}},
        {"type": "track", "event": "Product Viewed", "messageId": "m-2"},
        {"type": "page", "anonymousId": "a-77", "name": "Home", "messageId": "m-3"},
        {"type": "purchase", "userId": "M0001", "messageId": "m-4"},
        ORDER,
    ]

    # When the batch is accepted
    result = _call("batch", {"batch": batch}, write_keys=write_keys, store=raw_store, clock=clock)

    # Then the three good events are stored and the two bad ones are named with their reason
    assert result.source == WRITE_KEY_SOURCE
    assert result.accepted == 3
    assert result.duplicates == 0
    assert [(r.index, r.error, r.field) for r in result.rejected] == [
        (1, "missing_identity", "userId"),
        (3, "invalid_type", "type"),
    ]
    assert set(raw_store.events) == {
        partner_event_id(WRITE_KEY_SOURCE, message_id) for message_id in ("m-1", "m-3", "pos-TPE101-000123")
    }
    body = result.as_dict()
    assert body["success"] is False
    assert body["rejected"][0] == {
        "index": 1,
        "error": "missing_identity",
        "message": "`userId` or `anonymousId` is required",
        "field": "userId",
    }


def test_stored_event_carries_source_reception_time_and_validated_payload(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a POS order sent with the POS write key
    # When it is accepted
    result = _call("track", ORDER, write_keys=write_keys, store=raw_store, clock=clock, header_key=POS_WRITE_KEY)

    # Then it is stored as a partner event of the POS source, with server fields set
    assert (result.accepted, result.as_dict()["success"]) == (1, True)
    raw = raw_store.events[partner_event_id(POS_SOURCE, "pos-TPE101-000123")]
    assert (raw.origin, raw.source, raw.received_at) == ("partner", POS_SOURCE, iso_from_ms(NOW_MS))
    assert raw.payload["receivedAt"] == iso_from_ms(NOW_MS)
    assert raw.payload["timestamp"] == "2024-05-01T10:30:00.000Z"
    assert raw.payload["properties"] == ORDER["properties"]
    assert raw.destination is None and raw.provider is None


@pytest.mark.parametrize(
    ("call", "document", "code"),
    [
        ("track", {"userId": "M0001"}, "missing_event_name"),
        ("identify", {"traits": {"name": "Amy"}}, "missing_identity"),
        ("track", {"type": "identify", "userId": "M0001", "event": "x"}, "type_mismatch"),
        ("alias", {"userId": "M0001"}, "missing_field"),
    ],
)
def test_invalid_single_call_is_a_bad_request(
    call: str,
    document: dict[str, Any],
    code: str,
    write_keys: WriteKeys,
    raw_store: FakeRawEventStore,
    clock: FixedClock,
) -> None:
    # Given a single call (/v1/<call>) whose one event is invalid
    # When it is accepted
    with pytest.raises(BadRequest) as raised:
        _call(call, document, write_keys=write_keys, store=raw_store, clock=clock)

    # Then the whole request is a 400 carrying the event's reason, and nothing is stored
    assert raised.value.status == 400
    assert raised.value.code == code
    assert "field" in raised.value.details
    assert raw_store.events == {}


def test_write_key_from_the_body_is_accepted(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a call without an Authorization header but with `writeKey` in the body
    document = {**ORDER, "writeKey": POS_WRITE_KEY}

    # When it is accepted
    result = _call("track", document, write_keys=write_keys, store=raw_store, clock=clock, header_key=None)

    # Then the body's key identifies the source, and the key is not stored with the event
    assert result.source == POS_SOURCE
    (raw,) = raw_store.events.values()
    assert "writeKey" not in raw.payload


def test_header_write_key_takes_precedence_over_the_body(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a valid Basic-auth key and a different valid key in the body
    document = {**ORDER, "writeKey": POS_WRITE_KEY}

    # When it is accepted
    result = _call("track", document, write_keys=write_keys, store=raw_store, clock=clock, header_key=WRITE_KEY)

    # Then the header's key decides the source
    assert result.source == WRITE_KEY_SOURCE


@pytest.mark.parametrize(
    ("header_key", "body_key"),
    [(None, None), ("wk_live_wrong", None), (None, "wk_live_wrong"), ("wk_live_wrong", POS_WRITE_KEY)],
)
def test_missing_or_wrong_write_key_is_unauthorized(
    header_key: str | None, body_key: str | None, write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a call with no key or an unknown key (a wrong header key is not rescued by the body)
    document = {**ORDER, **({"writeKey": body_key} if body_key else {})}

    # When it is accepted
    with pytest.raises(Unauthorized) as raised:
        _call("track", document, write_keys=write_keys, store=raw_store, clock=clock, header_key=header_key)

    # Then it is a 401 invalid_write_key and nothing is stored
    assert raised.value.status == 401
    assert raised.value.code == "invalid_write_key"
    assert raw_store.events == {}


def test_unreadable_body_is_a_bad_request_even_before_authentication(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a batch body whose `batch` is not an array
    # When it is accepted
    with pytest.raises(BadRequest) as raised:
        _call("batch", {"batch": {"type": "track"}}, write_keys=write_keys, store=raw_store, clock=clock)

    # Then it is refused as a whole
    assert raised.value.code == "invalid_batch"


def test_duplicate_message_ids_within_a_batch_and_across_calls_are_counted_as_duplicates(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a batch that carries the same order twice, then an SDK retry of the whole batch
    view = {"type": "track", "anonymousId": "a-77", "event": "Product Viewed", "messageId": "m-view"}
    batch = {"batch": [ORDER, view, ORDER]}

    # When both calls are accepted
    first = _call("batch", batch, write_keys=write_keys, store=raw_store, clock=clock)
    clock.advance(5_000)
    retry = _call("batch", batch, write_keys=write_keys, store=raw_store, clock=clock)

    # Then each event is stored once; the in-batch copy and the whole retry are duplicates
    assert (first.accepted, first.duplicates, first.rejected) == (2, 1, [])
    assert (retry.accepted, retry.duplicates, retry.rejected) == (0, 3, [])
    assert len(raw_store.events) == 2
    assert first.message_ids == ["pos-TPE101-000123", "m-view"]


def test_retry_of_timed_events_without_message_ids_dedups(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a timed event without messageId, retried later with a new sentAt
    item = {"type": "track", "userId": "M0001", "event": "Cart Viewed", "originalTimestamp": "2024-05-01T10:59:00Z"}

    # When the original and the retry are accepted
    first = _call(
        "batch",
        {"batch": [item], "sentAt": "2024-05-01T10:59:01Z"},
        write_keys=write_keys,
        store=raw_store,
        clock=clock,
    )
    clock.advance(30_000)
    retry = _call(
        "batch",
        {"batch": [item], "sentAt": "2024-05-01T10:59:31Z"},
        write_keys=write_keys,
        store=raw_store,
        clock=clock,
    )

    # Then the retry is recognised
    assert (first.accepted, retry.accepted, retry.duplicates) == (1, 0, 1)


def test_same_message_id_from_two_sources_is_two_events(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given the web shop and the POS both using the messageId "1"
    event = {**ORDER, "messageId": "1"}

    # When both are accepted
    _call("track", event, write_keys=write_keys, store=raw_store, clock=clock, header_key=WRITE_KEY)
    _call("track", event, write_keys=write_keys, store=raw_store, clock=clock, header_key=POS_WRITE_KEY)

    # Then the dedup key is per source
    assert set(raw_store.events) == {partner_event_id(WRITE_KEY_SOURCE, "1"), partner_event_id(POS_SOURCE, "1")}


def test_empty_batch_is_accepted_with_nothing_stored(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given an empty batch (SDK flush with nothing queued)
    # When it is accepted
    result = _call("batch", {"batch": []}, write_keys=write_keys, store=raw_store, clock=clock)

    # Then it succeeds and stores nothing
    assert result.as_dict() == {"success": True, "accepted": 0, "duplicates": 0, "rejected": []}
    assert raw_store.events == {}


def test_write_key_from_the_sdks_basic_auth_header_is_accepted(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given the Authorization header a Segment SDK sends: Basic base64("<writeKey>:")
    authorization = "Basic " + base64.b64encode(f"{POS_WRITE_KEY}:".encode()).decode()

    # When the call is accepted with the key read from that header
    result = _call(
        "track",
        ORDER,
        write_keys=write_keys,
        store=raw_store,
        clock=clock,
        header_key=write_key_from_basic_auth(authorization),
    )

    # Then the POS source is recognised
    assert (result.source, result.accepted) == (POS_SOURCE, 1)


# values no store can keep: refused at the edge, naming the field --------------------------------
UNSTORABLE = [
    pytest.param('{"revenue": NaN}', "non_finite_number", "/properties/revenue", id="nan"),
    pytest.param('{"age": Infinity}', "non_finite_number", "/properties/age", id="infinity"),
    pytest.param('{"n": 18446744073709551616}', "integer_out_of_range", "/properties/n", id="2^64"),
    pytest.param('{"name": "\\ud800"}', "invalid_encoding", "/properties/name", id="lone-surrogate"),
]


@pytest.mark.parametrize(("properties", "code", "field"), UNSTORABLE)
def test_unstorable_value_in_a_batch_refuses_that_event_alone(
    properties: str, code: str, field: str, write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a batch whose second event carries an unstorable property (as raw JSON text)
    good = json.dumps({**ORDER, "messageId": "good-1"})
    bad = json.dumps({**ORDER, "messageId": "bad-1", "properties": {}}).replace(
        '"properties": {}', f'"properties": {properties}'
    )
    body = f'{{"batch": [{good}, {bad}]}}'.encode()

    # When the batch is accepted
    result = accept_partner_call(
        call="batch", body=body, header_write_key=WRITE_KEY, write_keys=write_keys, store=raw_store, clock=clock
    )

    # Then the good event is stored and the bad one is refused by index, code and JSON pointer
    assert result.accepted == 1
    assert [r.as_dict() for r in result.rejected] == [
        {"index": 1, "error": code, "message": result.rejected[0].message, "field": field}
    ]
    assert list(raw_store.events) == [partner_event_id(WRITE_KEY_SOURCE, "good-1")]


@pytest.mark.parametrize(("properties", "code", "field"), UNSTORABLE)
def test_unstorable_value_in_a_single_call_is_a_400_naming_the_field(
    properties: str, code: str, field: str, write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given /v1/track with an unstorable property
    body = json.dumps({**ORDER, "properties": {}}).replace('"properties": {}', f'"properties": {properties}')

    # When it is accepted
    with pytest.raises(BadRequest) as raised:
        accept_partner_call(
            call="track",
            body=body.encode(),
            header_write_key=WRITE_KEY,
            write_keys=write_keys,
            store=raw_store,
            clock=clock,
        )

    # Then nothing is stored and the answer names the field
    assert (raised.value.code, raised.value.details) == (code, {"field": field})
    assert raw_store.events == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b'{"batch": [], "context": {"x": NaN}}', "non_finite_number", id="batch-context"),
        pytest.param(b'{"batch": ' + b"[" * 5000 + b"]" * 5000 + b"}", "json_too_deep", id="deep"),
    ],
)
def test_batch_level_problems_refuse_the_whole_body(
    body: bytes, code: str, write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock
) -> None:
    # Given a batch whose shared part (applied to every event) or structure is unreadable
    # When / Then the whole body is a 400
    with pytest.raises(BadRequest) as raised:
        accept_partner_call(
            call="batch", body=body, header_write_key=WRITE_KEY, write_keys=write_keys, store=raw_store, clock=clock
        )
    assert raised.value.code == code


# the rejections log (GET /admin/v1/ingest/rejections) ---------------------------------------------
def test_batch_rejections_are_recorded_with_how_to_find_the_event_and_no_content(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock, rejection_log: FakeRejectionLog
) -> None:
    # Given a batch with a good event, a track without a name and an event with NaN revenue
    bad_track = {"type": "track", "userId": "M0001", "messageId": "m-2", "properties": {"email": "amy@example.com"}}
    body = _body({"batch": [ORDER, bad_track]})[:-2] + b',{"type":"track","event":"Order Completed",'
    body += b'"userId":"M0002","messageId":"m-3","properties":{"revenue":NaN}}]}'

    # When it is accepted with a rejections log
    result = accept_partner_call(
        call="batch",
        body=body,
        header_write_key=WRITE_KEY,
        write_keys=write_keys,
        store=raw_store,
        clock=clock,
        rejections=rejection_log,
    )

    # Then both rejections are recorded with reason, field and ids, and nothing of their content
    assert result.accepted == 1
    assert [r.as_dict() for r in rejection_log.records] == [
        {
            "received_at": iso_from_ms(NOW_MS),
            "source": WRITE_KEY_SOURCE,
            "call": "batch",
            "error": "missing_event_name",
            "message": "track needs a non-empty `event` name",
            "index": 1,
            "field": "event",
            "message_id": "m-2",
            "type": "track",
        },
        {
            "received_at": iso_from_ms(NOW_MS),
            "source": WRITE_KEY_SOURCE,
            "call": "batch",
            "error": "non_finite_number",
            "message": rejection_log.records[1].message,
            "index": 2,
            "field": "/properties/revenue",
            "message_id": "m-3",
            "type": "track",
            "event": "Order Completed",
        },
    ]
    assert "amy@example.com" not in json.dumps([r.as_dict() for r in rejection_log.records])


def test_a_refused_single_call_and_an_unreadable_body_from_a_known_key_are_recorded(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock, rejection_log: FakeRejectionLog
) -> None:
    for body in (_body({"userId": "M0001", "messageId": "m-9"}), b"{not json"):
        with pytest.raises(BadRequest):
            accept_partner_call(
                call="track",
                body=body,
                header_write_key=WRITE_KEY,
                write_keys=write_keys,
                store=raw_store,
                clock=clock,
                rejections=rejection_log,
            )

    assert [(r.error, r.index, r.message_id, r.type) for r in rejection_log.records] == [
        ("missing_event_name", None, "m-9", "track"),
        ("invalid_json", None, None, "track"),
    ]


def test_strangers_are_never_recorded(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock, rejection_log: FakeRejectionLog
) -> None:
    # Given unreadable bodies with no key, and with a wrong body key
    for body in (b"{not json", _body({"writeKey": "wk_wrong", "batch": [{"type": "track"}]})):
        with pytest.raises((BadRequest, Unauthorized)):
            accept_partner_call(
                call="batch",
                body=body,
                header_write_key=None,
                write_keys=write_keys,
                store=raw_store,
                clock=clock,
                rejections=rejection_log,
            )

    # Then nothing was written for them
    assert rejection_log.records == []


def test_recording_is_capped_per_request_and_its_failure_never_fails_the_call(
    write_keys: WriteKeys, raw_store: FakeRawEventStore, clock: FixedClock, rejection_log: FakeRejectionLog
) -> None:
    # Given a batch of 40 bad events and one good one
    batch = [{"type": "track", "userId": f"M{i}", "messageId": f"m-{i}"} for i in range(40)] + [ORDER]

    result = _call("batch", {"batch": batch}, write_keys=write_keys, store=raw_store, clock=clock)

    def recorded_call() -> Any:
        return accept_partner_call(
            call="batch",
            body=_body({"batch": batch}),
            header_write_key=WRITE_KEY,
            write_keys=write_keys,
            store=raw_store,
            clock=clock,
            rejections=rejection_log,
        )

    capped = recorded_call()
    rejection_log.fail = True
    failing = recorded_call()

    # Then every rejection is answered, 25 are recorded, and a failing log changes no answer
    assert len(result.rejected) == len(capped.rejected) == len(failing.rejected) == 40
    assert len(rejection_log.records) == MAX_RECORDED_PER_REQUEST
    assert failing.as_dict()["rejected"] == capped.as_dict()["rejected"]
