"""The send request: the one shape every sender (campaigns, auto-replies, journeys, an operator)
hands to the send point. Validated at the boundary (the sender function) with pydantic."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from cdp.messaging.content import Channel

Purpose = Literal["marketing", "transactional"]
Kind = Literal["campaign", "journey", "auto_reply", "manual"]
InQuietHours = Literal["hold", "drop"]

HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
Id = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:#@-]+$")]


class QuietHours(BaseModel):
    """A local-time window (`start` to `end`, may span midnight) when marketing is not sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    start: StrictStr
    end: StrictStr

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.fullmatch(value):
            raise ValueError("must be HH:MM (24-hour)")
        return value


class SendRequest(BaseModel):
    """Who, what, why, where and the key that makes it happen at most once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    send_key: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    profile_id: Id
    template_id: Id
    template_version: Annotated[StrictInt, Field(ge=1)] | None = None
    data: dict[str, Any] = Field(default_factory=dict)  # the triggering event's properties
    kind: Kind
    purpose: Purpose
    campaign_id: Id | None = None
    journey_id: Id | None = None
    node_id: Id | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=3)]
    # Per-request overrides of the workspace's quiet hours; what to do with a send inside them.
    quiet_hours: QuietHours | None = None
    in_quiet_hours: InQuietHours = "hold"
    # Per-person caps of this campaign / journey (None: no cap of that kind).
    campaign_cap: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    journey_cap: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    # Auto-replies: LINE's reply token (free, about a minute), and whether an expired one may push.
    reply_token: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None
    reply_fallback_to_push: StrictBool = True
    line_channel: Id = "default"  # the LINE channel (entry in the channels secret) to send from
    # Set by the scheduled release of a held send: the hold is taken over, not repeated.
    release: StrictBool = False

    @field_validator("channels")
    @classmethod
    def _distinct(cls, channels: list[Channel]) -> list[Channel]:
        if len(set(channels)) != len(channels):
            raise ValueError("a channel appears twice in the chain")
        return channels

    @model_validator(mode="after")
    def _why(self) -> SendRequest:
        if self.kind == "campaign" and not self.campaign_id:
            raise ValueError("a campaign send names its campaign_id")
        if self.kind == "journey" and not (self.journey_id and self.node_id):
            raise ValueError("a journey send names its journey_id and node_id")
        if self.campaign_cap is not None and not self.campaign_id:
            raise ValueError("campaign_cap needs a campaign_id")
        if self.journey_cap is not None and not self.journey_id:
            raise ValueError("journey_cap needs a journey_id")
        return self

    def attribution(self) -> dict[str, str]:
        """The ids a tracked link and the outcome event carry."""
        ids = {"campaign_id": self.campaign_id, "journey_id": self.journey_id, "node_id": self.node_id}
        return {key: value for key, value in ids.items() if value}
