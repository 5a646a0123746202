"""Consent changes as timeline events, and reachability per channel."""

from __future__ import annotations

import pytest
from cdp.errors import BadRequest, Conflict
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.profiles.consent import (
    TEXT_VERSION_CONTEXT,
    consent_change_event,
    consent_history,
    parse_consent_change,
    parse_text_version,
    reachability,
)
from cdp.profiles.model import Profile, Stamped, apply_event

from tests.unit.builders import NOW_ISO, NOW_MS

LINE = line_identifier("2001234567", "U4af4980629a1b2c3d4e5f6a7b8c9d0e1")


def _profile(*identifiers: Identifier) -> Profile:
    profile = Profile.new("p_amy", NOW_ISO)
    for identifier in identifiers:
        profile.identifiers[identifier.key] = {"type": identifier.type, "value": identifier.value, "added_at": NOW_ISO}
    return profile


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"channel": "fax", "granted": False}, "invalid_consent_channel"),
        ({"channel": "email", "purpose": "Marketing!", "granted": False}, "invalid_consent_purpose"),
        ({"channel": "email", "granted": "no"}, "invalid_consent_value"),
        ({"channel": "sms"}, "invalid_consent_value"),
    ],
)
def test_a_bad_consent_change_is_a_400_naming_the_field(body: dict[str, object], code: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_consent_change(body)
    assert refused.value.code == code


def test_the_change_names_the_person_by_their_most_specific_identifier_and_applies_like_any_event(
    event_normalizer: EventNormalizer,
) -> None:
    profile = _profile(Identifier("anonymous_id", "a-1"), Identifier("email", "amy@example.com"), LINE)

    raw = consent_change_event(profile, channel="email", purpose="marketing", granted=False, now_ms=NOW_MS)
    event = event_normalizer.normalize(raw)

    assert event.identifiers == [LINE]  # line outranks email and the browser
    assert event.context["consent"] == {"email:marketing": False}
    changes = apply_event(profile, event, [], NOW_ISO)
    assert "consent:email:marketing" in changes
    assert profile.consent["email:marketing"].value is False


def test_a_retried_request_with_the_same_key_is_the_same_event() -> None:
    profile = _profile(Identifier("member_id", "M1"))
    first = consent_change_event(
        profile, channel="sms", purpose="marketing", granted=True, now_ms=NOW_MS, request_key="k1"
    )
    retry = consent_change_event(
        profile, channel="sms", purpose="marketing", granted=True, now_ms=NOW_MS + 5, request_key="k1"
    )
    other = consent_change_event(profile, channel="sms", purpose="marketing", granted=True, now_ms=NOW_MS)
    assert first.event_id == retry.event_id != other.event_id


def test_a_profile_without_identifiers_cannot_record_consent() -> None:
    with pytest.raises(Conflict) as refused:
        consent_change_event(_profile(), channel="email", purpose="marketing", granted=True, now_ms=NOW_MS)
    assert refused.value.code == "no_identifier"


def test_reachability_needs_a_friend_on_line_and_a_known_consented_contact_elsewhere() -> None:
    profile = _profile(Identifier("email", "amy@example.com"), LINE)
    profile.line_accounts[LINE.value] = Stamped("friend", NOW_ISO, "line:default", "e-1")
    profile.consent["email:marketing"] = Stamped(True, NOW_ISO, "partner:crm", "e-2")
    profile.consent["sms:marketing"] = Stamped(True, NOW_ISO, "partner:crm", "e-3")

    reach = reachability(profile)

    assert reach["line"] == {"reachable": True, "status": "friend", "consent": None}
    assert reach["email"] == {"reachable": True, "known": True, "consent": True}
    assert reach["sms"] == {"reachable": False, "known": False, "consent": True}  # consented, but no phone known

    profile.line_accounts[LINE.value] = Stamped("blocked", "2099-01-01T00:00:00.000Z", "line:default", "e-4")
    profile.consent["line:marketing"] = Stamped(False, NOW_ISO, "admin", "e-5")
    assert reachability(profile)["line"]["reachable"] is False


@pytest.mark.parametrize("version", ["", " v1", "v" * 65, 3, "tos v4", "v1\n"])
def test_a_bad_text_version_is_a_400(version: object) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_text_version({"channel": "email", "granted": True, "textVersion": version})
    assert refused.value.code == "invalid_consent_text_version"


def test_the_text_version_rides_on_the_event_and_is_optional(event_normalizer: EventNormalizer) -> None:
    profile = _profile(Identifier("member_id", "M1"))
    assert parse_text_version({"channel": "email", "granted": True}) is None
    version = parse_text_version({"textVersion": "tos-2026.03"})

    raw = consent_change_event(
        profile, channel="email", purpose="marketing", granted=True, now_ms=NOW_MS, text_version=version
    )
    plain = consent_change_event(profile, channel="email", purpose="marketing", granted=True, now_ms=NOW_MS)

    assert event_normalizer.normalize(raw).context[TEXT_VERSION_CONTEXT] == "tos-2026.03"
    assert TEXT_VERSION_CONTEXT not in event_normalizer.normalize(plain).context


def _doc(event_id: str, at: str, context: dict[str, object], source: str = "web-shop") -> dict[str, object]:
    return {
        "eventId": event_id,
        "timestamp": at,
        "origin": "partner",
        "source": source,
        "channel": "web",
        "type": "identify",
        "context": context,
    }


def test_the_history_lists_every_change_in_fold_order_with_source_purpose_and_text_version() -> None:
    events = [
        _doc("e-3", "2026-03-01T00:00:00.000Z", {"consent": {"email:marketing": False}}, source="admin-consent"),
        _doc("e-1", "2026-01-01T00:00:00.000Z", {"consent": {"email:marketing": True, "sms:marketing": True}}),
        _doc("e-0", "2025-12-01T00:00:00.000Z", {"channel": "web"}),  # no consent: not listed
        _doc(
            "e-2",
            "2026-02-01T00:00:00.000Z",
            {"consent": {"email:marketing": True, "line:news": "yes", 7: True}, TEXT_VERSION_CONTEXT: "v2"},
        ),
        _doc("e-4", "2026-04-01T00:00:00.000Z", {"consent": {"sms:marketing": True}, TEXT_VERSION_CONTEXT: "bad v"}),
    ]

    history = consent_history(events)

    assert [(h["event_id"], h["key"], h["granted"], h["changed"], h["text_version"]) for h in history] == [
        ("e-1", "email:marketing", True, True, None),
        ("e-1", "sms:marketing", True, True, None),
        ("e-2", "email:marketing", True, False, "v2"),  # confirmed again under the new text
        ("e-3", "email:marketing", False, True, None),
        ("e-4", "sms:marketing", True, False, None),  # a malformed version is not reported as one
    ]
    assert history[3]["source"] == "partner:admin-consent"
    assert (history[0]["channel"], history[0]["purpose"], history[0]["at"]) == (
        "email",
        "marketing",
        "2026-01-01T00:00:00.000Z",
    )


def test_the_last_history_entry_per_key_is_the_consent_the_fold_keeps(event_normalizer: EventNormalizer) -> None:
    profile = _profile(Identifier("member_id", "M1"))
    changes = [(False, NOW_MS + 2000, "v3"), (True, NOW_MS, "v1"), (True, NOW_MS + 1000, None)]
    documents = []
    for granted, at_ms, version in changes:
        raw = consent_change_event(
            profile, channel="sms", purpose="marketing", granted=granted, now_ms=at_ms, text_version=version
        )
        event = event_normalizer.normalize(raw)
        apply_event(profile, event, [], NOW_ISO)  # out of order, as streams deliver
        documents.append(event.as_dict())

    history = consent_history(documents)

    assert [h["granted"] for h in history] == [True, True, False]
    assert [h["text_version"] for h in history] == ["v1", None, "v3"]
    assert history[-1]["granted"] is profile.consent["sms:marketing"].value
    assert history[-1]["event_id"] == profile.consent["sms:marketing"].event_id
