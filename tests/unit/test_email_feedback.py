"""SES's events about sent email: timeline events per recipient, suppression of permanent bounces
and complaints, redeliveries stored once, anything else ignored."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier
from cdp.messaging.feedback import EmailFeedback

from tests.fakes import FakeRawEventStore, FixedClock
from tests.fakes_messaging import FakeSuppressions

MAIL = {
    "messageId": "0106018f-ses",
    "destination": ["amy@example.com"],
    "tags": {"message_id": ["msg_abc"], "campaign_id": ["c1"], "ses:configuration-set": ["LineCdp-messages"]},
}


def ses_event(kind: str, section: dict[str, Any] | None = None, event_id: str = "eb-1") -> dict[str, Any]:
    detail: dict[str, Any] = {"eventType": kind, "mail": MAIL}
    if section is not None:
        detail[kind[0].lower() + kind[1:]] = section
    return {"id": event_id, "source": "aws.ses", "detail-type": f"Email {kind}", "detail": detail}


@pytest.fixture
def world() -> tuple[EmailFeedback, FakeRawEventStore, FakeSuppressions]:
    events, suppressions = FakeRawEventStore(), FakeSuppressions()
    return EmailFeedback(events=events, suppressions=suppressions, clock=FixedClock()), events, suppressions


def test_a_permanent_bounce_suppresses_and_lands_on_the_timeline(
    world: tuple[EmailFeedback, FakeRawEventStore, FakeSuppressions], event_normalizer: EventNormalizer
) -> None:
    feedback, events, suppressions = world
    bounce = {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "amy@example.com"}],
        "timestamp": "2026-05-04T03:00:00.000Z",
    }

    outcome = feedback.record(ses_event("Bounce", bounce))
    again = feedback.record(ses_event("Bounce", bounce))  # EventBridge redelivers with the same id

    assert (outcome.kind, outcome.recorded, outcome.suppressed) == ("Bounce", 1, ["amy@example.com"])
    assert again.recorded == 0
    assert suppressions.suppressed("email", "AMY@example.com")
    (raw,) = events.events.values()
    event = event_normalizer.normalize(raw)
    assert event.identifiers == [Identifier("email", "amy@example.com")]
    assert raw.payload["event"] == "Email Bounced" and raw.payload["timestamp"] == "2026-05-04T03:00:00.000Z"
    props = raw.payload["properties"]
    assert (props["message_id"], props["campaign_id"], props["bounce_type"]) == ("msg_abc", "c1", "Permanent")


@pytest.mark.parametrize(
    ("kind", "section", "name", "suppressed"),
    [
        (
            "Bounce",
            {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "amy@example.com"}]},
            "Email Bounced",
            False,
        ),
        ("Complaint", {"complainedRecipients": [{"emailAddress": "amy@example.com"}]}, "Email Complained", True),
        ("Delivery", {"timestamp": "2026-05-04T03:00:01.000Z"}, "Email Delivered", False),
        ("Open", {}, "Email Opened", False),
        ("Click", {"link": "https://shop.example.com/r/abc"}, "Email Clicked", False),
    ],
)
def test_each_kind_is_its_event_and_only_complaints_and_hard_bounces_suppress(
    world: tuple[EmailFeedback, FakeRawEventStore, FakeSuppressions],
    kind: str,
    section: dict[str, Any],
    name: str,
    suppressed: bool,
) -> None:
    feedback, events, suppressions = world
    assert feedback.record(ses_event(kind, section)).recorded == 1
    (raw,) = events.events.values()
    assert raw.payload["event"] == name
    assert suppressions.suppressed("email", "amy@example.com") is suppressed


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.ses", "detail": {"eventType": "Send", "mail": MAIL}},
        {"source": "aws.ses", "detail": "nope"},
        {"source": "cdp", "detail": {"eventType": "Bounce"}},
        {"source": "aws.ses", "detail": {"eventType": "Delivery", "mail": {"destination": ["not-an-address"]}}},
    ],
)
def test_what_is_not_a_kept_ses_report_is_ignored(
    world: tuple[EmailFeedback, FakeRawEventStore, FakeSuppressions], event: dict[str, Any]
) -> None:
    feedback, events, suppressions = world
    assert feedback.record(event).recorded == 0
    assert events.events == {} and suppressions.entries == {}
