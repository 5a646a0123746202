"""Tags as events: newest add/remove wins per tag, names are validated, stored docs from before
tags were events still read, manual tagging becomes timeline events, and tag coverage."""

from __future__ import annotations

import itertools
import json

import pytest
from cdp.adapters.dynamodb.profile_store import profile_from_item, profile_to_document
from cdp.errors import BadRequest, Conflict
from cdp.events.canonical import CanonicalEvent
from cdp.profiles.model import Profile, Stamped, apply_event, merge_profiles, rebuild_profile
from cdp.profiles.tag_changes import tag_change_events
from cdp.profiles.tags import parse_tag_change, tag_coverage, tag_problem

from tests.unit.builders import NOW_ISO, NOW_MS, canonical

T0 = "2024-05-01T00:00:00.000Z"


def _tag_event(event_id: str, minute: int, tag: str, *, added: bool = True, source: str = "rule") -> CanonicalEvent:
    event = canonical(
        event_id=event_id,
        timestamp=f"2024-05-01T09:{minute:02d}:00.000Z",
        event="Tag Added" if added else "Tag Removed",
    )
    event.properties = {"tag": tag, "source": source}
    return event


@pytest.mark.parametrize(
    ("tag", "ok"),
    [
        ("vip", True),
        ("asked:size", True),
        ("src:store-taipei-101", True),
        ("問過:尺寸", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("   ", False),
        (" vip", False),
        ("a\nb", False),
        ("a\x00b", False),
        (":size", False),
        ("asked:", False),
        (12, False),
        (None, False),
    ],
)
def test_tag_names(tag: object, ok: bool) -> None:
    assert (tag_problem(tag) is None) is ok


def test_the_newest_add_or_remove_wins_whatever_the_order_and_only_visible_changes_are_named() -> None:
    events = [
        _tag_event("e-1", 1, "asked:size", source="keyword"),
        _tag_event("e-2", 2, "asked:size", added=False, source="manual"),
        _tag_event("e-3", 3, "vip", source="manual"),
        _tag_event("e-4", 0, "vip", added=False),
    ]
    results = set()
    for order in itertools.permutations(events):
        profile = Profile.new("p", T0)
        for event in order:
            apply_event(profile, event, [], NOW_ISO)
        results.add(json.dumps(profile.tags, sort_keys=True))
    assert results == {json.dumps({"vip": {"source": "manual", "at": "2024-05-01T09:03:00.000Z"}}, sort_keys=True)}

    profile = Profile.new("p", T0)
    changes = [apply_event(profile, e, [], NOW_ISO) for e in events]
    assert [[c for c in change if c.startswith("tag:")] for change in changes] == [
        ["tag:asked:size"],
        ["tag:asked:size"],
        ["tag:vip"],
        [],  # older than the add: ignored
    ]


def test_invalid_tags_and_unknown_sources() -> None:
    profile = Profile.new("p", T0)
    assert "tag:" not in " ".join(apply_event(profile, _tag_event("e-1", 1, "a\tb"), [], NOW_ISO))
    apply_event(profile, _tag_event("e-2", 1, "vip", source="hacker"), [], NOW_ISO)
    assert profile.tags == {"vip": {"source": "api", "at": "2024-05-01T09:01:00.000Z"}}


def test_a_removal_on_one_side_newer_than_the_add_on_the_other_wins_the_merge() -> None:
    left, right = Profile.new("p_l", T0), Profile.new("p_r", T0)
    apply_event(left, _tag_event("e-1", 1, "vip"), [], NOW_ISO)
    apply_event(right, _tag_event("e-2", 2, "vip", added=False), [], NOW_ISO)

    assert merge_profiles(left, right, NOW_ISO).tags == {}
    assert merge_profiles(right, left, NOW_ISO).tags == {}


def test_stored_documents_from_before_tags_were_events_read_as_added() -> None:
    profile = Profile.new("p", T0)
    document = profile_to_document(profile)
    document["tags"] = {"vip": {"source": "admin", "at": "2024-04-01T00:00:00.000Z"}}
    document.pop("tag_state", None)  # written only when there is tag state
    item = {"doc": {"S": json.dumps(document)}, "version": {"N": "3"}}

    old = profile_from_item(item)
    assert old.tags == {"vip": {"source": "admin", "at": "2024-04-01T00:00:00.000Z"}}
    # a newer removal event removes it; round trips keep the state
    apply_event(old, _tag_event("e-1", 1, "vip", added=False), [], NOW_ISO)
    again = profile_from_item({"doc": {"S": json.dumps(profile_to_document(old))}, "version": {"N": "4"}})
    assert again.tags == {} and again.tag_state["vip"] == Stamped(False, "2024-05-01T09:01:00.000Z", "rule", "e-1")


def test_a_rebuilt_profile_has_its_tags_from_the_timeline() -> None:
    timeline = [(_tag_event("e-1", 1, "asked:size", source="keyword"), [], NOW_ISO)]
    rebuilt = rebuild_profile("p", T0, timeline, NOW_ISO)
    assert rebuilt.tags == {"asked:size": {"source": "keyword", "at": "2024-05-01T09:01:00.000Z"}}


def test_parse_tag_change() -> None:
    assert parse_tag_change({"add": ["vip", "vip"], "remove": ["x"]}) == (["vip"], ["x"])
    for body, code in [
        ({}, "no_tag_change"),
        ({"add": "vip"}, "invalid_tag_list"),
        ({"add": [""]}, "invalid_tag"),
        ({"add": ["a"], "remove": ["a"]}, "tag_added_and_removed"),
        ({"add": [f"t{n}" for n in range(51)]}, "too_many_tags"),
        ({"labels": []}, "unknown_tag_field"),
    ]:
        with pytest.raises(BadRequest) as raised:
            parse_tag_change(body)
        assert raised.value.code == code


def test_manual_tag_changes_are_track_events_naming_the_person_deterministically_per_request() -> None:
    profile = Profile.new("p", T0)
    profile.identifiers = {
        "member_id:M-1": {"type": "member_id", "value": "M-1", "added_at": T0},
        "anonymous_id:a": {"type": "anonymous_id", "value": "a", "added_at": T0},
    }
    events = tag_change_events(profile, add=["vip"], remove=["asked:size"], now_ms=NOW_MS, request_key="k")
    again = tag_change_events(profile, add=["vip"], remove=["asked:size"], now_ms=NOW_MS, request_key="k")
    assert [e.event_id for e in events] == [e.event_id for e in again]
    assert len({e.event_id for e in events}) == 2
    assert [(e.payload["event"], e.payload["properties"]) for e in events] == [
        ("Tag Added", {"tag": "vip", "source": "manual"}),
        ("Tag Removed", {"tag": "asked:size", "source": "manual"}),
    ]
    assert events[0].payload["context"]["externalIds"][0]["type"] == "member_id"
    assert events[0].source == "admin-tags"
    with pytest.raises(Conflict):
        tag_change_events(Profile.new("q", T0), add=["vip"], remove=[], now_ms=NOW_MS)


def _friend(profile_id: str, *tags: str, status: str = "friend") -> Profile:
    profile = Profile.new(profile_id, T0)
    profile.line_accounts = {"x": Stamped(status, T0, "line:oa", "e")}
    profile.tags = {tag: {"source": "rule", "at": T0} for tag in tags}
    return profile


def test_tag_coverage_counts_reachable_friends_overall_and_per_group() -> None:
    profiles = [
        _friend("p1", "asked:size", "src:store-taipei-101"),
        _friend("p2", "vip"),
        _friend("p3"),
        _friend("p4", "src:web"),
        _friend("p5", "vip", status="blocked"),  # not reachable: not counted
        Profile.new("p6", T0),  # never followed
    ]
    assert tag_coverage(profiles) == {
        "friends": 4,
        "tagged": 3,
        "rate": 0.75,
        "groups": {"asked": {"tagged": 1, "rate": 0.25}, "src": {"tagged": 2, "rate": 0.5}},
    }
    assert tag_coverage([]) == {"friends": 0, "tagged": 0, "rate": None, "groups": {}}
