"""Consent changes as timeline events, and reachability per channel."""

from __future__ import annotations

import pytest
from cdp.errors import BadRequest, Conflict
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.profiles.consent import consent_change_event, parse_consent_change, reachability
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
