"""Consent changes and reachability per channel.

A consent change made through the admin API becomes an ordinary event on the person's
timeline (an identify carrying `context.consent`), so it is ordered with every other consent
signal by event time, survives merges and unmerges, and is rebuilt with the profile.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from typing import Any

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, Conflict
from cdp.events.raw import RawEvent, partner_event_id
from cdp.profiles.model import Profile

CONSENT_SOURCE = "admin-consent"
CHANNELS = ("line", "email", "sms")
PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Which identifier names the person in the event: the most specific one the profile has.
IDENTIFIER_PREFERENCE = (
    "member_id",
    "line",
    "email",
    "phone",
    "wechat_unionid",
    "wechat_openid",
    "idfa",
    "anonymous_id",
)
CONTACT_IDENTIFIER = {"email": "email", "sms": "phone"}


def parse_consent_change(body: Mapping[str, Any]) -> tuple[str, str, bool]:
    channel, purpose, granted = body.get("channel"), body.get("purpose", "marketing"), body.get("granted")
    if channel not in CHANNELS:
        raise BadRequest(f"`channel` must be one of {', '.join(CHANNELS)}", code="invalid_consent_channel")
    if not isinstance(purpose, str) or not PURPOSE.fullmatch(purpose):
        raise BadRequest("`purpose` must be a lower-case word such as `marketing`", code="invalid_consent_purpose")
    if not isinstance(granted, bool):
        raise BadRequest("`granted` must be true or false", code="invalid_consent_value")
    return channel, purpose, granted


def consent_change_event(
    profile: Profile, *, channel: str, purpose: str, granted: bool, now_ms: int, request_key: str | None = None
) -> RawEvent:
    """The change as an identify naming the person by one of their identifiers.

    `request_key` (an Idempotency-Key) makes a retried request the same event, stored once.
    """
    return admin_event(
        profile,
        source=CONSENT_SOURCE,
        payload={"type": "identify"},
        context={"channel": "crm", "consent": {f"{channel}:{purpose}": granted}},
        now_ms=now_ms,
        request_key=request_key,
        purpose="record consent",
    )


def admin_event(
    profile: Profile,
    *,
    source: str,
    payload: Mapping[str, Any],
    context: Mapping[str, Any],
    now_ms: int,
    request_key: str | None = None,
    key_suffix: str = "",
    purpose: str = "record the change",
) -> RawEvent:
    """An admin change as a partner event naming the person by their most specific identifier,
    so the processor applies it like any other event and it stays on the timeline.

    `request_key` (an Idempotency-Key, plus `key_suffix` when one request makes several events)
    makes a retried request the same event, stored once.
    """
    by_type = {
        entry["type"]: entry["value"] for entry in sorted(profile.identifiers.values(), key=lambda e: e["value"])
    }
    chosen = next((t for t in IDENTIFIER_PREFERENCE if t in by_type), None)
    if chosen is None:
        raise Conflict(f"profile {profile.profile_id} has no identifier to {purpose} with", code="no_identifier")
    seed = f"{profile.profile_id}\n{request_key}{key_suffix}" if request_key else uuid.uuid4().hex
    message_id = source.removeprefix("admin-") + "-" + hashlib.sha256(seed.encode()).hexdigest()[:40]
    at = iso_from_ms(now_ms)
    event_context: dict[str, Any] = dict(context)
    body: dict[str, Any] = {**payload, "messageId": message_id, "timestamp": at, "receivedAt": at}
    if chosen == "anonymous_id":
        body["anonymousId"] = by_type[chosen]
    else:
        event_context["externalIds"] = [
            {"type": chosen, "id": by_type[chosen], "collection": "users", "encoding": "none"}
        ]
    body["context"] = event_context
    return RawEvent(
        event_id=partner_event_id(source, message_id),
        origin="partner",
        source=source,
        received_at=at,
        payload=body,
    )


def reachability(profile: Profile, purpose: str = "marketing") -> dict[str, dict[str, Any]]:
    """Can the brand message this person on each channel, and why (or why not)."""
    types = {entry["type"] for entry in profile.identifiers.values()}
    result: dict[str, dict[str, Any]] = {
        "line": {
            "reachable": profile.line_status == "friend" and _consent(profile, "line", purpose) is not False,
            "status": profile.line_status,
            "consent": _consent(profile, "line", purpose),
        }
    }
    for channel, identifier_type in CONTACT_IDENTIFIER.items():
        consent = _consent(profile, channel, purpose)
        known = identifier_type in types
        result[channel] = {"reachable": known and consent is True, "known": known, "consent": consent}
    return result


def _consent(profile: Profile, channel: str, purpose: str) -> bool | None:
    stamped = profile.consent.get(f"{channel}:{purpose}")
    return stamped.value if stamped is not None and isinstance(stamped.value, bool) else None
