"""The send point's policy order, exactly-once sends and outcome events, on in-memory fakes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cdp.clock import ms_from_datetime
from cdp.errors import BadRequest
from cdp.events import names
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier, line_identifier
from cdp.ingestion.channels import LineChannels
from cdp.messaging import policy as rules
from cdp.messaging.policy import MessagingPolicy
from cdp.messaging.ports import ProviderResult, ProviderThrottled, ProviderUnavailable
from cdp.messaging.request import SendRequest
from cdp.messaging.send_point import RETRY_KEY_NAMESPACE, SendPoint, release_schedule_name, retry_key
from cdp.profiles.model import Profile, Stamped, apply_event
from pydantic import ValidationError

from tests.fakes import FakeProfileStore, FakePublisher, FakeRawEventStore, FakeSecrets, FixedClock
from tests.fakes_messaging import (
    FakeEmailSender,
    FakeFrequencyCaps,
    FakeLineMessenger,
    FakePolicies,
    FakeReleases,
    FakeRenderer,
    FakeSendLedger,
    FakeSmsSender,
    FakeSuppressions,
)

PROVIDER = "2001234567"
SECRET = "cdp/line-channels"
TAIPEI = ZoneInfo("Asia/Taipei")
AMY_LINE = "U" + "a" * 32
BEN_LINE = "U" + "b" * 32


def taipei(day: int, hour: int, minute: int = 0) -> int:
    return ms_from_datetime(datetime(2026, 5, day, hour, minute, tzinfo=TAIPEI))


MONDAY_11 = taipei(4, 11)  # 2026-05-04 is a Monday
MONDAY_23 = taipei(4, 23)
TUESDAY_09 = taipei(5, 9)


class World:
    def __init__(self, now_ms: int = MONDAY_11, *, with_email: bool = True, parallelism: int = 1) -> None:
        self.clock = FixedClock(now_ms)
        self.profiles = FakeProfileStore()
        self.renderer = FakeRenderer()
        self.renderer.add("coupon", line="Hi {name}, NT$100 off", email=("A coupon", "Hi {name}"), sms="Hi {name}")
        self.ledger = FakeSendLedger()
        self.caps = FakeFrequencyCaps()
        self.suppressions = FakeSuppressions()
        self.policies = FakePolicies()
        self.releases = FakeReleases()
        self.events = FakeRawEventStore()
        self.line = FakeLineMessenger()
        self.email = FakeEmailSender()
        self.sms = FakeSmsSender()
        self.bus = FakePublisher()
        secrets = FakeSecrets(
            {SECRET: {"default": {"channelSecret": "s", "channelAccessToken": "token", "providerId": PROVIDER}}}
        )
        self.point = SendPoint(
            profiles=self.profiles,
            renderer=self.renderer,
            ledger=self.ledger,
            caps=self.caps,
            suppressions=self.suppressions,
            policies=self.policies,
            releases=self.releases,
            events=self.events,
            clock=self.clock,
            line_channels=LineChannels(secrets, SECRET),
            line=self.line,
            email=self.email if with_email else None,
            sms=self.sms,
            unsubscribe_url=lambda profile_id, channel, address: f"https://cdp.example/u/{profile_id}",
            parallelism=parallelism,
            publisher=self.bus,
        )

    def person(
        self,
        profile_id: str,
        *,
        line: str | None = None,
        line_status: str = "friend",
        email: str | None = None,
        phone: str | None = None,
        consent: dict[str, bool] | None = None,
        name: str = "Amy",
    ) -> Profile:
        profile = Profile.new(profile_id, "2026-01-01T00:00:00.000Z")
        identifiers: list[Identifier] = []
        if line:
            identifier = line_identifier(PROVIDER, line)
            identifiers.append(identifier)
            profile.line_accounts[identifier.value] = Stamped(line_status, "2026-01-01T00:00:00.000Z", "line", "e1")
        if email:
            identifiers.append(Identifier("email", email))
        if phone:
            identifiers.append(Identifier("phone", phone))
        identifiers.append(Identifier("member_id", f"M-{profile_id}"))
        profile.traits["name"] = Stamped(name, "2026-01-01T00:00:00.000Z", "partner:crm", "e0")
        for key, granted in (consent or {}).items():
            profile.consent[key] = Stamped(granted, "2026-01-01T00:00:00.000Z", "partner:crm", "e2")
        return self.profiles.seed(profile, identifiers)

    def outcomes(self) -> list[dict[str, Any]]:
        return [e.payload for e in self.events.events.values()]


def request(send_key: str = "c1:amy", profile_id: str = "p_amy", **overrides: Any) -> SendRequest:
    fields: dict[str, Any] = {
        "send_key": send_key,
        "profile_id": profile_id,
        "template_id": "coupon",
        "kind": "campaign",
        "campaign_id": "c1",
        "purpose": "marketing",
        "channels": ["line", "email", "sms"],
        **overrides,
    }
    return SendRequest(**fields)


# --- the happy path and the timeline --------------------------------------------------------------


def test_a_friend_gets_one_push_under_a_uuid5_retry_key_and_a_message_sent_event() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)

    result = world.point.send(request())

    assert (result.state, result.channel, result.cost_units) == ("sent", "line", 1)
    (call,) = world.line.calls
    assert call.endpoint == "push" and call.to == [AMY_LINE]
    assert call.messages == [{"type": "text", "text": "Hi Amy, NT$100 off"}]
    assert call.retry_key == str(uuid.uuid5(RETRY_KEY_NAMESPACE, "c1:amy"))
    (event,) = world.outcomes()
    assert event["event"] == names.MESSAGE_SENT
    props = event["properties"]
    assert props["channel"] == "line" and props["campaign_id"] == "c1" and props["cost_units"] == 1
    assert (props["template_id"], props["template_version"]) == ("coupon", 1)
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 1


def test_a_merged_profile_is_messaged_as_its_survivor() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    loser = Profile.new("p_old", "2026-01-01T00:00:00.000Z")
    loser.merged_into = "p_amy"
    world.profiles.seed(loser)

    result = world.point.send(request(profile_id="p_old"))

    assert result.state == "sent"
    assert world.line.calls[0].to == [AMY_LINE]
    assert world.ledger.records["c1:amy"].profile_id == "p_amy"


def test_the_renderer_sees_the_event_data_and_the_ids_a_tracked_link_carries() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.renderer.add("cart", line="{name}, your {item} is waiting")

    world.point.send(
        request(
            template_id="cart", data={"item": "helmet"}, kind="journey", journey_id="j1", node_id="n2", campaign_id=None
        )
    )

    _, _, context = world.renderer.rendered[0]
    assert context.event == {"item": "helmet"}
    assert context.link_attribution["journey_id"] == "j1" and context.link_attribution["node_id"] == "n2"
    assert context.link_attribution["message_id"].startswith("msg_")
    assert world.line.calls[0].messages[0]["text"] == "Amy, your helmet is waiting"


# --- reachability and consent ---------------------------------------------------------------------


def test_an_unfollowed_friend_gets_the_email_fallback_not_line() -> None:
    world = World()
    world.person(
        "p_amy", line=AMY_LINE, line_status="blocked", email="amy@example.com", consent={"email:marketing": True}
    )

    result = world.point.send(request())

    assert (result.state, result.channel) == ("sent", "email")
    assert world.line.calls == []
    (mail,) = world.email.sent
    assert mail["to"] == "amy@example.com" and mail["unsubscribe_url"] == "https://cdp.example/u/p_amy"


@pytest.mark.parametrize(
    ("person", "reason", "detail"),
    [
        ({}, "unreachable", "line: no_line_account, email: no_email, sms: no_phone"),
        ({"line": AMY_LINE, "line_status": "blocked"}, "unreachable", "line: blocked"),
        ({"email": "amy@example.com"}, "no_consent", "email: no_consent"),  # opt-in required, none given
        ({"line": AMY_LINE, "consent": {"line:marketing": False}}, "no_consent", "line: no_consent"),
        (
            {"phone": "+886912345678", "consent": {"sms:marketing": True}, "_opted_out": True},
            "unreachable",
            "sms: opted_out",
        ),
    ],
)
def test_each_unreachable_or_unconsented_chain_is_suppressed_with_its_reason(
    person: dict[str, Any], reason: str, detail: str
) -> None:
    world = World()
    opted_out = person.pop("_opted_out", False)
    world.person("p_amy", **person)
    if opted_out:
        world.suppressions.suppress("sms", "+886912345678", reason="opt_out", at_ms=0)

    result = world.point.send(request())

    assert (result.state, result.reason) == ("suppressed", reason)
    assert detail in (result.detail or "")
    assert world.line.calls == [] and world.email.sent == [] and world.sms.sent == []
    (event,) = world.outcomes()
    assert event["event"] == names.MESSAGE_SUPPRESSED and event["properties"]["reason"] == reason


def test_a_bounced_email_address_is_not_reachable() -> None:
    world = World()
    world.person("p_amy", email="amy@example.com", consent={"email:marketing": True})
    world.suppressions.suppress("email", "amy@example.com", reason="bounce", at_ms=0)

    result = world.point.send(request(channels=["email"]))

    assert (result.state, result.reason, result.detail) == ("suppressed", "unreachable", "email: suppressed")


def test_an_unknown_profile_is_suppressed_without_a_timeline() -> None:
    world = World()

    result = world.point.send(request(profile_id="p_nobody"))

    assert (result.state, result.reason) == ("suppressed", "profile_not_found")
    assert world.outcomes() == []


def test_a_workspace_without_email_opt_in_sends_marketing_unless_refused() -> None:
    world = World()
    world.policies.current = MessagingPolicy.from_document({"require_opt_in": {"email": False}})
    world.person("p_amy", email="amy@example.com")

    assert world.point.send(request(channels=["email"])).state == "sent"


# --- frequency caps -------------------------------------------------------------------------------


def test_the_third_line_send_of_a_local_day_is_capped_and_a_capped_send_consumes_nothing() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)

    results = [world.point.send(request(f"c{n}:amy", campaign_id=f"c{n}")) for n in range(3)]

    assert [r.state for r in results] == ["sent", "sent", "suppressed"]
    assert results[2].reason == rules.CAPPED_DAY
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 2
    assert world.caps.count("p_amy", "line#week#2026-W19") == 2
    # The next local day opens a new daily counter (the week's still counts).
    world.clock.now = taipei(5, 10)
    assert world.point.send(request("c9:amy", campaign_id="c9")).state == "sent"


def test_a_per_campaign_cap_counts_each_person_across_runs() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)

    first = world.point.send(request("c1:run1:amy", campaign_cap=1))
    second = world.point.send(request("c1:run2:amy", campaign_cap=1))

    assert (first.state, second.state, second.reason) == ("sent", "suppressed", rules.CAPPED_CAMPAIGN)


def test_a_send_that_fails_gives_its_cap_back() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.line.script = ["400"]

    result = world.point.send(request())

    assert (result.state, result.reason) == ("failed", "line_rejected")
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 0
    assert world.outcomes()[0]["event"] == names.MESSAGE_FAILED


def test_a_recipient_whose_data_cannot_render_fails_alone() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.person("p_ben", line=BEN_LINE, name="Ben")
    world.renderer.add("cart", line="{name}, your {item} is waiting")

    results = world.point.send_many(
        [request("k:amy", template_id="cart"), request("k:ben", "p_ben", template_id="cart", data={"item": "helmet"})]
    )

    assert [(r.state, r.reason) for r in results] == [("failed", "render_error"), ("sent", None)]
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 0


# --- quiet hours ----------------------------------------------------------------------------------


def test_a_marketing_send_at_23_taipei_is_held_until_09_and_released_then() -> None:
    world = World(MONDAY_23)
    world.person("p_amy", line=AMY_LINE)

    held = world.point.send(request())

    assert held.state == "held"
    assert held.held_until == "2026-05-05T01:00:00.000Z"  # 09:00 in Taipei
    assert world.line.calls == []
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 0
    at_ms, released = world.releases.schedules[release_schedule_name("c1:amy")]
    assert at_ms == TUESDAY_09 and released["release"] is True
    assert world.point.send(request()).state == "held"  # a replay before the release changes nothing

    world.clock.now = TUESDAY_09
    sent = world.point.send(SendRequest(**released))

    assert sent.state == "sent" and len(world.line.calls) == 1
    assert world.caps.count("p_amy", "line#day#2026-05-05") == 1
    assert [e["event"] for e in world.outcomes()] == [names.MESSAGE_SENT]


def test_a_send_in_quiet_hours_is_dropped_when_the_request_says_so() -> None:
    world = World(MONDAY_23)
    world.person("p_amy", line=AMY_LINE)

    result = world.point.send(request(in_quiet_hours="drop"))

    assert (result.state, result.reason) == ("suppressed", rules.QUIET_HOURS)
    assert world.releases.schedules == {}


def test_a_request_can_narrow_quiet_hours_and_the_workspace_can_turn_them_off() -> None:
    world = World(MONDAY_23)
    world.person("p_amy", line=AMY_LINE)
    assert world.point.send(request("k1", quiet_hours={"start": "23:30", "end": "08:00"})).state == "sent"
    world.policies.current = MessagingPolicy.from_document({"quiet_hours": None})
    assert world.point.send(request("k2", campaign_id="c2")).state == "sent"


def test_transactional_skips_caps_and_quiet_hours_but_never_a_blocked_or_refused_channel() -> None:
    world = World(MONDAY_23)
    world.person("p_amy", line=AMY_LINE)
    world.person(
        "p_ben", line=BEN_LINE, line_status="blocked", phone="+886912345678", consent={"sms:transactional": False}
    )

    sent = [
        world.point.send(request(f"t{n}", purpose="transactional", kind="manual", campaign_id=None)) for n in range(4)
    ]
    ben = world.point.send(request("t:ben", "p_ben", purpose="transactional", kind="manual", campaign_id=None))

    assert [r.state for r in sent] == ["sent"] * 4
    assert world.caps.counters == {}
    assert (ben.state, ben.reason) == ("suppressed", "no_consent")
    assert "line: blocked" in (ben.detail or "")


# --- exactly once ---------------------------------------------------------------------------------


def test_a_crash_between_lines_accept_and_the_record_delivers_once() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.ledger.crash_on = ["sent"]

    with pytest.raises(RuntimeError):
        world.point.send(request())
    assert world.ledger.records["c1:amy"].state == "claimed"

    result = world.point.send(request())  # the Lambda retry

    assert result.state == "sent"
    assert world.line.delivered_to(AMY_LINE) == 1
    assert [c.retry_key for c in world.line.calls] == [retry_key("c1:amy")] * 2
    assert [e["event"] for e in world.outcomes()] == [names.MESSAGE_SENT]
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 1


@pytest.mark.parametrize("failure", ["500", "accept_then_500"])
def test_an_unknown_line_outcome_keeps_the_claim_and_the_retry_uses_the_same_key(failure: str) -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.line.script = [failure]

    unknown = world.point.send(request())
    assert (unknown.state, unknown.reason) == ("retry", "provider_unavailable")
    assert world.ledger.records["c1:amy"].state == "claimed"
    result = world.point.send(request())

    assert result.state == "sent"
    assert world.line.delivered_to(AMY_LINE) == 1
    assert {c.retry_key for c in world.line.calls} == {retry_key("c1:amy")}


def test_a_replayed_request_is_answered_from_the_ledger() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    first = world.point.send(request())

    again = world.point.send(request())

    assert (first.duplicate, again.state, again.duplicate) == (False, "sent", True)
    assert len(world.line.calls) == 1


def test_an_email_claim_without_an_answer_is_not_sent_twice() -> None:
    world = World()
    world.person("p_amy", email="amy@example.com", consent={"email:marketing": True})
    world.ledger.crash_on = ["sent"]
    with pytest.raises(RuntimeError):
        world.point.send(request(channels=["email"]))

    assert world.point.send(request(channels=["email"])).state == "in_progress"
    world.clock.advance(16 * 60 * 1000)
    late = world.point.send(request(channels=["email"]))

    assert (late.state, late.reason) == ("failed", "outcome_unknown")
    assert len(world.email.sent) == 1


# --- multicast, quota, reply ----------------------------------------------------------------------


def test_identical_content_goes_as_one_multicast_and_a_crash_after_it_resends_nothing() -> None:
    world = World()
    users = ["U" + f"{n:032x}" for n in range(3)]
    for n, user in enumerate(users):
        world.person(f"p{n}", line=user, name="friend")
    world.person("p_amy", line=AMY_LINE)  # her own name: her own content, a push
    batch = [request(f"c1:p{n}", f"p{n}") for n in range(3)] + [request()]
    world.ledger.crash_on = ["sent"]

    with pytest.raises(RuntimeError):
        world.point.send_many(batch)
    results = world.point.send_many(batch)

    assert {r.state for r in results} == {"sent"}
    multicasts = [c for c in world.line.calls if c.endpoint == "multicast"]
    assert sorted(multicasts[0].to) == sorted(users)
    assert len({c.retry_key for c in multicasts}) == 1
    assert all(world.line.delivered_to(user) == 1 for user in [*users, AMY_LINE])


def test_the_monthly_limit_stops_line_sends_and_marks_the_rest_quota_exhausted() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.person("p_ben", line=BEN_LINE, name="Ben")
    world.line.script = ["quota"]

    results = world.point.send_many([request(), request("c1:ben", "p_ben")])

    assert [(r.state, r.reason) for r in results] == [("failed", "quota_exhausted")] * 2
    assert len(world.line.calls) == 1


def test_an_auto_reply_uses_the_reply_token_and_falls_back_to_push_when_it_expired() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    auto = {"kind": "auto_reply", "campaign_id": None, "purpose": "transactional", "reply_token": "rt1"}

    replied = world.point.send(request("r1", **auto))
    world.line.script = ["invalid_reply_token"]
    pushed = world.point.send(request("r2", **auto))
    world.line.script = ["invalid_reply_token"]
    refused = world.point.send(request("r3", **auto, reply_fallback_to_push=False))

    assert (replied.state, replied.cost_units) == ("sent", 0)
    assert (pushed.state, pushed.cost_units) == ("sent", 1)
    assert (refused.state, refused.reason) == ("failed", "reply_token_invalid")
    assert [c.endpoint for c in world.line.calls] == ["reply", "reply", "push", "reply"]


def test_a_reply_reaches_a_line_user_never_seen_following_but_not_one_who_blocked() -> None:
    # Friends from before the CDP was installed message the OA without a follow on record: the
    # reply answers what they just sent. A campaign push still needs a known friend.
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.profiles.profiles["p_amy"].line_accounts.clear()
    world.person("p_bo", line="U" + "b" * 32, line_status="blocked")
    auto = {"kind": "auto_reply", "campaign_id": None, "purpose": "transactional", "reply_token": "rt1"}

    replied = world.point.send(request("r-amy", **auto))
    pushed = world.point.send(request("c1:amy", channels=["line"]))
    blocked = world.point.send(request("r-bo", "p_bo", **auto))

    assert (replied.state, replied.channel) == ("sent", "line")
    assert (pushed.state, pushed.reason) == ("suppressed", "unreachable")
    assert (blocked.state, blocked.reason) == ("suppressed", "unreachable")
    assert [c.endpoint for c in world.line.calls] == ["reply"]


# --- the request and the pure rules ---------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"channels": []},
        {"channels": ["line", "line"]},
        {"channels": ["fax"]},
        {"kind": "campaign", "campaign_id": None},
        {"kind": "journey", "campaign_id": None, "journey_id": "j1"},
        {"purpose": "promo"},
        {"quiet_hours": {"start": "25:00", "end": "09:00"}},
        {"unknown": 1},
        {"data": {"cart": "x" * 40_000}},
        {"campaign_cap": 2, "campaign_id": None, "kind": "manual"},
    ],
)
def test_a_bad_request_is_refused_at_the_boundary(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        request(**overrides)


@pytest.mark.parametrize(
    ("hour", "minute", "opens"),
    [
        (21, 59, None),
        (22, 0, datetime(2026, 5, 5, 9, tzinfo=TAIPEI)),
        (23, 0, datetime(2026, 5, 5, 9, tzinfo=TAIPEI)),
        (8, 59, datetime(2026, 5, 4, 9, tzinfo=TAIPEI)),
        (9, 0, None),
    ],
)
def test_quiet_hours_span_midnight_start_inclusive_end_exclusive(
    hour: int, minute: int, opens: datetime | None
) -> None:
    until = rules.quiet_until(taipei(4, hour, minute), TAIPEI, ("22:00", "09:00"))
    assert until == (ms_from_datetime(opens) if opens else None)


def test_a_daytime_window_and_the_persons_own_time_zone() -> None:
    now = ms_from_datetime(datetime(2026, 5, 4, 13, tzinfo=UTC))  # 21:00 Taipei, 15:00 in Paris
    assert rules.quiet_until(now, ZoneInfo("Europe/Paris"), ("12:00", "14:00")) is None
    assert rules.quiet_until(now, ZoneInfo("Europe/Paris"), ("14:00", "16:00")) == ms_from_datetime(
        datetime(2026, 5, 4, 16, tzinfo=ZoneInfo("Europe/Paris"))
    )
    profile = Profile.new("p", "2026-01-01T00:00:00.000Z")
    profile.traits["timezone"] = Stamped("Europe/Paris", "2026-01-01T00:00:00.000Z", "partner:crm", "e")
    assert rules.person_zone(profile, MessagingPolicy()) == ZoneInfo("Europe/Paris")
    profile.traits["timezone"] = Stamped("Mars/Base", "2026-01-01T00:00:00.000Z", "partner:crm", "e")
    assert rules.person_zone(profile, MessagingPolicy()) == TAIPEI


def test_cap_counters_follow_the_local_day_and_iso_week() -> None:
    late_sunday_utc = ms_from_datetime(datetime(2026, 5, 10, 17, tzinfo=UTC))  # Monday 01:00 in Taipei
    counters = rules.cap_counters(channel="line", now_ms=late_sunday_utc, zone=TAIPEI, policy=MessagingPolicy())
    assert [c.key for c in counters] == ["line#day#2026-05-11", "line#week#2026-W20"]
    assert [c.limit for c in counters] == [2, 6]


def test_a_policy_document_overrides_defaults_and_ignores_what_it_cannot_use() -> None:
    policy = MessagingPolicy.from_document(
        {"time_zone": "Nowhere/City", "caps": {"line": {"day": 5, "week": None}, "fax": {"day": 1}}, "quiet_hours": "x"}
    )
    assert policy.time_zone == "Asia/Taipei"
    assert dict(policy.caps["line"]) == {"day": 5}
    assert policy.quiet_hours == ("22:00", "09:00")


def test_a_claim_older_than_lines_retry_key_memory_is_not_resent() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.line.script = ["500"]
    assert world.point.send(request()).state == "retry"
    world.clock.advance(24 * 3600 * 1000)

    late = world.point.send(request())

    assert (late.state, late.reason) == ("failed", "outcome_unknown")
    assert len(world.line.calls) == 1
    assert world.caps.count("p_amy", "line#day#2026-05-04") == 0


def test_a_channel_the_deployment_cannot_send_on_is_skipped_for_the_next() -> None:
    world = World(with_email=False)  # no SES sender configured
    world.person(
        "p_amy",
        email="amy@example.com",
        phone="+886912345678",
        consent={"email:marketing": True, "sms:marketing": True},
    )

    result = world.point.send(request(channels=["email", "sms"]))

    assert (result.state, result.channel) == ("sent", "sms")
    assert world.sms.sent[0]["to"] == "+886912345678" and world.sms.sent[0]["transactional"] is False


def test_an_ses_throttle_sends_nothing_and_the_retry_sends_once() -> None:
    world = World()
    world.person("p_amy", email="amy@example.com", consent={"email:marketing": True})
    throttles = ["throttle"]

    def throttle(to: str) -> ProviderResult | None:
        if throttles:
            throttles.pop()
            raise ProviderThrottled("SES throttled the send after retries: TooManyRequestsException")
        return None

    world.email.fail = throttle
    first = world.point.send(request(channels=["email"]))

    assert (first.state, first.reason) == ("retry", "provider_throttled")
    assert world.ledger.records["c1:amy"].state == "held" and world.email.sent == []
    assert world.caps.count("p_amy", "email#day#2026-05-04") == 0
    second = world.point.send(request(channels=["email"]))
    assert second.state == "sent" and len(world.email.sent) == 1
    assert [e["event"] for e in world.outcomes()] == [names.MESSAGE_SENT]


def test_an_email_whose_answer_was_lost_is_failed_not_resent() -> None:
    world = World()
    world.person("p_amy", email="amy@example.com", consent={"email:marketing": True})

    def cut(to: str) -> ProviderResult | None:
        raise ProviderUnavailable("SES did not answer: ReadTimeoutError")

    world.email.fail = cut
    result = world.point.send(request(channels=["email"]))

    assert (result.state, result.reason) == ("failed", "outcome_unknown")
    assert world.point.send(request(channels=["email"])).duplicate is True


def test_a_number_that_replied_stop_fails_once_and_is_suppressed_from_then_on() -> None:
    world = World()
    world.person("p_amy", phone="+886912345678", consent={"sms:marketing": True})
    world.sms.opted_out.add("+886912345678")

    first = world.point.send(request("k1", channels=["sms"]))
    second = world.point.send(request("k2", campaign_id="c2", channels=["sms"]))

    assert (first.state, first.reason) == ("failed", "sms_opted_out")
    assert (second.state, second.reason, second.detail) == ("suppressed", "unreachable", "sms: opted_out")


def test_recipients_worked_on_in_parallel_come_out_as_one_by_one() -> None:
    def run(parallelism: int) -> tuple[list[tuple[str, str | None]], int]:
        world = World(parallelism=parallelism)
        for n in range(40):
            world.person(f"p{n}", line="U" + f"{n:032x}", name="same" if n % 2 else f"n{n}")
        batch = [request(f"c1:p{n}", f"p{n}") for n in range(40)] + [request("c1:p3", "p3")]  # one twice
        results = world.point.send_many(batch)
        return [(r.state, r.channel) for r in results], sum(
            world.line.delivered_to("U" + f"{n:032x}") for n in range(40)
        )

    one_by_one, delivered = run(1)
    parallel, delivered_parallel = run(8)
    assert parallel[:40] == one_by_one[:40] == [("sent", "line")] * 40
    assert delivered == delivered_parallel == 40  # the repeated send key is delivered once


def test_the_outcome_is_an_ordinary_event_for_the_processor(event_normalizer: EventNormalizer) -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.point.send(request())

    (raw,) = world.events.events.values()
    event = event_normalizer.normalize(raw)

    assert (event.type, event.event) == ("track", names.MESSAGE_SENT)
    assert event.identifiers == [Identifier("member_id", "M-p_amy")]  # the person's most specific identifier
    assert event.properties["campaign_id"] == "c1" and event.properties["message_id"].startswith("msg_")
    profile = world.profiles.get("p_amy")
    assert profile is not None
    apply_event(profile, event, [], "2026-05-04T03:00:00.000Z")
    assert profile.event_count == 1


def test_a_policy_an_operator_sends_is_parsed_strictly_and_round_trips() -> None:
    policy = rules.parse_policy({"quiet_hours": None, "caps": {"sms": {"day": None}}, "require_opt_in": {"line": True}})
    assert policy.quiet_hours is None and dict(policy.caps["sms"]) == {"week": 3}
    assert policy.require_opt_in["line"] is True and policy.require_opt_in["email"] is True
    assert rules.parse_policy(policy.as_document()) == policy
    assert rules.parse_policy({}) == MessagingPolicy()
    with pytest.raises(BadRequest) as refused:
        rules.parse_policy({"caps": {"line": {"day": True}}})
    assert (refused.value.code, refused.value.details) == ("invalid_messaging_policy", {"field": "caps.line.day"})


def test_each_outcome_is_published_on_the_bus_once_per_send_key_and_state() -> None:
    world = World()
    world.person("p_amy", line=AMY_LINE)
    world.person("p_ben", line=BEN_LINE, line_status="blocked", name="Ben")
    world.ledger.crash_on = ["sent"]
    with pytest.raises(RuntimeError):
        world.point.send(request())

    world.point.send(request())  # the retry publishes the same event again: consumers dedup on id
    world.point.send(request("c1:ben", "p_ben"))

    sent = world.bus.named("message.sent")
    assert len({event.id for event in sent}) == 1 and len(sent) == 2
    assert sent[0].detail["profile_id"] == "p_amy" and sent[0].detail["campaign_id"] == "c1"
    assert sent[0].detail["cost_units"] == 1 and sent[0].detail["via"] == "push"
    (suppressed,) = world.bus.named("message.suppressed")
    assert suppressed.detail["reason"] == "unreachable"
