"""Auto-replies on LINE (S5): a greeting on follow, keyword (and postback) replies, and a fallback
reply when no keyword matches; each optional, the greeting and the fallback per LINE channel.

Keyword and postback rules (cdp.profiles.tag_rules) carry their reply; the greeting and the
fallback are one versioned configuration item (`AutoReplies`). The event processor decides after
its commit (`AutoReplier.reply`) and hands a send request to the message sender; the reply itself
goes through the send point like any message (kind `auto_reply`, LINE's reply API with the
event's reply token, a push when the token expired and the rule allows it).

Exactly once per LINE event: the send key is the raw event's id (LINE channel + webhookEventId),
so a redelivered webhook, a stream replay or a retried hand-over finds the send key's record
and sends nothing again.

Stdlib only: this module is on the event processor's cold path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from cdp.errors import BadRequest
from cdp.events import names

if TYPE_CHECKING:
    from cdp.events.canonical import CanonicalEvent
    from cdp.profiles.tag_rules import TagRules

PURPOSES = ("transactional", "marketing")
TEMPLATE_ID = re.compile(r"[A-Za-z0-9_.:#@-]{1,128}")  # the send request's id syntax
CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
SEND_KEY_PREFIX = "auto-reply:"
FOLLOW_EVENT = names.LINE_FOLLOWED
MESSAGE_EVENT = names.MESSAGE_RECEIVED
POSTBACK_EVENT = names.POSTBACK
SCENES = ("greeting", "fallback")


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer with: a template (its LINE content), the purpose the send point checks, and
    whether an expired reply token may become a (paid) push."""

    template_id: str
    purpose: str = "transactional"
    fallback_to_push: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"template_id": self.template_id, "purpose": self.purpose, "fallback_to_push": self.fallback_to_push}


def parse_reply(value: Any, path: str) -> Reply:
    """A reply object from admin input or storage; a bad one is a 400 naming the field."""
    if not isinstance(value, Mapping):
        raise BadRequest(f"{path} must be an object with a `template_id`", code="invalid_reply")
    unknown = set(value) - {"template_id", "purpose", "fallback_to_push"}
    if unknown:
        raise BadRequest(f"{path}: unknown fields {sorted(unknown)}", code="invalid_reply")
    template_id = value.get("template_id")
    if not isinstance(template_id, str) or not TEMPLATE_ID.fullmatch(template_id):
        raise BadRequest(f"{path}.template_id must be a template id", code="invalid_reply")
    purpose = value.get("purpose", "transactional")
    if purpose not in PURPOSES:
        raise BadRequest(f"{path}.purpose must be one of {', '.join(PURPOSES)}", code="invalid_reply")
    fallback = value.get("fallback_to_push", True)
    if not isinstance(fallback, bool):
        raise BadRequest(f"{path}.fallback_to_push must be true or false", code="invalid_reply")
    return Reply(template_id=template_id, purpose=purpose, fallback_to_push=fallback)


@dataclass(frozen=True, slots=True)
class ChannelReplies:
    greeting: Reply | None = None  # on follow (a new friend or one who unblocked)
    fallback: Reply | None = None  # a message no keyword rule with a reply matched

    def as_dict(self) -> dict[str, Any]:
        return {scene: reply.as_dict() if reply else None for scene, reply in zip(SCENES, self.scenes(), strict=True)}

    def scenes(self) -> tuple[Reply | None, Reply | None]:
        return self.greeting, self.fallback


@dataclass(frozen=True, slots=True)
class AutoReplies:
    """The greeting and the fallback of each LINE channel (by its configured name)."""

    channels: Mapping[str, ChannelReplies] = field(default_factory=dict)
    version: int = 0

    def of(self, channel: str) -> ChannelReplies:
        return self.channels.get(channel) or ChannelReplies()

    def template_ids(self) -> set[str]:
        return {reply.template_id for replies in self.channels.values() for reply in replies.scenes() if reply}

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": {name: replies.as_dict() for name, replies in sorted(self.channels.items())},
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Any, *, version: int | None = None) -> AutoReplies:
        if not isinstance(data, Mapping):
            raise BadRequest("auto-replies must be a JSON object", code="invalid_auto_replies")
        unknown = set(data) - {"channels", "version"}
        if unknown:
            raise BadRequest(f"unknown fields: {sorted(unknown)}", code="invalid_auto_replies")
        channels = data.get("channels", {})
        if not isinstance(channels, Mapping):
            raise BadRequest("`channels` maps a LINE channel name to its replies", code="invalid_auto_replies")
        parsed: dict[str, ChannelReplies] = {}
        for name, scenes in channels.items():
            path = f"channels.{name}"
            if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
                raise BadRequest(f"{path}: a LINE channel name is 1-64 of A-Z a-z 0-9 _ -", code="invalid_channel")
            if not isinstance(scenes, Mapping) or set(scenes) - set(SCENES):
                raise BadRequest(f"{path} may set `greeting` and `fallback` only", code="invalid_auto_replies")
            greeting, fallback = (
                parse_reply(scenes[scene], f"{path}.{scene}") if scenes.get(scene) is not None else None
                for scene in SCENES
            )
            parsed[name] = ChannelReplies(greeting=greeting, fallback=fallback)
        stored_version = data.get("version", 0)
        return cls(
            channels=parsed,
            version=version if version is not None else stored_version if isinstance(stored_version, int) else 0,
        )


NO_AUTO_REPLIES = AutoReplies()


class SendRequests(Protocol):
    """Where send requests go: the message sender (an asynchronous invoke in the cloud)."""

    def submit(self, requests: Sequence[dict[str, Any]]) -> None:
        """Hand the requests over; raise when that is not certain (the caller is retried)."""
        ...


def choose_reply(event: CanonicalEvent, rules: TagRules, replies: AutoReplies) -> Reply | None:
    """The reply a LINE event gets, if any: a keyword or postback rule's (the first that matches
    and has one), the channel's greeting on follow, or its fallback for a message nothing matched.
    Only one-to-one chats in active mode are answered (a group or a standby channel is not ours)."""
    if event.origin != "line" or event.line_identifier is None or not event.reply_token:
        return None
    line = event.context.get("line") or {}
    if line.get("mode", "active") != "active" or line.get("sourceType") != "user":
        return None
    channel = replies.of(event.source)
    if event.event == FOLLOW_EVENT:
        return channel.greeting
    if event.event == MESSAGE_EVENT:
        text = event.properties.get("text")
        found = rules.reply_for_text(text) if isinstance(text, str) else None
        return found or channel.fallback
    if event.event == POSTBACK_EVENT:
        data = event.properties.get("data")
        return rules.reply_for_postback(data) if isinstance(data, str) else None
    return None


def send_key(event: CanonicalEvent) -> str:
    return SEND_KEY_PREFIX + event.event_id  # line#<channel>#<webhookEventId>


def reply_request(event: CanonicalEvent, profile_id: str, reply: Reply) -> dict[str, Any]:
    """The send request (cdp.messaging.request.SendRequest, as JSON) answering `event`."""
    assert event.reply_token is not None
    return {
        "send_key": send_key(event),
        "profile_id": profile_id,
        "template_id": reply.template_id,
        "data": event.properties,  # the message text, postback data: for the template's Liquid
        "kind": "auto_reply",
        "purpose": reply.purpose,
        "channels": ["line"],
        "reply_token": event.reply_token,
        "reply_fallback_to_push": reply.fallback_to_push,
        "line_channel": event.source,
    }


class AutoReplier:
    """Called by the event processor after an event is committed (and again on a replay: the send
    key makes the repeat a no-op at the send point)."""

    def __init__(self, replies: Any, requests: SendRequests) -> None:
        self._replies = replies  # () -> AutoReplies (cached configuration)
        self._requests = requests

    def reply(self, event: CanonicalEvent, profile_id: str | None, rules: TagRules) -> Reply | None:
        if profile_id is None:
            return None
        chosen = choose_reply(event, rules, self._replies())
        if chosen is not None:
            self._requests.submit([reply_request(event, profile_id, chosen)])
        return chosen
