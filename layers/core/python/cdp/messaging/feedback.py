"""What SES reports about sent email, back on the timeline: the configuration set sends delivery,
bounce, complaint, open and click events to EventBridge, and each becomes a track event on the
person's timeline (named by the recipient address, as raw events like every other). A permanent
bounce or a complaint also puts the address on the suppression list, so the send point never
emails it again (a transient bounce does not)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdp.clock import iso_from_ms
from cdp.events import names
from cdp.events.raw import RawEvent, partner_event_id
from cdp.messaging.ports import SuppressionList
from cdp.ports import Clock, RawEventStore

SES_SOURCE = "aws.ses"
FEEDBACK_SOURCE = "ses"
EVENT_NAMES = {
    "Delivery": names.EMAIL_DELIVERED,
    "Bounce": names.EMAIL_BOUNCED,
    "Complaint": names.EMAIL_COMPLAINED,
    "Open": names.EMAIL_OPENED,
    "Click": names.EMAIL_CLICKED,
}
TAGS_CARRIED = ("message_id", "campaign_id", "journey_id", "node_id", "kind")


@dataclass(frozen=True, slots=True)
class FeedbackOutcome:
    kind: str | None  # the SES event type, None when it is not one the product keeps
    recorded: int  # timeline events stored (a redelivered event stores none)
    suppressed: list[str]  # addresses put on the suppression list


class EmailFeedback:
    def __init__(self, *, events: RawEventStore, suppressions: SuppressionList, clock: Clock) -> None:
        self._events = events
        self._suppressions = suppressions
        self._clock = clock

    def record(self, event: Mapping[str, Any]) -> FeedbackOutcome:
        """One EventBridge event from SES (`source` aws.ses). Anything else is ignored, not failed:
        a retry could not make it better."""
        detail = event.get("detail")
        kind = detail.get("eventType") if isinstance(detail, dict) else None
        if event.get("source") != SES_SOURCE or not isinstance(detail, dict) or kind not in EVENT_NAMES:
            return FeedbackOutcome(None, 0, [])
        found = detail.get("mail")
        mail: dict[str, Any] = found if isinstance(found, dict) else {}
        recipients = _recipients(kind, detail, mail)
        now_ms = self._clock.now_ms()
        suppressed: list[str] = []
        reason = _suppression(kind, detail)
        if reason is not None:
            for address in recipients:
                self._suppressions.suppress("email", address, reason=reason, at_ms=now_ms)
                suppressed.append(address)
        properties = _properties(kind, detail, mail)
        at = _timestamp(detail, kind) or iso_from_ms(now_ms)
        raw = [
            _raw_event(str(event.get("id") or mail.get("messageId") or ""), kind, address, properties, at, now_ms)
            for address in recipients
        ]
        stored = self._events.store_once(raw) if raw else []
        return FeedbackOutcome(kind, sum(stored), suppressed)


def _recipients(kind: str, detail: dict[str, Any], mail: dict[str, Any]) -> list[str]:
    if kind == "Bounce":
        listed = (detail.get("bounce") or {}).get("bouncedRecipients") or []
    elif kind == "Complaint":
        listed = (detail.get("complaint") or {}).get("complainedRecipients") or []
    else:
        listed = [{"emailAddress": address} for address in mail.get("destination") or []]
    found = [item.get("emailAddress") for item in listed if isinstance(item, dict)]
    return sorted({address.strip() for address in found if isinstance(address, str) and "@" in address})


def _suppression(kind: str, detail: dict[str, Any]) -> str | None:
    if kind == "Complaint":
        return "complaint"
    if kind == "Bounce" and (detail.get("bounce") or {}).get("bounceType") == "Permanent":
        return "bounce"
    return None


def _properties(kind: str, detail: dict[str, Any], mail: dict[str, Any]) -> dict[str, Any]:
    found = mail.get("tags")
    tags: dict[str, Any] = found if isinstance(found, dict) else {}
    properties: dict[str, Any] = {"channel": "email", "ses_message_id": mail.get("messageId")}
    for name in TAGS_CARRIED:
        values = tags.get(name)
        if isinstance(values, list) and values and isinstance(values[0], str):
            properties[name] = values[0]
    if kind == "Bounce":
        bounce = detail.get("bounce") or {}
        properties.update(bounce_type=bounce.get("bounceType"), bounce_subtype=bounce.get("bounceSubType"))
    elif kind == "Complaint":
        properties["feedback_type"] = (detail.get("complaint") or {}).get("complaintFeedbackType")
    elif kind == "Click":
        properties["url"] = (detail.get("click") or {}).get("link")
    return properties


def _timestamp(detail: dict[str, Any], kind: str) -> str | None:
    section = detail.get(kind[0].lower() + kind[1:]) or {}
    value = section.get("timestamp") if isinstance(section, dict) else None
    return value if isinstance(value, str) and value else None


def _raw_event(delivery_id: str, kind: str, address: str, properties: dict[str, Any], at: str, now_ms: int) -> RawEvent:
    # EventBridge keeps an event's id across its retries: the same report is stored once.
    message_id = "ses-" + hashlib.sha256(f"{delivery_id}\n{kind}\n{address.lower()}".encode()).hexdigest()[:40]
    payload = {
        "type": "track",
        "event": EVENT_NAMES[kind],
        "properties": properties,
        "messageId": message_id,
        "timestamp": at,
        "receivedAt": iso_from_ms(now_ms),
        "context": {
            "channel": "crm",
            "externalIds": [{"type": "email", "id": address, "collection": "users", "encoding": "none"}],
        },
    }
    return RawEvent(
        event_id=partner_event_id(FEEDBACK_SOURCE, message_id),
        origin="partner",
        source=FEEDBACK_SOURCE,
        received_at=iso_from_ms(now_ms),
        payload=payload,
    )
