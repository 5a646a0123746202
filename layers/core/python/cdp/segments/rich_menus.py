"""A rich menu per segment (seed 002: keep a "book a test ride" block in view for the right
people): a LINE rich menu linked to a segment is linked to each member's LINE user (LINE's
per-user rich menu, in bulk requests of up to 500 users); a person who leaves the segment gets
the channel's default menu back (bulk unlink).

Kept in sync from the bus (`segment.entered` / `segment.exited`) and by a full resync when the
link is made (or asked for). Each change is applied from the *current* membership, not from the
event: a replayed or late `segment.entered` of someone who has left since unlinks them, so
replays and reordering converge on the same state. Link and unlink are idempotent at LINE.

One rich menu per person: when several linked segments hold the same person, the last change
applied wins, and leaving any of them restores the default menu.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp.errors import BadRequest, NotFound
from cdp.ingestion.channels import LineChannel
from cdp.profiles.model import Profile
from cdp.segments.exports import MemberPages, ProfileReader, chunks, line_user_ids, member_profiles

BULK_USERS = 500  # LINE's limit per bulk link / unlink request
RICH_MENU_ID = re.compile(r"richmenu-[0-9a-f]{32}")  # LINE's rich menu ids
CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class SegmentRichMenu:
    segment_id: str
    rich_menu_id: str
    channel: str  # the LINE channel (entry of the channels secret) the menu belongs to
    linked_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "rich_menu_id": self.rich_menu_id,
            "channel": self.channel,
            "linked_at": self.linked_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentRichMenu:
        return cls(data["segment_id"], data["rich_menu_id"], data["channel"], data["linked_at"])


def parse_link(segment_id: str, rich_menu_id: Any, channel: Any, at: str) -> SegmentRichMenu:
    if not isinstance(rich_menu_id, str) or not RICH_MENU_ID.fullmatch(rich_menu_id):
        raise BadRequest("`rich_menu_id` is a LINE rich menu id (richmenu-<32 hex>)", code="invalid_rich_menu_id")
    if not isinstance(channel, str) or not CHANNEL_NAME.fullmatch(channel):
        raise BadRequest("`channel` is a configured LINE channel name", code="invalid_channel")
    return SegmentRichMenu(segment_id, rich_menu_id, channel, at)


class RichMenuLinks(Protocol):
    """LINE's per-user rich menus (cdp.adapters.line_api.LineRichMenuApi)."""

    def exists(self, *, access_token: str, rich_menu_id: str) -> bool: ...

    def link(self, *, access_token: str, rich_menu_id: str, user_ids: Sequence[str]) -> None: ...

    def unlink(self, *, access_token: str, user_ids: Sequence[str]) -> None: ...


class RichMenuStore(Protocol):
    """Which rich menu a segment has (cdp.adapters.dynamodb.segment_rich_menus)."""

    def get_rich_menu(self, segment_id: str) -> SegmentRichMenu | None: ...

    def put_rich_menu(self, link: SegmentRichMenu) -> None: ...

    def delete_rich_menu(self, segment_id: str) -> SegmentRichMenu | None: ...


class Memberships(MemberPages, Protocol):
    def member_of(self, profile_id: str, segment_ids: Sequence[str]) -> set[str]: ...


class Channels(Protocol):
    def find(self, name: str) -> LineChannel | None: ...


@dataclass(slots=True)
class SyncReport:
    segment_id: str
    linked: int = 0  # LINE users linked to the segment's menu
    unlinked: int = 0  # LINE users given the default menu back
    requests: int = 0  # bulk requests made
    skipped: str | None = None  # why nothing was done (no rich menu linked to the segment)
    profiles: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        report = {"segmentId": self.segment_id, "linked": self.linked, "unlinked": self.unlinked}
        return {**report, "requests": self.requests, **({"skipped": self.skipped} if self.skipped else {})}


class RichMenuSync:
    def __init__(
        self,
        *,
        store: RichMenuStore,
        memberships: Memberships,
        profiles: ProfileReader,
        links: RichMenuLinks,
        channels: Channels,
    ) -> None:
        self._store = store
        self._memberships = memberships
        self._profiles = profiles
        self._links = links
        self._channels = channels

    def channel(self, name: str) -> LineChannel:
        found = self._channels.find(name)
        if found is None:
            raise NotFound(f"no LINE channel {name}", code="line_channel_not_found")
        return found

    def check(self, link: SegmentRichMenu) -> None:
        """Before a link is saved: its channel is configured and LINE knows the menu."""
        channel = self.channel(link.channel)
        if not self._links.exists(access_token=channel.access_token, rich_menu_id=link.rich_menu_id):
            raise NotFound(f"LINE has no rich menu {link.rich_menu_id}", code="rich_menu_not_found")

    def changed(self, segment_id: str, profile_ids: Sequence[str]) -> SyncReport:
        """People who entered or left the segment: each gets the menu if they are a member now,
        the default menu otherwise (whatever the event said: replays converge)."""
        link = self._store.get_rich_menu(segment_id)
        if link is None:
            return SyncReport(segment_id, skipped="no_rich_menu")
        channel = self.channel(link.channel)
        members = [pid for pid in profile_ids if self._memberships.member_of(pid, [segment_id])]
        others = [pid for pid in profile_ids if pid not in members]
        report = SyncReport(segment_id)
        self._apply(link, channel, self._line_users(members, channel), report, linking=True)
        self._apply(link, channel, self._line_users(others, channel), report, linking=False)
        return report

    def resync(self, segment_id: str) -> SyncReport:
        """Every current member gets the menu (when it is first linked, or to repair drift)."""
        link = self._store.get_rich_menu(segment_id)
        if link is None:
            return SyncReport(segment_id, skipped="no_rich_menu")
        channel = self.channel(link.channel)
        report = SyncReport(segment_id)
        for batch in _batches(member_profiles(segment_id, self._memberships, self._profiles), channel):
            self._apply(link, channel, batch, report, linking=True)
        return report

    def release(self, link: SegmentRichMenu) -> SyncReport:
        """The link was removed: its members get the default menu back."""
        channel = self.channel(link.channel)
        report = SyncReport(link.segment_id)
        for batch in _batches(member_profiles(link.segment_id, self._memberships, self._profiles), channel):
            self._apply(link, channel, batch, report, linking=False)
        return report

    def _line_users(self, profile_ids: Sequence[str], channel: LineChannel) -> list[str]:
        if not profile_ids:
            return []
        found = self._profiles.get_many(list(profile_ids))
        users: list[str] = []
        for pid in profile_ids:
            profile = found.get(pid)
            if profile is not None and profile.merged_into:
                merged = self._profiles.get_many([profile.merged_into]).get(profile.merged_into)
                profile = merged if merged is not None and not merged.merged_into else None
            if profile is not None:
                users.extend(line_user_ids(profile, channel.provider_id))
        return sorted(set(users))

    def _apply(
        self, link: SegmentRichMenu, channel: LineChannel, users: Sequence[str], report: SyncReport, *, linking: bool
    ) -> None:
        for chunk in chunks(users, BULK_USERS):
            if linking:
                self._links.link(access_token=channel.access_token, rich_menu_id=link.rich_menu_id, user_ids=chunk)
                report.linked += len(chunk)
            else:
                self._links.unlink(access_token=channel.access_token, user_ids=chunk)
                report.unlinked += len(chunk)
            report.requests += 1


def _batches(profiles: Iterator[Profile], channel: LineChannel) -> Iterator[list[str]]:
    """Members' LINE user ids (friends of the channel's provider), BULK_USERS at a time."""
    batch: list[str] = []
    for profile in profiles:
        batch.extend(line_user_ids(profile, channel.provider_id))
        while len(batch) >= BULK_USERS:
            yield batch[:BULK_USERS]
            batch = batch[BULK_USERS:]
    if batch:
        yield batch
