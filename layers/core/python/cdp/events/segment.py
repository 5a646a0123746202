"""Segment/RudderStack HTTP API events: request parsing and per-event validation (pure).

The rules follow Segment's HTTP tracking API so that unmodified SDKs work: a batch of up to
500 KB, events of up to 32 KB, `userId` or `anonymousId` on every call, `event` on track,
`groupId` on group, `previousId` on alias, ISO-8601 timestamps, and the clock-skew correction
`timestamp = receivedAt - (sentAt - originalTimestamp)` when the client did not set one.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cdp.clock import iso_from_ms, ms_from_datetime
from cdp.errors import BadRequest
from cdp.json_input import check_values, has_problem, parse, problems

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_ID_LENGTH = 512
MAX_MESSAGE_ID_LENGTH = 200
CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")
BATCH_CALLS = ("batch", "import")
OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
TIMESTAMP_FIELDS = ("timestamp", "originalTimestamp", "sentAt")
# Fields a client may not set: they are the server's to assign.
SERVER_FIELDS = ("receivedAt", "writeKey")


class InvalidEvent(ValueError):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class SegmentRequest:
    items: list[Any]  # one entry per event, not yet validated
    body_write_key: str | None
    shared: dict[str, Any]  # batch-level context / integrations / sentAt applied to each event
    single_call: str | None  # "track" for /v1/track; None for /v1/batch
    suspect: bool = True  # the body may hold NaN, 2^64, a lone surrogate...: validate_event walks values


def parse_request(call: str, body: bytes) -> SegmentRequest:
    """Parse the whole body. Only a body that cannot be read at all raises (400)."""
    if call not in CALL_TYPES and call not in BATCH_CALLS:
        raise BadRequest(f"unknown call {call!r}", code="unknown_call")
    # Values are checked per event (validate_event) so that one bad event is refused alone;
    # everything outside `batch` applies to all events and is checked here.
    parsed = parse(body) if body else None
    document = parsed.document if parsed else None
    if parsed is None or not isinstance(document, dict):
        raise BadRequest("body must be a JSON object", code="invalid_body")
    if call in BATCH_CALLS and parsed.suspect:
        check_values({key: value for key, value in document.items() if key != "batch"})
    write_key = document.get("writeKey")
    body_write_key = write_key if isinstance(write_key, str) and write_key else None
    if call in BATCH_CALLS:
        batch = document.get("batch")
        if not isinstance(batch, list):
            raise BadRequest("`batch` must be an array of events", code="invalid_batch")
        shared = {key: document[key] for key in ("context", "integrations", "sentAt") if key in document}
        return SegmentRequest(
            items=batch, body_write_key=body_write_key, shared=shared, single_call=None, suspect=parsed.suspect
        )
    return SegmentRequest(
        items=[document], body_write_key=body_write_key, shared={}, single_call=call, suspect=parsed.suspect
    )


def validate_event(
    item: Any, *, single_call: str | None, shared: dict[str, Any], received_at_ms: int, walk_values: bool = True
) -> dict[str, Any]:
    """Return the event as stored (server fields set), or raise InvalidEvent with a reason code.

    `walk_values=False` skips looking for NaN, Infinity, integers past 64 bits and lone surrogates,
    for a request whose text cannot hold any (SegmentRequest.suspect)."""
    if not isinstance(item, dict):
        raise InvalidEvent("invalid_event", "event must be a JSON object")
    for problem in problems(item) if walk_values and has_problem(item) else ():
        raise InvalidEvent(problem.code, problem.message, problem.field)
    event = {key: value for key, value in item.items() if key not in SERVER_FIELDS}
    for key, value in shared.items():
        own = event.get(key)
        if key == "sentAt":
            event.setdefault("sentAt", value)
        elif isinstance(value, dict) and (own is None or isinstance(own, dict)):
            event[key] = {**value, **(own or {})}  # the event's own keys win over the batch's
    event_type = _event_type(event, single_call)
    event["type"] = event_type
    _check_objects(event)
    _check_identity(event, event_type)
    _check_type_fields(event, event_type)
    timestamps = _parse_timestamps(event)
    event["messageId"] = _message_id(event, client_timed=bool(timestamps.keys() - {"sentAt"}))
    event["receivedAt"] = iso_from_ms(received_at_ms)
    event["timestamp"] = _event_timestamp(timestamps, received_at_ms)
    try:
        size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except UnicodeEncodeError as exc:  # JSON allows lone surrogates ("\ud800"); no store can keep them
        raise InvalidEvent("invalid_encoding", "event contains text that is not valid Unicode") from exc
    if size > MAX_EVENT_BYTES:
        raise InvalidEvent("event_too_large", f"event is {size} bytes, the limit is {MAX_EVENT_BYTES}")
    return event


def _event_type(event: dict[str, Any], single_call: str | None) -> str:
    declared = event.get("type")
    if single_call is not None:
        if declared not in (None, single_call):
            raise InvalidEvent("type_mismatch", f"`type` {declared!r} does not match /v1/{single_call}", "type")
        return single_call
    if declared is None:
        raise InvalidEvent("missing_type", "`type` is required in a batch", "type")
    if declared not in CALL_TYPES:
        raise InvalidEvent("invalid_type", f"`type` must be one of {', '.join(CALL_TYPES)}", "type")
    return str(declared)


def _check_objects(event: dict[str, Any]) -> None:
    for key in OBJECT_FIELDS:
        if key in event and event[key] is not None and not isinstance(event[key], dict):
            raise InvalidEvent("invalid_field", f"`{key}` must be an object", key)


def _identifier(event: dict[str, Any], key: str) -> str | None:
    value = event.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidEvent("invalid_identifier", f"`{key}` must be a string", key)
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        raise InvalidEvent("invalid_identifier", f"`{key}` is longer than {MAX_ID_LENGTH} characters", key)
    if text:
        event[key] = text
        return text
    del event[key]
    return None


def _check_identity(event: dict[str, Any], event_type: str) -> None:
    user_id = _identifier(event, "userId")
    anonymous_id = _identifier(event, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise InvalidEvent("missing_identity", "`userId` or `anonymousId` is required", "userId")
    if event_type == "alias" and (user_id is None or _identifier(event, "previousId") is None):
        raise InvalidEvent("missing_field", "alias needs `userId` and `previousId`", "previousId")


def _check_type_fields(event: dict[str, Any], event_type: str) -> None:
    if event_type == "track":
        name = event.get("event")
        if not isinstance(name, str) or not name.strip():
            raise InvalidEvent("missing_event_name", "track needs a non-empty `event` name", "event")
        if len(name) > 200:
            raise InvalidEvent("invalid_field", "`event` is longer than 200 characters", "event")
    if event_type == "group" and _identifier(event, "groupId") is None:
        raise InvalidEvent("missing_field", "group needs a `groupId`", "groupId")
    for key in ("name", "category"):
        if key in event and event[key] is not None and not isinstance(event[key], str):
            raise InvalidEvent("invalid_field", f"`{key}` must be a string", key)


def _parse_timestamps(event: dict[str, Any]) -> dict[str, datetime]:
    parsed: dict[str, datetime] = {}
    for key in TIMESTAMP_FIELDS:
        value = event.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidEvent("invalid_timestamp", f"`{key}` must be an ISO-8601 string", key)
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise InvalidEvent("invalid_timestamp", f"`{key}` is not an ISO-8601 date-time: {value!r}", key) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # Segment reads zone-less timestamps as UTC
        if not 2000 <= moment.year <= 2100:
            raise InvalidEvent("invalid_timestamp", f"`{key}` is out of range: {value!r}", key)
        parsed[key] = moment
    return parsed


def _event_timestamp(timestamps: dict[str, datetime], received_at_ms: int) -> str:
    if "timestamp" in timestamps:
        moment = timestamps["timestamp"]
    elif "originalTimestamp" in timestamps and "sentAt" in timestamps:
        received = datetime.fromtimestamp(received_at_ms / 1000, tz=UTC)
        moment = received - (timestamps["sentAt"] - timestamps["originalTimestamp"])
    elif "originalTimestamp" in timestamps:
        moment = timestamps["originalTimestamp"]
    else:
        return iso_from_ms(received_at_ms)
    return iso_from_ms(ms_from_datetime(moment))


def _message_id(event: dict[str, Any], *, client_timed: bool) -> str:
    value = event.get("messageId")
    if value is not None:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_MESSAGE_ID_LENGTH:
            raise InvalidEvent(
                "invalid_message_id",
                f"`messageId` must be a string of 1-{MAX_MESSAGE_ID_LENGTH} characters",
                "messageId",
            )
        return value.strip()
    # No messageId: derive one from the content so that a client retry of the same event still
    # dedups; a client that sends no timestamp gets a fresh id (nothing to tell retries apart).
    if client_timed:
        content = {k: v for k, v in event.items() if k not in ("sentAt", "messageId")}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return f"cdp-{digest[:32]}"
    return f"cdp-{uuid.uuid4().hex}"


__all__ = [
    "CALL_TYPES",
    "MAX_BATCH_BYTES",
    "MAX_EVENT_BYTES",
    "InvalidEvent",
    "SegmentRequest",
    "parse_request",
    "validate_event",
]
