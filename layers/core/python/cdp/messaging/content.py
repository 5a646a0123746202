"""What a template becomes for one recipient, and the port the send point renders through.

Shared by the template library (which implements `Renderer`) and the send point (which calls it),
so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Channel = Literal["line", "email", "sms"]
CHANNELS: tuple[Channel, ...] = ("line", "email", "sms")


@dataclass(frozen=True)
class EmailContent:
    subject: str
    html: str | None
    text: str | None


@dataclass(frozen=True)
class RenderedContent:
    """One recipient's message on one channel, ready for its provider."""

    template_id: str
    template_version: int
    channel: Channel
    line_messages: list[dict[str, Any]] | None = None  # 1-5 LINE message objects
    email: EmailContent | None = None
    sms_text: str | None = None
    sms_segments: int = 0  # GSM-7 160/153 or UCS-2 70/67 per segment
    link_codes: list[str] = field(default_factory=list)  # personal tracked links minted for it


@dataclass(frozen=True)
class RenderContext:
    """What personalisation may read: the person and, for triggered sends, the event."""

    profile_id: str
    traits: Mapping[str, Any]
    computed: Mapping[str, Any]
    tags: list[str]
    event: Mapping[str, Any] | None = None  # the triggering event's properties
    # Ids a tracked link carries so a click names the message (campaign_id, journey_id, node_id,
    # message_id).
    link_attribution: Mapping[str, str] = field(default_factory=dict)


class RenderError(Exception):
    """This recipient's data cannot render the template; the batch goes on without them."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


LinkMinter = Callable[[str, RenderContext], str]
"""Turns a destination URL into the personal tracked URL (`.../r/{code}`) for this recipient."""


class Renderer(Protocol):
    def render(
        self,
        *,
        template_id: str,
        version: int | None,
        channel: Channel,
        context: RenderContext,
    ) -> RenderedContent:
        """Render the template's content for `channel`; `version=None` means the newest.

        Raises `RenderError` when the recipient's data cannot render it and `LookupError` when the
        template, the version or its content for that channel does not exist.
        """
        ...
