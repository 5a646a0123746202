"""LINE webhook deliveries: signature verification and envelope validation (pure, stdlib only).

This module sits on the webhook Lambda's cold path, so it imports nothing heavy. The contract
is LINE's webhook.yml (vendored in vendor/line-openapi/): a `CallbackRequest` with `destination` and `events`;
each event carries `type`, `timestamp`, `mode`, `webhookEventId` and `deliveryContext`.
Event types are not whitelisted: LINE adds new ones, and unknown types are stored as they are.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cdp.errors import BadRequest, Unauthorized
from cdp.json_input import check_values, has_problem, parse, problems

MAX_BODY_BYTES = 1024 * 1024  # LINE webhook bodies are small; anything over 1 MB is not LINE.
# One event as stored (UTF-8 JSON). A real LINE event is a few KB (a text message holds at most
# 5,000 characters); the raw-event item must stay well under DynamoDB's 400 KB item limit.
MAX_EVENT_BYTES = 64 * 1024
EVENT_TOO_LARGE = "event_too_large"
EVENT_MODES = ("active", "standby")
MAX_TIMESTAMP_MS = 4_102_444_800_000  # 2100-01-01: anything later cannot be a real event time

# Every type in webhook.yml's discriminator. Used for reporting, never for rejecting.
KNOWN_EVENT_TYPES = frozenset(
    {
        "message", "unsend", "follow", "unfollow", "join", "leave", "memberJoined", "memberLeft",
        "postback", "videoPlayComplete", "beacon", "accountLink", "membership", "module",
        "activated", "deactivated", "botSuspended", "botResumed", "delivery",
    }
)  # fmt: skip


def signature_is_valid(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """x-line-signature is base64(HMAC-SHA256(channel secret, raw body)); compare in constant time."""
    if not signature or not channel_secret:
        return False
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def verify_signature(channel_secret: str, body: bytes, signature: str | None) -> None:
    if signature is None or not signature.strip():
        raise Unauthorized("x-line-signature header is missing", code="missing_signature")
    if not signature_is_valid(channel_secret, body, signature):
        raise Unauthorized("x-line-signature does not match the body", code="invalid_signature")


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    index: int
    reason: str
    message: str
    field: str | None = None  # JSON pointer of the offending value, when there is one
    event: Any = dataclasses.field(
        default=None, repr=False, compare=False
    )  # as sent: for its id and type, never logged

    @property
    def conformant(self) -> bool:
        """The event is valid LINE but cannot be kept (too large): LINE did nothing wrong, so the
        delivery is answered 200 and LINE stops redelivering; the refusal is recorded instead."""
        return self.reason == EVENT_TOO_LARGE


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    destination: str
    events: list[dict[str, Any]]  # valid events, in delivery order
    rejected: list[RejectedEvent]


def parse_delivery(body: bytes) -> WebhookDelivery:
    """Parse a verified body. Envelope errors raise; a single malformed event is set aside."""
    parsed = parse(body)  # values are checked per event: one bad event is set aside alone
    document = parsed.document
    if not isinstance(document, dict):
        raise BadRequest("body must be a JSON object", code="invalid_webhook_shape")
    if parsed.suspect:
        check_values({key: value for key, value in document.items() if key != "events"})
    destination = document.get("destination")
    events = document.get("events")
    if not isinstance(destination, str) or not destination:
        raise BadRequest("`destination` must be a non-empty string", code="invalid_webhook_shape")
    if not isinstance(events, list):
        raise BadRequest("`events` must be an array", code="invalid_webhook_shape")
    valid: list[dict[str, Any]] = []
    rejected: list[RejectedEvent] = []
    for index, event in enumerate(events):
        value_problem = (
            next(problems(event, f"/events/{index}"), None) if parsed.suspect and has_problem(event) else None
        )
        if value_problem is not None:
            rejected.append(RejectedEvent(index, value_problem.code, value_problem.message, value_problem.field, event))
            continue
        problem = _event_problem(event)
        if problem is not None:
            rejected.append(RejectedEvent(index, "invalid_event", problem, event=event))
            continue
        size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if size > MAX_EVENT_BYTES:
            rejected.append(
                RejectedEvent(
                    index, EVENT_TOO_LARGE, f"event is {size} bytes, the limit is {MAX_EVENT_BYTES}", event=event
                )
            )
            continue
        valid.append(event)
    return WebhookDelivery(destination=destination, events=valid, rejected=rejected)


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "event must be an object"
    if not isinstance(event.get("type"), str) or not event["type"]:
        return "`type` must be a non-empty string"
    webhook_event_id = event.get("webhookEventId")
    if not isinstance(webhook_event_id, str) or not webhook_event_id or len(webhook_event_id) > 128:
        return "`webhookEventId` must be a non-empty string of at most 128 characters"
    timestamp = event.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 < timestamp < MAX_TIMESTAMP_MS:
        return "`timestamp` must be epoch milliseconds before the year 2100"
    mode = event.get("mode", "active")
    if mode not in EVENT_MODES:
        return "`mode` must be `active` or `standby`"
    delivery_context = event.get("deliveryContext", {})
    if not isinstance(delivery_context, dict):
        return "`deliveryContext` must be an object"
    source = event.get("source")
    if source is not None and (not isinstance(source, dict) or not isinstance(source.get("type"), str)):
        return "`source` must be an object with a `type`"
    return None
