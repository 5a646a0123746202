"""Manual tagging through the admin API: each tag added or removed becomes a "Tag Added" /
"Tag Removed" event on the person's timeline (like a consent change), so it survives merges and
unmerges and is rebuilt with the profile."""

from __future__ import annotations

from cdp.events.names import TAG_ADDED, TAG_REMOVED
from cdp.events.raw import RawEvent
from cdp.profiles.consent import admin_event
from cdp.profiles.model import Profile

TAGS_SOURCE = "admin-tags"


def tag_change_events(
    profile: Profile, *, add: list[str], remove: list[str], now_ms: int, request_key: str | None = None
) -> list[RawEvent]:
    changes = [(TAG_ADDED, tag) for tag in add] + [(TAG_REMOVED, tag) for tag in remove]
    return [
        admin_event(
            profile,
            source=TAGS_SOURCE,
            payload={"type": "track", "event": name, "properties": {"tag": tag, "source": "manual"}},
            context={"channel": "crm"},
            now_ms=now_ms,
            request_key=request_key,
            key_suffix=f"\n{name}\n{tag}",
            purpose="record tags",
        )
        for name, tag in changes
    ]
