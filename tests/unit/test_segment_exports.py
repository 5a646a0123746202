"""Segment exports: member selection, LINE chunking, the too-small refusal, hashing normalisation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from cdp.adapters.line_api import HttpRequest, HttpResponse, LineApiClient, LineApiError, LineAudienceApi
from cdp.errors import Conflict
from cdp.profiles.model import Profile, Stamped
from cdp.segments.exports import (
    CsvCounts,
    LineAudienceSelection,
    hashed_csv,
    line_user_ids,
    member_profiles,
    normalise_email,
    normalise_phone,
    push_line_audience,
    select_line_audience,
    sha256_hex,
)
from cdp.segments.store import Membership

NOW = "2026-01-01T00:00:00.000Z"


def uid(n: int) -> str:
    return f"U{n:032x}"


def profile(
    pid: str, *, line: dict[str, str] | None = None, email: str | None = None, phone: str | None = None
) -> Profile:
    p = Profile.new(pid, NOW)
    for value, status in (line or {}).items():
        p.identifiers[f"line:{value}"] = {"type": "line", "value": value, "added_at": NOW}
        p.line_accounts[value] = Stamped(status, NOW, "line:default", "e1")
    if email:
        p.identifiers[f"email:{email}"] = {"type": "email", "value": email, "added_at": NOW}
    if phone:
        p.identifiers[f"phone:{phone}"] = {"type": "phone", "value": phone, "added_at": NOW}
    return p


class Pages:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.calls: list[tuple[int, str | None]] = []

    def members(self, segment_id: str, *, limit: int, after: str | None = None) -> tuple[list[Membership], str | None]:
        self.calls.append((limit, after))
        start = self.ids.index(after) + 1 if after else 0
        page = self.ids[start : start + limit]
        more = start + limit < len(self.ids)
        return [Membership(segment_id, p, NOW, 1) for p in page], (page[-1] if more and page else None)


class Profiles:
    def __init__(self, found: dict[str, Profile]) -> None:
        self.found = found
        self.batches: list[int] = []

    def get_many(self, profile_ids: Sequence[str]) -> dict[str, Profile]:
        self.batches.append(len(profile_ids))
        return {p: self.found[p] for p in profile_ids if p in self.found}


class Audiences:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def create_audience(self, *, access_token: str, description: str, user_ids: list[str]) -> int:
        self.calls.append(("create", len(user_ids)))
        return 42

    def add_to_audience(self, *, access_token: str, audience_group_id: int, user_ids: list[str]) -> None:
        assert audience_group_id == 42
        self.calls.append(("add", len(user_ids)))


def test_only_friends_of_the_channels_provider_are_selected() -> None:
    p = profile(
        "p1",
        line={f"prov:{uid(1)}": "friend", f"prov:{uid(2)}": "blocked", f"other:{uid(3)}": "friend"},
    )
    assert line_user_ids(p, "prov") == [uid(1)]
    assert line_user_ids(profile("p2"), "prov") == []


def test_members_are_read_page_by_page_and_deduplicated() -> None:
    ids = [f"p{i}" for i in range(7)]
    found = {pid: profile(pid, line={f"prov:{uid(i % 5)}": "friend"}) for i, pid in enumerate(ids) if pid != "p6"}
    pages, profiles = Pages(ids), Profiles(found)
    selection = select_line_audience(member_profiles("s", pages, profiles, page_size=3), "prov")
    assert pages.calls == [(3, None), (3, "p2"), (3, "p5")]
    assert profiles.batches == [3, 3, 1]
    assert selection.members == 6  # p6 has no profile any more
    assert sorted(selection.user_ids) == [uid(i) for i in range(5)]


def test_the_audience_is_created_with_the_first_10000_and_the_rest_added() -> None:
    api = Audiences()
    selection = LineAudienceSelection(25_001, [uid(i) for i in range(25_001)])
    group, requests = push_line_audience(selection, api, access_token="t", description="d")
    assert (group, requests) == (42, 3)
    assert api.calls == [("create", 10_000), ("add", 10_000), ("add", 5_001)]


def test_too_small_an_audience_is_refused_without_calling_line() -> None:
    api = Audiences()
    with pytest.raises(Conflict) as caught:
        push_line_audience(
            LineAudienceSelection(60, [uid(i) for i in range(49)]), api, access_token="t", description="d"
        )
    assert caught.value.code == "audience_too_small"
    assert caught.value.details == {"count": 49, "minimum": 50, "members": 60}
    assert api.calls == []


def test_hashing_normalisation_with_known_vectors() -> None:
    assert normalise_email("  Test@Example.COM ") == "test@example.com"
    assert sha256_hex(normalise_email(" Test@Example.com")) == (
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
    )
    assert normalise_phone("+886 912-345-678") == "886912345678"
    assert sha256_hex(normalise_phone("+886912345678")) == (
        "cf676475cec2ee7b7591f39bdefe7ef3dca63b14c1cdba3b19ce4219cbda2b09"
    )


def test_the_csv_has_one_hashed_identifier_per_row_and_counts() -> None:
    people = [
        profile("a", email="test@example.com", phone="+886912345678"),
        profile("b"),
        profile("c", phone="+15551234567"),
    ]
    counts = CsvCounts()
    text = b"".join(hashed_csv(iter(people), counts)).decode()
    assert text.splitlines() == [
        "email_sha256,phone_sha256",
        "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b,",
        ",cf676475cec2ee7b7591f39bdefe7ef3dca63b14c1cdba3b19ce4219cbda2b09",
        ",d6736136ea896c1bfdc553e0e86e702c70d060d805696ca3e4e9e0961353860a",
    ]
    assert counts.as_dict() == {"members": 3, "membersWithHashes": 2, "emails": 1, "phones": 2}


def test_the_audience_client_sends_lines_json_and_maps_errors() -> None:
    sent: list[HttpRequest] = []
    answers = [HttpResponse(202, b'{"audienceGroupId": 7}'), HttpResponse(202, b""), HttpResponse(429, b"{}")]

    def transport(request: HttpRequest) -> HttpResponse:
        sent.append(request)
        return answers.pop(0)

    api = LineAudienceApi(LineApiClient("http://line.test", transport=transport))
    assert api.create_audience(access_token="tok", description="d", user_ids=[uid(1)]) == 7
    api.add_to_audience(access_token="tok", audience_group_id=7, user_ids=[uid(2)])
    with pytest.raises(LineApiError) as caught:
        api.add_to_audience(access_token="tok", audience_group_id=7, user_ids=[uid(3)])
    assert caught.value.code == "line_rate_limited"
    first: dict[str, Any] = json.loads(sent[0].body or b"")
    assert (sent[0].method, sent[0].url) == ("POST", "http://line.test/v2/bot/audienceGroup/upload")
    assert first == {"description": "d", "audiences": [{"id": uid(1)}]}
    assert sent[1].method == "PUT" and json.loads(sent[1].body or b"")["audienceGroupId"] == 7
    assert sent[0].headers["Authorization"] == "Bearer tok"
    with pytest.raises(ValueError):
        api.create_audience(access_token="tok", description="d", user_ids=[uid(i) for i in range(10_001)])
