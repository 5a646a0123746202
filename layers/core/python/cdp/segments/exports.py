"""Segment exports: a LINE audience group of the members' LINE user ids, and a hashed-identifier CSV.

Both read the segment's current members page by page (PAGE profiles at a time), never all at once.

LINE audience (Messaging API, manage-audience.yml):
- Reachable members only: the user ids of the channel's provider (`line` identifiers `<provider>:<userId>`)
  whose follow state (`line_accounts`) is `friend`.
- The group is created with the first 10,000 ids (`POST /v2/bot/audienceGroup/upload`, LINE's
  per-request limit) and the rest added 10,000 at a time (`PUT /v2/bot/audienceGroup/upload`).
- Re-exports create a new group every time: LINE can add ids to an upload group but never remove
  them, so updating the old group would keep people who have left the segment. The record of the
  new export names the group of the previous one (`previousAudienceGroupId`) for the caller to
  delete or stop using.
- Fewer than MIN_LINE_AUDIENCE ids: refused (409 `audience_too_small`) without calling LINE.
  LINE does not state a minimum for creating a group, but a narrowcast whose audience has fewer
  than 50 recipients fails ("An audience of less than 50 recipients is included"), so a smaller
  group could never be targeted.

Hashed CSV (`email_sha256,phone_sha256`, one identifier per row, the other column empty), the formats
ad platforms match on (Meta custom audiences, Google Customer Match, LINE Ads):
- email: trimmed, lower-cased, then SHA-256 of the UTF-8 bytes, hex lower-case;
- phone: the E.164 number's digits, country code included, without `+`, spaces or dashes
  (`+886912345678` -> `886912345678`), then SHA-256, hex lower-case.
Identifiers are already normalised when stored (cdp.identity.identifiers); this applies it again.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from cdp.errors import Conflict
from cdp.profiles.model import Profile
from cdp.segments.store import Membership

MIN_LINE_AUDIENCE = 50
AUDIENCE_CHUNK = 10_000
PAGE = 100  # members per page: one BatchGetItem of profiles
KIND_LINE = "line-audience"
KIND_CSV = "hashed-csv"


class MemberPages(Protocol):
    def members(
        self, segment_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[Membership], str | None]: ...


class ProfileReader(Protocol):
    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]: ...


class AudienceApi(Protocol):
    def create_audience(self, *, access_token: str, description: str, user_ids: list[str]) -> int: ...

    def add_to_audience(self, *, access_token: str, audience_group_id: int, user_ids: list[str]) -> None: ...


def member_profiles(
    segment_id: str, pages: MemberPages, profiles: ProfileReader, page_size: int = PAGE
) -> Iterator[Profile]:
    """The segment's members' profiles, one page of memberships (and one batch read) at a time."""
    after: str | None = None
    while True:
        page, after = pages.members(segment_id, limit=page_size, after=after)
        found = profiles.get_many([m.profile_id for m in page]) if page else {}
        for membership in page:
            profile = found.get(membership.profile_id)
            if profile is not None:
                yield profile
        if after is None:
            return


def line_user_ids(profile: Profile, provider_id: str) -> list[str]:
    """The profile's LINE user ids under `provider_id` that currently follow (friend)."""
    prefix = f"{provider_id}:"
    found: list[str] = []
    for entry in profile.identifiers.values():
        value = entry.get("value", "")
        if entry.get("type") != "line" or not value.startswith(prefix):
            continue
        stamped = profile.line_accounts.get(value)
        if stamped is not None and stamped.value == "friend":
            found.append(value.removeprefix(prefix))
    return sorted(found)


def chunks(items: Sequence[str], size: int = AUDIENCE_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@dataclass(frozen=True, slots=True)
class LineAudienceSelection:
    members: int
    user_ids: list[str]


def select_line_audience(profiles: Iterator[Profile], provider_id: str) -> LineAudienceSelection:
    members = 0
    ids: dict[str, None] = {}
    for profile in profiles:
        members += 1
        for user_id in line_user_ids(profile, provider_id):
            ids[user_id] = None
    return LineAudienceSelection(members, list(ids))


def push_line_audience(
    selection: LineAudienceSelection,
    api: AudienceApi,
    *,
    access_token: str,
    description: str,
    minimum: int = MIN_LINE_AUDIENCE,
) -> tuple[int, int]:
    """Create the group with the first chunk and add the rest: (audienceGroupId, requests made)."""
    if len(selection.user_ids) < minimum:
        raise Conflict(
            f"only {len(selection.user_ids)} reachable LINE users; LINE needs at least {minimum} to target an audience",
            code="audience_too_small",
            details={"count": len(selection.user_ids), "minimum": minimum, "members": selection.members},
        )
    parts = chunks(selection.user_ids)
    group_id = api.create_audience(access_token=access_token, description=description, user_ids=next(parts))
    requests = 1
    for part in parts:
        api.add_to_audience(access_token=access_token, audience_group_id=group_id, user_ids=part)
        requests += 1
    return group_id, requests


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_email(value: str) -> str:
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    """E.164 digits without `+` (stored phones are E.164 already; stray separators are dropped)."""
    return "".join(ch for ch in value if ch.isdigit())


def hashed_rows(profile: Profile) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for entry in sorted(profile.identifiers.values(), key=lambda e: (e.get("type", ""), e.get("value", ""))):
        value = entry.get("value", "")
        if entry.get("type") == "email" and normalise_email(value):
            rows.append((sha256_hex(normalise_email(value)), ""))
        elif entry.get("type") == "phone" and normalise_phone(value):
            rows.append(("", sha256_hex(normalise_phone(value))))
    return rows


@dataclass(slots=True)
class CsvCounts:
    members: int = 0
    members_with_hashes: int = 0
    emails: int = 0
    phones: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "members": self.members,
            "membersWithHashes": self.members_with_hashes,
            "emails": self.emails,
            "phones": self.phones,
        }


def hashed_csv(profiles: Iterator[Profile], counts: CsvCounts) -> Iterator[bytes]:
    """The CSV in pieces (a header, then one piece per member); `counts` fills in as it is consumed."""
    yield b"email_sha256,phone_sha256\r\n"
    for profile in profiles:
        counts.members += 1
        rows = hashed_rows(profile)
        if not rows:
            continue
        counts.members_with_hashes += 1
        counts.emails += sum(1 for email, _ in rows if email)
        counts.phones += sum(1 for _, phone in rows if phone)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        yield buffer.getvalue().encode("utf-8")
