"""The render context of a stored profile: its traits' values, computed traits and tags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdp.messaging.content import RenderContext
from cdp.profiles.computed import computed_traits
from cdp.profiles.model import Profile


def profile_context(
    profile: Profile,
    *,
    now: str,
    event: Mapping[str, Any] | None = None,
    link_attribution: Mapping[str, str] | None = None,
) -> RenderContext:
    """What a template may read about `profile` at `now` (ISO-8601 UTC, for windowed computed traits)."""
    return RenderContext(
        profile_id=profile.profile_id,
        traits={name: stamped.value for name, stamped in profile.traits.items()},
        computed=computed_traits(profile, now),
        tags=sorted(profile.tags),
        event=event,
        link_attribution=dict(link_attribution or {}),
    )
