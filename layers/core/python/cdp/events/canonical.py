"""The canonical event: one shape for LINE webhooks and Segment-format calls (DESIGN.md "Events").

LINE webhook events become named track events (`LINE Followed`, `LINE Message Received`, ...);
partner calls keep their Segment shape. Identifiers are extracted and normalised here so the
identity resolver only ever sees clean keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cdp.clock import iso_from_ms, ms_from_datetime
from cdp.events.raw import RawEvent
from cdp.identity.identifiers import (
    MAX_IDENTIFIER_BYTES,
    MAX_IDENTIFIERS_PER_EVENT,
    Identifier,
    IdentifierNormalizer,
    RejectedIdentifier,
    is_line_user_id,
    line_identifier,
)

CHANNELS = ("line", "web", "app", "pos", "crm", "system")
# What SDKs and partners put in context.channel, mapped onto our channels.
CHANNEL_ALIASES = {
    "browser": "web",
    "server": "web",
    "website": "web",
    "ecommerce": "web",
    "mobile": "app",
    "ios": "app",
    "android": "app",
    "store": "pos",
    "offline": "pos",
    "retail": "pos",
    "in_store": "pos",
}

LINE_EVENT_NAMES = {
    "message": "LINE Message Received",
    "unsend": "LINE Message Unsent",
    "follow": "LINE Followed",
    "unfollow": "LINE Unfollowed",
    "join": "LINE Bot Joined",
    "leave": "LINE Bot Left",
    "memberJoined": "LINE Members Joined",
    "memberLeft": "LINE Members Left",
    "postback": "LINE Postback",
    "videoPlayComplete": "LINE Video Played",
    "beacon": "LINE Beacon",
    "accountLink": "LINE Account Linked",
    "things": "LINE Things",
    "membership": "LINE Membership",
    "module": "LINE Module",
    "activated": "LINE Module Activated",
    "deactivated": "LINE Module Deactivated",
    "botSuspended": "LINE Bot Suspended",
    "botResumed": "LINE Bot Resumed",
    "delivery": "LINE PNP Delivered",
}
# Webhook fields that are delivery plumbing, not event data.
LINE_ENVELOPE_FIELDS = ("type", "source", "timestamp", "mode", "webhookEventId", "deliveryContext", "replyToken")

# Trait keys (identify traits, context.traits) that carry identifiers.
TRAIT_IDENTIFIERS = {
    "email": "email",
    "phone": "phone",
    "mobile": "phone",
    "member_id": "member_id",
    "memberId": "member_id",
    "wechat_unionid": "wechat_unionid",
    "wechat_openid": "wechat_openid",
}
# Segment's context.externalIds types we understand.
EXTERNAL_ID_TYPES = {
    "member_id": "member_id",
    "email": "email",
    "phone": "phone",
    "wechat_unionid": "wechat_unionid",
    "wechat_openid": "wechat_openid",
    "idfa": "idfa",
    "ios.idfa": "idfa",
    "line": "line",  # only as `<provider>:<userId>`: a LINE user id means nothing without its provider
}


# Where a derivation is stored: inside `properties`, under these keys (its place since it began),
# so stored timelines, the archive, the timeline API and segment rules see what they always saw.
DERIVED_TAGS, DERIVED_TRAITS, TAG_RULES_VERSION = "derivedTags", "derivedTraits", "tagRulesVersion"
DERIVED_KEYS = (DERIVED_TAGS, DERIVED_TRAITS, TAG_RULES_VERSION)


@dataclass(slots=True)
class Derivation:
    """What the processor derived from an event (tag rules on a LINE message or postback, a
    tracked link's tags), kept with the event so a rebuild folds the same whatever the rules are
    by then. None means "not derived", as distinct from derived and empty."""

    tags: list[dict[str, Any]] | None = None  # [{tag, source}]
    traits: dict[str, Any] | None = None
    rules_version: int | None = None

    def as_properties(self) -> dict[str, Any]:
        stored = {DERIVED_TAGS: self.tags, DERIVED_TRAITS: self.traits, TAG_RULES_VERSION: self.rules_version}
        return {key: value for key, value in stored.items() if value is not None}

    @classmethod
    def lift(cls, properties: dict[str, Any]) -> Derivation | None:
        """Take a stored derivation out of `properties` (only well-typed values: anything else was
        a sender's own property and stays where it is)."""
        tags, traits, version = (properties.get(key) for key in DERIVED_KEYS)
        derivation = cls(
            tags=tags if isinstance(tags, list) else None,
            traits=traits if isinstance(traits, dict) else None,
            rules_version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        )
        for key in derivation.as_properties():
            properties.pop(key)
        return derivation if derivation.as_properties() else None


@dataclass(slots=True)
class CanonicalEvent:
    event_id: str  # the raw event id: the processing idempotency key
    message_id: str
    type: str  # identify / track / page / screen / group / alias
    event: str | None
    channel: str
    timestamp: str  # ISO-8601 UTC, when it happened
    received_at: str
    origin: str  # line / partner
    source: str  # LINE channel name or partner source
    user_id: str | None = None
    anonymous_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    identifiers: list[Identifier] = field(default_factory=list)
    rejected_identifiers: list[RejectedIdentifier] = field(default_factory=list)
    line_follow: str | None = None  # "friend" / "blocked" when the event changes follow state
    line_identifier: Identifier | None = None
    derived: Derivation | None = None  # set by the processor only (cdp.profiles.processor)
    # LINE's reply token: valid about a minute and once, so only the auto-reply path reads it;
    # never stored with the event (not in `as_dict`: not on the timeline, not in the archive).
    reply_token: str | None = None

    def stored_properties(self) -> dict[str, Any]:
        """`properties` as stored and as rules read them: with the derivation, if any."""
        if self.derived is None:
            return self.properties
        return {**self.properties, **self.derived.as_properties()}

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "eventId": self.event_id,
            "messageId": self.message_id,
            "type": self.type,
            "channel": self.channel,
            "timestamp": self.timestamp,
            "receivedAt": self.received_at,
            "origin": self.origin,
            "source": self.source,
            "properties": self.stored_properties(),
            "context": self.context,
            "identifiers": [{"type": i.type, "value": i.value} for i in self.identifiers],
        }
        optional = {
            "event": self.event,
            "userId": self.user_id,
            "anonymousId": self.anonymous_id,
            "traits": self.traits or None,
        }
        document.update({key: value for key, value in optional.items() if value is not None})
        if self.rejected_identifiers:
            document["rejectedIdentifiers"] = [
                {"type": r.type, "value": r.raw, "reason": r.reason} for r in self.rejected_identifiers
            ]
        if self.line_follow is not None:
            document["lineFollow"] = self.line_follow
        if self.line_identifier is not None:
            document["lineIdentifier"] = self.line_identifier.value
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> CanonicalEvent:
        """The inverse of `as_dict`: timelines are re-folded into profiles after an unmerge."""
        line_value = document.get("lineIdentifier")
        properties = dict(document.get("properties") or {})
        derived = Derivation.lift(properties) if document["type"] == "track" else None  # only track events derive
        return cls(
            event_id=document["eventId"],
            message_id=document["messageId"],
            type=document["type"],
            event=document.get("event"),
            channel=document["channel"],
            timestamp=document["timestamp"],
            received_at=document["receivedAt"],
            origin=document["origin"],
            source=document["source"],
            user_id=document.get("userId"),
            anonymous_id=document.get("anonymousId"),
            properties=properties,
            traits=dict(document.get("traits") or {}),
            context=dict(document.get("context") or {}),
            identifiers=[Identifier(i["type"], i["value"]) for i in document.get("identifiers", [])],
            rejected_identifiers=[
                RejectedIdentifier(r["type"], r["value"], r["reason"]) for r in document.get("rejectedIdentifiers", [])
            ],
            line_follow=document.get("lineFollow"),
            line_identifier=Identifier("line", line_value) if line_value else None,
            derived=derived,
        )


class EventNormalizer:
    def __init__(self, identifiers: IdentifierNormalizer) -> None:
        self._identifiers = identifiers

    def normalize(self, raw: RawEvent) -> CanonicalEvent:
        if raw.origin == "line":
            return self._from_line(raw)
        return self._from_partner(raw)

    # LINE ---------------------------------------------------------------------------------
    def _from_line(self, raw: RawEvent) -> CanonicalEvent:
        payload = raw.payload
        line_type = str(payload.get("type"))
        source = payload.get("source") or {}
        properties = {k: v for k, v in payload.items() if k not in LINE_ENVELOPE_FIELDS}
        properties.update(_line_properties(line_type, payload))
        context: dict[str, Any] = {
            "channel": "line",
            "line": {
                "channel": raw.source,
                "provider": raw.provider,
                "destination": raw.destination,
                "mode": payload.get("mode", "active"),
                "sourceType": source.get("type"),
                "isRedelivery": bool((payload.get("deliveryContext") or {}).get("isRedelivery", False)),
                "webhookEventId": payload.get("webhookEventId"),
            },
        }
        for key in ("groupId", "roomId"):
            if source.get(key):
                context["line"][key] = source[key]
        event = CanonicalEvent(
            event_id=raw.event_id,
            message_id=str(payload.get("webhookEventId")),
            type="track",
            event=LINE_EVENT_NAMES.get(line_type, f"LINE {line_type}"),
            channel="line",
            timestamp=iso_from_ms(int(payload.get("timestamp", 0))),
            received_at=raw.received_at,
            origin="line",
            source=raw.source,
            properties=properties,
            context=context,
        )
        reply_token = payload.get("replyToken")
        if isinstance(reply_token, str) and reply_token:
            event.reply_token = reply_token
        user_id = source.get("userId")
        if isinstance(user_id, str) and user_id:
            identifier = line_identifier(raw.provider or raw.source, user_id)
            event.identifiers.append(identifier)
            event.line_identifier = identifier
            if line_type == "follow":
                event.line_follow = "friend"
            elif line_type == "unfollow":
                event.line_follow = "blocked"
        return event

    # Partner (Segment format) ----------------------------------------------------------------
    def _from_partner(self, raw: RawEvent) -> CanonicalEvent:
        payload = raw.payload
        context = payload.get("context") or {}
        traits = _identify_traits(payload, context) if payload.get("type") == "identify" else {}
        event = CanonicalEvent(
            event_id=raw.event_id,
            message_id=str(payload.get("messageId")),
            type=str(payload.get("type")),
            event=_event_name(payload),
            channel=normalize_channel(context.get("channel")),
            timestamp=_iso(payload.get("timestamp"), raw.received_at),
            received_at=raw.received_at,
            origin="partner",
            source=raw.source,
            user_id=payload.get("userId"),
            anonymous_id=payload.get("anonymousId"),
            properties=dict(payload.get("properties") or {}),
            traits=traits,
            context=dict(context),
        )
        if payload.get("type") == "group":
            event.properties.setdefault("groupId", payload.get("groupId"))
            event.traits = dict(payload.get("traits") or {})  # group traits describe the group
        self._collect_partner_identifiers(event, payload, context)
        return event

    def _collect_partner_identifiers(
        self, event: CanonicalEvent, payload: dict[str, Any], context: dict[str, Any]
    ) -> None:
        candidates: list[tuple[str, Any]] = []
        if payload.get("userId") is not None:
            candidates.append(("member_id", payload["userId"]))
        if payload.get("anonymousId") is not None:
            candidates.append(("anonymous_id", payload["anonymousId"]))
        if payload.get("type") == "alias" and payload.get("previousId") is not None:
            # Segment's alias: previousId is the old id, usually the anonymous one.
            candidates.append(("anonymous_id", payload["previousId"]))
        person_traits = [context.get("traits") or {}]
        if payload.get("type") == "identify":
            person_traits.append(payload.get("traits") or {})
        for traits in person_traits:
            if isinstance(traits, dict):
                candidates.extend(
                    (id_type, traits[key]) for key, id_type in TRAIT_IDENTIFIERS.items() if traits.get(key)
                )
        external_ids = context.get("externalIds")
        for external in external_ids if isinstance(external_ids, list) else []:  # stored as sent: any shape
            id_type = external.get("type") if isinstance(external, dict) else None
            if isinstance(id_type, str) and id_type in EXTERNAL_ID_TYPES and external.get("id"):
                candidates.append((EXTERNAL_ID_TYPES[id_type], external["id"]))
        for id_type, value in candidates:
            self._add(event, id_type, value)
        for key, id_type in TRAIT_IDENTIFIERS.items():
            if key in event.traits:  # keep contact traits in their normalised form (E.164, lower-case)
                normalized = self._identifiers.normalize(id_type, event.traits[key])
                if isinstance(normalized, Identifier):
                    event.traits[key] = normalized.value

    def _add(self, event: CanonicalEvent, id_type: str, value: Any) -> None:
        result = _line_external_id(value) if id_type == "line" else self._identifiers.normalize(id_type, value)
        if isinstance(result, Identifier) and len(event.identifiers) >= MAX_IDENTIFIERS_PER_EVENT:
            result = RejectedIdentifier(id_type, result.value[:64], "too_many_identifiers")
        if isinstance(result, Identifier):
            if result not in event.identifiers:
                event.identifiers.append(result)
        elif result not in event.rejected_identifiers:
            event.rejected_identifiers.append(result)


def _line_external_id(value: Any) -> Identifier | RejectedIdentifier:
    """`<provider>:<userId>` (LINE Login binds, partners that know the provider) as a `line` identifier."""
    text = str(value).strip() if value is not None else ""
    provider, separator, user_id = text.rpartition(":")
    if not separator or not provider.strip() or not is_line_user_id(user_id):
        return RejectedIdentifier("line", text[:64], "invalid_line_id")
    if len(text.encode("utf-8", "replace")) > MAX_IDENTIFIER_BYTES:
        return RejectedIdentifier("line", text[:64], "too_long")
    return line_identifier(provider.strip(), user_id)


def _identify_traits(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """An identify's person traits: RudderStack SDKs send them in `context.traits`, Segment's at
    the top level; both are read, the top-level value winning."""
    traits: dict[str, Any] = {}
    for part in (context.get("traits"), payload.get("traits")):
        if isinstance(part, dict):
            traits.update(part)
    return traits


def normalize_channel(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return "web"  # Segment's world is the web; POS and CRM senders set context.channel
    channel = value.strip().lower()
    channel = CHANNEL_ALIASES.get(channel, channel)
    return channel if channel in CHANNELS else "web"


def _event_name(payload: dict[str, Any]) -> str | None:
    event_type = payload.get("type")
    if event_type == "track":
        return str(payload.get("event"))
    if event_type in ("page", "screen"):
        name = payload.get("name")
        return f"{'Viewed' if event_type == 'page' else 'Screen'} {name}" if name else None
    return None


def _iso(value: Any, fallback: str) -> str:
    if not isinstance(value, str):
        return fallback
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso_from_ms(ms_from_datetime(moment))


def _object(value: Any) -> dict[str, Any]:
    """A stored event's sub-object, or {} when it has another shape: a record must never crash the processor."""
    return value if isinstance(value, dict) else {}


def _line_properties(line_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Flatten the parts of a LINE event that rules and segments read most."""
    if line_type == "message":
        message = _object(payload.get("message"))
        flat = {"messageType": message.get("type"), "messageId": message.get("id")}
        if message.get("type") == "text":
            flat["text"] = message.get("text")
        return flat
    if line_type == "follow":
        return {"isUnblocked": bool(_object(payload.get("follow")).get("isUnblocked", False))}
    if line_type == "postback":
        postback = _object(payload.get("postback"))
        return {"data": postback.get("data"), "params": postback.get("params") or {}}
    if line_type == "accountLink":
        link = _object(payload.get("link"))
        return {"result": link.get("result"), "nonce": link.get("nonce")}
    if line_type == "beacon":
        beacon = _object(payload.get("beacon"))
        return {"hwid": beacon.get("hwid"), "beaconType": beacon.get("type"), "dm": beacon.get("dm")}
    return {}
