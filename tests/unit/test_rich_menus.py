"""Rich menus per segment: members get the segment's menu, leavers the default back, from the
current membership (so replays and late events converge), in bulk requests of at most 500."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.errors import BadRequest, NotFound
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.ingestion.channels import LineChannels
from cdp.profiles.processor import EventProcessor
from cdp.segments.rich_menus import RichMenuSync, SegmentRichMenu, parse_link

from tests.fakes import (
    FakeProfileStore,
    FakePublisher,
    FakeRichMenuLinks,
    FakeSecrets,
    FakeSegmentRichMenus,
    FakeSegmentStore,
    FixedClock,
)
from tests.fixtures import line_events as line
from tests.unit.builders import LINE_CHANNEL, LINE_CHANNELS_SECRET_ID, LINE_PROVIDER, NOW_ISO, NOW_MS, line_raw

MENU = "richmenu-" + "a" * 32
SEGMENT = "test-riders"


class World:
    def __init__(self) -> None:
        self.profiles = FakeProfileStore()
        self.segments = FakeSegmentStore()
        self.store = FakeSegmentRichMenus()
        self.links = FakeRichMenuLinks([MENU])
        secrets = FakeSecrets(
            {
                LINE_CHANNELS_SECRET_ID: {
                    LINE_CHANNEL: {"channelSecret": "s", "channelAccessToken": "t", "providerId": LINE_PROVIDER}
                }
            }
        )
        self.sync = RichMenuSync(
            store=self.store,
            memberships=self.segments,
            profiles=self.profiles,
            links=self.links,
            channels=LineChannels(secrets, LINE_CHANNELS_SECRET_ID),
        )
        self._processor = EventProcessor(
            EventNormalizer(IdentifierNormalizer("TW")), self.profiles, FakePublisher(), FixedClock(NOW_MS)
        )

    def friend(self, seed: str, *, member: bool = True) -> tuple[str, str]:
        """A LINE friend (profile id, LINE user id), a member of the segment or not."""
        user = line.user_id(seed)
        result = self._processor.process(line_raw(line.follow(source=line.user_source(user))))
        assert result.profile_id is not None
        if member:
            self.segments.enter(SEGMENT, result.profile_id, at=NOW_ISO, rule_version=1)
        return result.profile_id, user

    def link(self) -> None:
        self.store.put_rich_menu(SegmentRichMenu(SEGMENT, MENU, LINE_CHANNEL, NOW_ISO))


def test_nothing_happens_for_a_segment_without_a_rich_menu() -> None:
    world = World()
    profile, _user = world.friend("amy")
    report = world.sync.changed(SEGMENT, [profile])
    assert report.skipped == "no_rich_menu" and world.links.requests == []


def test_a_member_gets_the_menu_and_a_leaver_the_default_back() -> None:
    world = World()
    world.link()
    amy, amy_line = world.friend("amy")
    assert world.sync.changed(SEGMENT, [amy]).linked == 1
    assert world.links.users == {amy_line: MENU}
    world.segments.exit(SEGMENT, amy, at=NOW_ISO, rule_version=1)
    assert world.sync.changed(SEGMENT, [amy]).unlinked == 1
    assert world.links.users == {}


def test_a_replayed_entry_of_someone_who_left_unlinks_them() -> None:
    world = World()
    world.link()
    amy, amy_line = world.friend("amy")
    world.sync.changed(SEGMENT, [amy])
    world.segments.exit(SEGMENT, amy, at=NOW_ISO, rule_version=1)
    world.sync.changed(SEGMENT, [amy])  # the exit
    world.sync.changed(SEGMENT, [amy])  # the entry, replayed late: the current state decides
    assert amy_line not in world.links.users
    world.segments.enter(SEGMENT, amy, at=NOW_ISO, rule_version=1)
    for _replay in range(3):
        world.sync.changed(SEGMENT, [amy])
    assert world.links.users == {amy_line: MENU}


def test_a_resync_links_every_member_in_bulk_requests_of_at_most_500() -> None:
    world = World()
    world.link()
    members = [world.friend(f"rider-{n}")[1] for n in range(1203)]
    outsider = world.friend("outsider", member=False)[1]
    report = world.sync.resync(SEGMENT)
    assert (report.linked, report.requests) == (1203, 3)
    assert [size for _, size in world.links.requests] == [500, 500, 203]
    assert set(world.links.users) == set(members) and outsider not in world.links.users
    released = world.sync.release(SegmentRichMenu(SEGMENT, MENU, LINE_CHANNEL, NOW_ISO))
    assert released.unlinked == 1203 and world.links.users == {}


def test_a_friend_who_blocked_the_channel_is_left_out() -> None:
    world = World()
    world.link()
    amy, amy_line = world.friend("amy")
    later = line.BASE_TIMESTAMP_MS + 60_000
    world._processor.process(line_raw(line.unfollow(source=line.user_source(amy_line), timestamp=later)))
    assert world.sync.changed(SEGMENT, [amy]).requests == 0


def test_a_link_is_checked_before_it_is_saved() -> None:
    world = World()
    world.sync.check(SegmentRichMenu(SEGMENT, MENU, LINE_CHANNEL, NOW_ISO))
    with pytest.raises(NotFound) as missing:
        world.sync.check(SegmentRichMenu(SEGMENT, "richmenu-" + "b" * 32, LINE_CHANNEL, NOW_ISO))
    assert missing.value.code == "rich_menu_not_found"
    with pytest.raises(NotFound) as channel:
        world.sync.check(SegmentRichMenu(SEGMENT, MENU, "other-oa", NOW_ISO))
    assert channel.value.code == "line_channel_not_found"


@pytest.mark.parametrize(
    ("menu", "channel", "code"),
    [
        ("menu-1", LINE_CHANNEL, "invalid_rich_menu_id"),
        (MENU + "0", LINE_CHANNEL, "invalid_rich_menu_id"),
        (None, LINE_CHANNEL, "invalid_rich_menu_id"),
        (MENU, "bad name", "invalid_channel"),
    ],
)
def test_bad_links_are_refused(menu: Any, channel: Any, code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_link(SEGMENT, menu, channel, NOW_ISO)
    assert caught.value.code == code
