"""Consent changes, their history and reachability per channel.

A consent change made through the admin API becomes an ordinary event on the person's
timeline (an identify carrying `context.consent`), so it is ordered with every other consent
signal by event time, survives merges and unmerges, and is rebuilt with the profile.

The history is not stored apart: it is read back from the timeline (`consent_history`), so it
holds every change from every source (admin API, partner events, member imports, unsubscribe
links) with its time, source, purpose and the version of the consent text the person agreed to
(`context.consentTextVersion`, which applies to every flag of that event).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping
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
# The version of the text the person agreed to: a brand's own label ("2026-03", "tos-v4.1").
TEXT_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
TEXT_VERSION_CONTEXT = "consentTextVersion"


def parse_consent_change(body: Mapping[str, Any]) -> tuple[str, str, bool]:
    channel, purpose, granted = body.get("channel"), body.get("purpose", "marketing"), body.get("granted")
    if channel not in CHANNELS:
        raise BadRequest(f"`channel` must be one of {', '.join(CHANNELS)}", code="invalid_consent_channel")
    if not isinstance(purpose, str) or not PURPOSE.fullmatch(purpose):
        raise BadRequest("`purpose` must be a lower-case word such as `marketing`", code="invalid_consent_purpose")
    if not isinstance(granted, bool):
        raise BadRequest("`granted` must be true or false", code="invalid_consent_value")
    return channel, purpose, granted


def parse_text_version(body: Mapping[str, Any]) -> str | None:
    """`textVersion`: the version of the consent text shown to the person (optional)."""
    version = body.get("textVersion")
    if version is None:
        return None
    if not isinstance(version, str) or not TEXT_VERSION.fullmatch(version):
        raise BadRequest(
            "`textVersion` is a label of up to 64 letters, digits and . _ : / -, such as `2026-03`",
            code="invalid_consent_text_version",
        )
    return version


def consent_change_event(
    profile: Profile,
    *,
    channel: str,
    purpose: str,
    granted: bool,
    now_ms: int,
    request_key: str | None = None,
    text_version: str | None = None,
) -> RawEvent:
    """The change as an identify naming the person by one of their identifiers.

    `request_key` (an Idempotency-Key) makes a retried request the same event, stored once.
    """
    context: dict[str, Any] = {"channel": "crm", "consent": {f"{channel}:{purpose}": granted}}
    if text_version is not None:
        context[TEXT_VERSION_CONTEXT] = text_version
    return admin_event(
        profile,
        source=CONSENT_SOURCE,
        payload={"type": "identify"},
        context=context,
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


def consent_history(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every consent flag the person's events carried, oldest first, from timeline documents
    (canonical events as stored). The order is the fold's (event time, then event id), so the
    last entry per key is the profile's current consent; `changed` is False for a repeat of the
    value already in force (a re-confirmation)."""
    flagged: list[tuple[str, str, Mapping[str, Any], dict[str, bool]]] = []
    for document in events:
        context = document.get("context")
        flags = context.get("consent") if isinstance(context, Mapping) else None
        if not isinstance(flags, Mapping):
            continue
        valid = {key: value for key, value in flags.items() if isinstance(key, str) and isinstance(value, bool)}
        if valid:
            flagged.append((str(document.get("timestamp", "")), str(document.get("eventId", "")), document, valid))
    history: list[dict[str, Any]] = []
    in_force: dict[str, bool] = {}
    for at, event_id, document, flags in sorted(flagged, key=lambda entry: (entry[0], entry[1])):
        context = document["context"]
        version = context.get(TEXT_VERSION_CONTEXT)
        text_version = version if isinstance(version, str) and TEXT_VERSION.fullmatch(version) else None
        for key, granted in sorted(flags.items()):
            channel, _, purpose = key.partition(":")
            history.append(
                {
                    "key": key,
                    "channel": channel,
                    "purpose": purpose or None,
                    "granted": granted,
                    "changed": in_force.get(key) is not granted,
                    "at": at,
                    "source": f"{document.get('origin', '')}:{document.get('source', '')}",
                    "event_channel": document.get("channel"),
                    "text_version": text_version,
                    "event_id": event_id,
                }
            )
            in_force[key] = granted
    return history
