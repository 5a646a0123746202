"""A campaign's audience: its segment's members, a page at a time, each followed to the person
it is now (merges), optionally narrowed by a rule in the segment rule language, at most
`max_recipients` people. Preflight and the fan-out read the same pages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cdp.campaigns.model import Campaign
from cdp.errors import NotFound
from cdp.identity.merge import TimelineEntry
from cdp.profiles.model import Profile
from cdp.profiles.views import ProfileReader, current_profile
from cdp.segments.evaluate import evaluate
from cdp.segments.facts import event_fact, facts_from_profile
from cdp.segments.rules import Rule, parse_rule, reads
from cdp.segments.store import Membership

PAGE_SIZE = 500  # members read per page: one Query, then BatchGetItem of the profiles


class MemberSource(Protocol):
    def members(
        self, segment_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[Membership], str | None]: ...

    def member_of(self, profile_id: str, segment_ids: Sequence[str]) -> set[str]: ...


class Profiles(ProfileReader, Protocol):
    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]: ...

    def timeline(self, profile_id: str) -> list[TimelineEntry]: ...


@dataclass(frozen=True, slots=True)
class Page:
    members: int  # memberships read on this page
    people: list[Profile]  # who they are now, narrowed, in member order
    after: str | None  # the cursor of the next page (None: the last page)
    followed: frozenset[int] = frozenset()  # positions in `people` reached through a merge (a member merged into them)


class Audience:
    def __init__(self, members: MemberSource, profiles: Profiles) -> None:
        self._members = members
        self._profiles = profiles

    def pages(
        self, campaign: Campaign, now: datetime, *, after: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Page]:
        """Pages from `after` (a cursor an earlier page answered) to the end of the segment."""
        rule = parse_rule(campaign.rule) if campaign.rule else None
        while True:
            memberships, after = self._members.members(campaign.segment_id, limit=page_size, after=after)
            people, followed = self._people([m.profile_id for m in memberships], campaign, rule, now)
            yield Page(len(memberships), people, after, frozenset(followed))
            if after is None:
                return

    def is_member(self, campaign: Campaign, profile_id: str) -> bool:
        """Whether the person is a member of the campaign's segment in their own name."""
        return campaign.segment_id in self._members.member_of(profile_id, [campaign.segment_id])

    def people(self, profile_ids: Sequence[str], campaign: Campaign, rule: Rule | None, now: datetime) -> list[Profile]:
        return self._people(profile_ids, campaign, rule, now)[0]

    def _people(
        self, profile_ids: Sequence[str], campaign: Campaign, rule: Rule | None, now: datetime
    ) -> tuple[list[Profile], set[int]]:
        loaded = self._profiles.get_many(list(profile_ids)) if profile_ids else {}
        found: list[Profile] = []
        followed: set[int] = set()
        for profile_id in profile_ids:
            profile = loaded.get(profile_id)
            if profile is None:
                continue
            merged = bool(profile.merged_into)
            if profile.merged_into:
                try:
                    profile = current_profile(self._profiles, profile.merged_into)
                except NotFound:
                    continue
            if rule is None or self._matches(rule, profile, campaign, now):
                if merged:
                    followed.add(len(found))
                found.append(profile)
        return found, followed

    def _matches(self, rule: Rule, profile: Profile, campaign: Campaign, now: datetime) -> bool:
        found = reads(rule)
        events: list[Any] = []
        if found.events:
            facts = (event_fact(entry.event()) for entry in self._profiles.timeline(profile.profile_id))
            events = [fact for fact in facts if fact is not None]
        memberships = {campaign.segment_id}
        others = sorted(found.segments - memberships)
        if others:
            memberships |= self._members.member_of(profile.profile_id, others)
        return evaluate(rule, facts_from_profile(profile, now), events, now, memberships)
