"""Tag rules: parsing and validation, keyword matching (Chinese included), postback data, and the
processor writing what the rules derive into the event so rebuilds do not depend on later rules."""

from __future__ import annotations

import pytest
from cdp.domain_events import PROFILE_UPDATED
from cdp.errors import BadRequest
from cdp.events.canonical import CanonicalEvent, EventNormalizer
from cdp.profiles.model import Profile, rebuild_profile
from cdp.profiles.processor import EventProcessor
from cdp.profiles.tag_rules import MAX_TEXT_MATCHED, NO_TAG_RULES, TagRules, parse_postback
from cdp.segments.realtime import affected
from cdp.segments.rules import parse_rule, reads

from tests.fakes import FakeProfileStore, FakePublisher, FixedClock
from tests.fixtures import line_events as line
from tests.unit.builders import NOW_ISO, canonical, line_raw

RULES = TagRules.from_dict(
    {
        "keywords": [
            {"keyword": "尺寸", "tag": "asked:size"},
            {"keyword": "SALE", "tag": "asked:sale"},
            {"keyword": "退貨", "match": "equals", "tag": "asked:return"},
            {"keyword": r"M\s*號", "match": "regex", "tag": "asked:size-m"},
        ],
        "postbacks": [
            {"match": {"survey": "size"}, "trait": "size", "tag": "survey:size"},
            {"match": {"survey": "style"}, "value_param": "pick", "tag": "style:{value}"},
        ],
    },
    version=3,
)


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("請問這件的尺寸怎麼選？", ["asked:size"]),
        ("有 M 號嗎", ["asked:size-m"]),
        ("any sale this weekend?", ["asked:sale"]),  # contains and equals are case-folded
        (" 退貨 ", ["asked:return"]),
        ("我要退貨", []),  # equals is the whole message
        ("尺寸 M號", ["asked:size", "asked:size-m"]),
        ("你好", []),
        ("x" * MAX_TEXT_MATCHED + "尺寸", []),  # only the start of a long message is read
    ],
)
def test_keyword_rules(text: str, tags: list[str]) -> None:
    derived = RULES.derive("LINE Message Received", {"text": text})
    assert [entry["tag"] for entry in derived.tags] == tags
    assert all(entry["source"] == "keyword" for entry in derived.tags)
    assert not RULES.derive("LINE Postback", {"text": text})  # keywords read messages only


@pytest.mark.parametrize(
    ("data", "tags", "traits"),
    [
        ("survey=size&answer=M", ["survey:size"], {"size": "M"}),
        ("answer=L&survey=size", ["survey:size"], {"size": "L"}),
        ("survey=size", ["survey:size"], {}),
        ("survey=style&pick=%E7%B0%A1%E7%B4%84", ["style:簡約"], {}),
        ("survey=style", [], {}),  # a tag naming the value needs the value
        ("survey=other&answer=M", [], {}),
        ("action=coupon&campaign=spring", [], {}),
        ("not a query string", [], {}),
    ],
)
def test_postback_rules(data: str, tags: list[str], traits: dict[str, str]) -> None:
    derived = RULES.derive("LINE Postback", {"data": data})
    assert [entry["tag"] for entry in derived.tags] == tags
    assert derived.traits == traits


def test_postback_data_is_a_query_string_keeping_the_first_value() -> None:
    assert parse_postback("a=1&b=&a=2&c") == {"a": "1", "b": "", "c": ""}


def test_rules_round_trip_and_bad_rules_name_the_problem() -> None:
    assert TagRules.from_dict(RULES.as_dict(), version=3) == RULES
    assert NO_TAG_RULES.as_dict() == {"keywords": [], "postbacks": [], "version": 0}
    for body, code in [
        ([], "invalid_tag_rules"),
        ({"keywords": {}}, "invalid_tag_rules"),
        ({"keywords": ["尺寸"]}, "invalid_tag_rule"),
        ({"keywords": [{"keyword": "尺寸"}]}, "invalid_tag"),
        ({"keywords": [{"keyword": "尺寸", "tag": "x" * 65}]}, "invalid_tag"),
        ({"keywords": [{"keyword": " ", "tag": "x"}]}, "invalid_keyword"),
        ({"keywords": [{"keyword": "[", "match": "regex", "tag": "x"}]}, "invalid_regex"),
        ({"keywords": [{"keyword": "x", "match": "like", "tag": "x"}]}, "invalid_match_mode"),
        ({"keywords": [{"keyword": "x", "tag": "x", "answer": "hi"}]}, "unknown_rule_field"),
        ({"keywords": [{"keyword": "x", "tag": "x", "reply": "hi"}]}, "invalid_reply"),
        ({"postbacks": [{"match": {"survey": 1}, "trait": "size"}]}, "invalid_postback_match"),
        ({"postbacks": [{"match": {"survey": "size"}}]}, "invalid_tag_rule"),
        ({"postbacks": [{"match": {"survey": "size"}, "trait": "1size"}]}, "invalid_trait_name"),
        ({"keywords": [{"keyword": "x", "tag": "x"}] * 201}, "too_many_rules"),
    ]:
        with pytest.raises(BadRequest) as raised:
            TagRules.from_dict(body)  # type: ignore[arg-type]
        assert raised.value.code == code, body


def test_the_processor_tags_with_the_rules_and_the_timeline_keeps_what_they_derived(
    event_normalizer: EventNormalizer,
) -> None:
    store, publisher = FakeProfileStore(), FakePublisher()
    current = [RULES]
    processor = EventProcessor(event_normalizer, store, publisher, FixedClock(), tag_rules=lambda: current[0])

    processor.process(line_raw(line.follow(timestamp=1_714_557_600_000)))
    asked = processor.process(line_raw(line.text_message("請問尺寸", timestamp=1_714_557_660_000)))
    answered = processor.process(line_raw(line.postback("survey=size&answer=M", timestamp=1_714_557_720_000)))

    assert "tag:asked:size" in asked.changes
    assert {"tag:survey:size", "trait:size"} <= set(answered.changes)
    updated = publisher.named(PROFILE_UPDATED)
    assert any("tag:asked:size" in e.detail["changes"] for e in updated)
    profile = store.profiles[asked.profile_id or ""]
    assert set(profile.tags) == {"asked:size", "survey:size"}
    assert profile.traits["size"].value == "M"
    assert answered.event.derived is not None and answered.event.derived.rules_version == 3
    assert answered.event.as_dict()["properties"]["tagRulesVersion"] == 3  # stored where it always was

    # Rules change later (or go away): a rebuild from the timeline gives the same tags and traits
    current[0] = NO_TAG_RULES
    timeline = store.timeline(asked.profile_id or "")
    rebuilt = rebuild_profile(
        profile.profile_id,
        profile.created_at,
        [(entry.event(), entry.attached_identifiers(), entry.applied_at) for entry in timeline],
        NOW_ISO,
    )
    assert rebuilt.tags == profile.tags
    assert rebuilt.traits == profile.traits


def test_partner_events_cannot_claim_derived_tags() -> None:
    """Only LINE events the processor normalised carry derived tags; a partner's are ignored."""
    event = canonical(event_id="e-1", timestamp=NOW_ISO, event="LINE Message Received")
    event.properties = {"derivedTags": [{"tag": "vip", "source": "rule"}], "derivedTraits": {"tier": "gold"}}
    profile = rebuild_profile("p", NOW_ISO, [(event, [], NOW_ISO)], NOW_ISO)
    assert (profile.tags, profile.traits) == ({}, {})
    # read back from a stored timeline, the keys become the event's derivation: still not the person's
    stored = CanonicalEvent.from_dict(event.as_dict())
    assert stored.derived is not None and stored.as_dict() == event.as_dict()
    profile = rebuild_profile("p", NOW_ISO, [(stored, [], NOW_ISO)], NOW_ISO)
    assert (profile.tags, profile.traits) == ({}, {})
    assert isinstance(profile, Profile)


def test_tag_change_names_reach_segments_reading_the_tag_or_its_group() -> None:
    by_name = reads(parse_rule({"tag": {"name": "asked:size"}}))
    by_group = reads(parse_rule({"tag": {"group": "asked"}}))
    other = reads(parse_rule({"tag": {"name": "vip"}}))
    assert affected(by_name, ["tag:asked:size"]) and affected(by_group, ["tag:asked:size"])
    assert not affected(other, ["tag:asked:size"])
    assert affected(
        reads(parse_rule({"attribute": {"field": "traits.size", "op": "eq", "value": "M"}})), ["trait:size"]
    )
