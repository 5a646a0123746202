"""One-click unsubscribe: signed tokens, the opt-out as a consent event, and the HTTP answers."""

from __future__ import annotations

import pytest
from cdp.errors import BadRequest
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier
from cdp.messaging.unsubscribe import Unsubscriber, read_unsubscribe_token, unsubscribe_token, unsubscribe_url
from cdp.profiles.model import Profile, apply_event
from cdp_api.unsubscribe import answer_unsubscribe

from tests.fakes import FakeRawEventStore, FixedClock
from tests.unit.builders import NOW_ISO

KEY = b"k" * 64


def test_a_token_round_trips_and_any_change_is_refused() -> None:
    token = unsubscribe_token(KEY, "email", "amy@example.com")
    assert read_unsubscribe_token(KEY, token) == ("email", "amy@example.com")
    assert unsubscribe_url("https://go.example.com/", KEY, "email", "amy@example.com").endswith(f"/u/{token}")
    forged = unsubscribe_token(KEY, "email", "ben@example.com").split(".")[0] + "." + token.split(".")[1]
    for bad in (forged, token + "x", "", "abc", unsubscribe_token(b"other" * 10, "email", "amy@example.com")):
        with pytest.raises(BadRequest) as refused:
            read_unsubscribe_token(KEY, bad)
        assert refused.value.code == "invalid_unsubscribe_token"
    with pytest.raises(BadRequest):
        read_unsubscribe_token(KEY, unsubscribe_token(KEY, "line", "U1"))  # LINE has its own block


def test_unsubscribing_records_the_opt_out_as_consent_once_a_day(event_normalizer: EventNormalizer) -> None:
    events, clock = FakeRawEventStore(), FixedClock()
    unsubscriber = Unsubscriber(events=events, signing_key=lambda: KEY, clock=clock)
    token = unsubscribe_token(KEY, "email", "amy@example.com")

    first = unsubscriber.unsubscribe(token)
    again = unsubscriber.unsubscribe(token)

    assert (first.recorded, again.recorded) == (True, False)
    (raw,) = events.events.values()
    event = event_normalizer.normalize(raw)
    assert event.identifiers == [Identifier("email", "amy@example.com")]
    profile = Profile.new("p_amy", NOW_ISO)
    apply_event(profile, event, [], NOW_ISO)
    assert profile.consent["email:marketing"].value is False
    clock.advance(86_400_000)
    assert unsubscriber.unsubscribe(token).recorded is True  # another day: a new opt-out


def test_get_shows_the_button_and_only_post_unsubscribes() -> None:
    events = FakeRawEventStore()
    unsubscriber = Unsubscriber(events=events, signing_key=lambda: KEY, clock=FixedClock())
    token = unsubscribe_token(KEY, "email", "amy@example.com")

    shown = answer_unsubscribe({"httpMethod": "GET", "pathParameters": {"token": token}}, lambda: unsubscriber)
    assert shown["statusCode"] == 200 and '<form method="post">' in shown["body"] and not events.events
    done = answer_unsubscribe({"httpMethod": "POST", "pathParameters": {"token": token}}, lambda: unsubscriber)
    assert done["statusCode"] == 200 and "Unsubscribed" in done["body"] and len(events.events) == 1
    bad = answer_unsubscribe({"httpMethod": "POST", "pathParameters": {"token": "x"}}, lambda: unsubscriber)
    assert bad["statusCode"] == 400 and '"invalid_unsubscribe_token"' in bad["body"]
