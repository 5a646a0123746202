"""Campaigns over HTTP on the local stack: S1 step 5 (the first-purchase coupon reaches the fresh
follower U2 and not Amy, who bought), bad input, and no second delivery of a sent campaign."""

from __future__ import annotations

import random
import re
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.e2e.conftest import ADMIN_TOKEN, Stack, now_ms, unique
from tests.fixtures.line_events import follow, postback, unfollow, user_id, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
COUPON_TEXT = "首購 8 折優惠券：結帳輸入 FIRST20 https://shop.example.com/first"


TAIPEI = ZoneInfo("Asia/Taipei")


def taipei_at(stack: Stack, hour: int) -> datetime:
    """The stack's clock set to the next `hour`:00 in Taipei (outside quiet hours for 9 to 21)."""
    now = stack.clock_now().astimezone(TAIPEI)
    moment = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if moment <= now:
        moment += timedelta(days=1)
    stack.move_clock(set=moment.isoformat())
    return moment


def admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, params=params, headers=ADMIN, timeout=120)


def cohort_segment(stack: Stack, cohort: str, *rules: dict[str, Any]) -> str:
    """A segment of this test's people only (the stack is shared): the cohort tag and `rules`."""
    segment_id = unique("seg").lower()
    rule = {"and": [{"tag": {"name": cohort}}, *rules]}
    created = admin(stack, "POST", "/admin/v1/segments", {"id": segment_id, "name": segment_id, "rule": rule})
    assert created.status_code == 201, created.text
    time.sleep(1.1)  # the stack's evaluators keep definitions for 1 s
    return segment_id


def coupon_template(stack: Stack, text: str = COUPON_TEXT, *, email: bool = False) -> str:
    template_id = unique("coupon").lower()
    body: dict[str, Any] = {
        "id": template_id,
        "name": "首購優惠",
        "line": {"messages": [{"type": "text", "text": text}]},
    }
    if email:
        body["email"] = {"subject": "首購 8 折", "text": text}
    created = admin(stack, "POST", "/admin/v1/templates", body)
    assert created.status_code == 201, created.text
    return template_id


def tag(stack: Stack, profile_id: str, *tags: str) -> None:
    answer = admin(stack, "POST", f"/admin/v1/profiles/{profile_id}/tags", {"add": list(tags)})
    assert answer.status_code == 202, answer.text


def follower(stack: Stack, name: str) -> tuple[str, str]:
    """A fresh LINE friend: (LINE user id, profile id)."""
    line_user = user_id(unique(name))
    assert stack.line([follow(source=user_source(line_user), timestamp=now_ms())]).status_code == 200
    stack.drain()
    return line_user, stack.lookup("line", line_user)["profile_id"]


def member_on_line(stack: Stack, name: str, *, revenue: int = 0, email: str | None = None) -> tuple[str, str]:
    """A member (a purchase of `revenue` in store, an email) who bound her LINE account: (LINE user
    id, profile id). S1 steps 1-4 in short."""
    member = unique("M")
    digits = f"{random.randrange(10**8):08d}"
    traits: dict[str, Any] = {"name": name, "phone": f"09{digits}"}
    if email:
        traits["email"] = email
    assert (
        stack.segment("identify", {"userId": member, "traits": traits, "context": {"channel": "pos"}}).status_code
        == 200
    )
    if revenue:
        order = {
            "userId": member,
            "event": "Order Completed",
            "properties": {"revenue": revenue},
            "context": {"channel": "pos"},
        }
        assert stack.segment("track", order).status_code == 200
    line_user, _ = follower(stack, name)
    issued = admin(stack, "POST", "/admin/v1/line/link-token", {"lineUserId": line_user, "memberId": member})
    assert issued.status_code in (200, 201), issued.text
    token = issued.json()
    line_api = stack.drain()["line_api_url"]
    linked = requests.post(
        f"{line_api}/__fake__/account-link", json={"linkToken": token["linkToken"], "nonce": token["nonce"]}, timeout=10
    ).json()
    assert stack.line([linked]).status_code == 200
    stack.drain()
    person = stack.lookup("line", line_user)
    assert person["profile_id"] == stack.lookup("member_id", member)["profile_id"]
    return line_user, person["profile_id"]


def campaign(stack: Stack, segment_id: str, template_id: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "首購 8 折", "segment_id": segment_id, "template_id": template_id, "channels": ["line"], **fields}
    created = admin(stack, "POST", "/admin/v1/campaigns", body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


TRACKED = re.compile(r"http://127\.0\.0\.1:\d+/r/(?P<code>[A-Za-z0-9_-]+)\?u=[A-Za-z0-9_.=-]+")


def texts(stack: Stack, line_user: str) -> list[str]:
    """What LINE delivered, each of the recipient's tracked links read back as its destination
    (a link left as written would not match: every URL in a template is sent tracked)."""

    def destination(match: re.Match[str]) -> str:
        link = admin(stack, "GET", f"/admin/v1/links/{match['code']}")
        assert link.status_code == 200, link.text
        return str(link.json()["url"])

    return [
        TRACKED.sub(destination, m.get("text", "")) for sent in stack.line_sent(line_user) for m in sent["messages"]
    ]


def test_s1_step5_the_first_purchase_coupon_reaches_u2_and_not_amy(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 14)
    cohort = unique("s1").lower()
    u1, amy = member_on_line(stack, "Amy Chen", revenue=5000)
    u2, fresh = follower(stack, "s1-u2")
    segment_id = cohort_segment(
        stack, cohort, {"not": {"event": {"name": "Order Completed"}}}, {"reachable": {"channel": "line"}}
    )
    tag(stack, amy, cohort)
    tag(stack, fresh, cohort)
    stack.drain()
    template_id = coupon_template(stack)
    created = campaign(stack, segment_id, template_id, budget=100)
    assert created["status"] == "draft"
    campaign_id = created["campaign_id"]

    # Preflight: one recipient, reachable on LINE, within the plan's included messages: NT$0.
    preflight = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/preflight")
    assert preflight.status_code == 200, preflight.text
    figures = preflight.json()
    assert (figures["targeted"], figures["recipients"], figures["reachable"]) == (1, 1, {"line": 1})
    assert figures["line"]["messages"] == 1 and figures["cost"]["total"] == 0 and not figures["over_budget"]

    sent = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/send")
    assert sent.status_code == 202, sent.text
    stack.drain()
    assert texts(stack, u2) == [COUPON_TEXT]  # exactly one delivery
    assert texts(stack, u1) == []  # Amy bought: no coupon
    after = admin(stack, "GET", f"/admin/v1/campaigns/{campaign_id}").json()
    assert after["status"] == "sent" and after["runs"] == ["r1"] and after["template_version"] == 1
    assert after["runs_detail"][0]["enqueued"] == 1

    # Sending a sent campaign again delivers nothing twice.
    again = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/send")
    assert again.status_code == 409 and again.json()["error"] == "campaign_already_sent"
    stack.drain()
    assert len(stack.line_sent(u2)) == 1

    # The outcome is on U2's timeline, naming the campaign.
    timeline = admin(stack, "GET", f"/admin/v1/profiles/{fresh}/timeline").json()
    outcomes = [e for e in timeline["events"] if e.get("event") == "Message Sent"]
    assert outcomes and outcomes[0]["properties"]["campaign_id"] == campaign_id


def test_bad_campaign_input_answers_4xx_with_a_code(stack: Stack) -> None:
    cohort = unique("bad").lower()
    segment_id = cohort_segment(stack, cohort)
    template_id = coupon_template(stack)
    base = {"name": "x", "segment_id": segment_id, "template_id": template_id, "channels": ["line"]}

    def refused(body: dict[str, Any]) -> tuple[int, str]:
        answer = admin(stack, "POST", "/admin/v1/campaigns", body)
        return answer.status_code, answer.json()["error"]

    assert refused({**base, "segment_id": "no-such-segment"}) == (404, "segment_not_found")
    assert refused({**base, "template_id": "no-such-template"}) == (404, "template_not_found")
    past = {"kind": "at", "at": "2020-01-01T09:00", "time_zone": "Asia/Taipei"}
    assert refused({**base, "schedule": past}) == (400, "schedule_in_past")
    nowhere = {"kind": "at", "at": "2099-01-01T09:00", "time_zone": "Mars/Olympus"}
    assert refused({**base, "schedule": nowhere}) == (400, "invalid_time_zone")
    assert refused({**base, "schedule": {"kind": "recurring", "expression": "every monday"}}) == (
        400,
        "invalid_schedule",
    )
    assert refused({**base, "channels": ["line", "line"]}) == (400, "invalid_channels")
    assert refused({**base, "channels": ["fax"]}) == (400, "invalid_channels")
    assert refused({**base, "budget": -1}) == (400, "invalid_budget")
    assert refused({**base, "surprise": 1}) == (400, "unknown_campaign_field")
    missing = admin(stack, "POST", "/admin/v1/campaigns/no-such-campaign/preflight")
    assert (missing.status_code, missing.json()["error"]) == (404, "campaign_not_found")
    draft = campaign(stack, segment_id, template_id)
    paused = admin(stack, "POST", f"/admin/v1/campaigns/{draft['campaign_id']}/pause")
    assert (paused.status_code, paused.json()["error"]) == (409, "invalid_campaign_state")


def report_when_archived(stack: Stack, campaign_id: str, ready: Any) -> dict[str, Any]:
    """The report reads the archive, which trails the table by the archiver's window: poll."""
    deadline = time.monotonic() + 60
    while True:
        stack.drain()
        answer = admin(stack, "GET", f"/admin/v1/campaigns/{campaign_id}/report")
        assert answer.status_code == 200, answer.text
        report: dict[str, Any] = answer.json()
        if ready(report) or time.monotonic() > deadline:
            return report
        time.sleep(1)


def put_pricing(stack: Stack, **fields: Any) -> dict[str, Any]:
    version = admin(stack, "GET", "/admin/v1/messaging/pricing").json()["version"]
    answer = admin(stack, "PUT", "/admin/v1/messaging/pricing", {**fields, "version": version})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_s8_an_unfollowed_friend_gets_email_the_block_rate_is_reported_and_a_budget_refuses(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 15)
    cohort = unique("s8").lower()
    email = f"{unique('bea')}@example.com"
    gone, bea = member_on_line(stack, "Bea Lin", email=email)
    assert admin(
        stack, "POST", f"/admin/v1/profiles/{bea}/consent", {"channel": "email", "granted": True}
    ).status_code in (200, 202)
    assert stack.line([unfollow(source=user_source(gone), timestamp=now_ms())]).status_code == 200
    friend, cal = follower(stack, "s8-cal")
    segment_id = cohort_segment(stack, cohort)
    tag(stack, bea, cohort)
    tag(stack, cal, cohort)
    stack.drain()
    template_id = coupon_template(stack, email=True)

    # Costs: with the plan's included messages used up, each LINE message is an extra NT$0.2.
    consumption = admin(stack, "GET", "/admin/v1/messaging/pricing")  # the stored config, put back after
    default_plan = {k: v for k, v in consumption.json().items() if k != "version"}
    try:
        probe = campaign(stack, segment_id, template_id, channels=["line", "email"], budget=0.1)
        used = admin(stack, "POST", f"/admin/v1/campaigns/{probe['campaign_id']}/preflight").json()["line"][
            "consumption"
        ]
        put_pricing(stack, line_included_messages=used, line_extra_message=0.2)
        figures = admin(stack, "POST", f"/admin/v1/campaigns/{probe['campaign_id']}/preflight").json()
        assert figures["reachable"] == {"line": 1, "email": 1}
        assert figures["cost"]["line_extra_messages"] == 1 and figures["cost"]["total"] == 0.2
        assert figures["over_budget"] is True
        refused = admin(stack, "POST", f"/admin/v1/campaigns/{probe['campaign_id']}/send")
        assert refused.status_code == 409, refused.text
        error = refused.json()
        assert error["error"] == "over_budget"
        assert error["details"]["budget"] == 0.1 and error["details"]["estimate"]["total"] == 0.2
        assert admin(stack, "GET", f"/admin/v1/campaigns/{probe['campaign_id']}").json()["status"] == "draft"
    finally:
        put_pricing(stack, **default_plan)

    # The campaign: Bea unfollowed, so email (she consented) instead of LINE; Cal gets LINE.
    sent = campaign(stack, segment_id, template_id, channels=["line", "email"])
    assert admin(stack, "POST", f"/admin/v1/campaigns/{sent['campaign_id']}/send").status_code == 202
    stack.drain()
    assert stack.line_sent(gone) == []
    mails = stack.http.get(stack.url("/_local/email/sent"), params={"to": email}, timeout=30).json()["sent"]
    assert len(mails) == 1 and "首購" in str(mails[0])
    assert texts(stack, friend) == [COUPON_TEXT]

    # Cal blocks the account the next hour: the campaign's block rate is 1 of 1 LINE recipients.
    an_hour_later = int((stack.clock_now() + timedelta(hours=1)).timestamp() * 1000)
    assert stack.line([unfollow(source=user_source(friend), timestamp=an_hour_later)]).status_code == 200
    report = report_when_archived(stack, sent["campaign_id"], lambda r: r["line"]["blocked_within_48h"] == 1)
    assert report["targeted"] == 2 and report["sent"] == {"email": 1, "line": 1}
    assert report["line"] == {"recipients": 1, "messages": 1, "blocked_within_48h": 1, "block_rate": 1.0}


def test_s9_a_campaign_at_a_set_time_and_a_weekly_one_fire_from_the_scheduler(clock: Stack) -> None:
    stack = clock
    start = taipei_at(stack, 10)
    cohort = unique("s9").lower()
    line_user, person = follower(stack, "s9-dee")
    segment_id = cohort_segment(stack, cohort)
    tag(stack, person, cohort)
    stack.drain()
    template_id = coupon_template(stack, "週末新品到貨")

    # At a set time: 14:00 Taipei today.
    at = {"kind": "at", "at": start.replace(hour=14).strftime("%Y-%m-%dT%H:%M"), "time_zone": "Asia/Taipei"}
    timed = campaign(stack, segment_id, template_id, schedule=at)
    answer = admin(stack, "POST", f"/admin/v1/campaigns/{timed['campaign_id']}/send")
    assert answer.status_code == 202, answer.text
    assert (
        answer.json()["status"] == "scheduled" and answer.json()["schedule_name"] == f"campaign-{timed['campaign_id']}"
    )
    stack.drain()
    assert stack.line_sent(line_user) == []
    stack.move_clock(advance="PT4H5M")
    stack.drain()
    assert texts(stack, line_user) == ["週末新品到貨"]
    assert admin(stack, "GET", f"/admin/v1/campaigns/{timed['campaign_id']}").json()["status"] == "sent"

    # Weekly: this weekday at 15:00 Taipei, one campaign with a run per firing. The clock moves
    # an hour, not weeks (every hourly segment recompute of the shared stack would fire on the way);
    # the scheduler shows the next firing a week later, and tests/unit/test_campaigns.py runs several.
    weekday = start.strftime("%a").upper()
    weekly_template = coupon_template(stack, "本週會員好康")
    weekly = campaign(
        stack,
        segment_id,
        weekly_template,
        schedule={"kind": "recurring", "expression": f"cron(0 15 ? * {weekday} *)", "time_zone": "Asia/Taipei"},
    )
    assert admin(stack, "POST", f"/admin/v1/campaigns/{weekly['campaign_id']}/send").status_code == 202
    stack.move_clock(advance="PT1H")
    stack.drain()
    assert texts(stack, line_user).count("本週會員好康") == 1
    state = admin(stack, "GET", f"/admin/v1/campaigns/{weekly['campaign_id']}").json()
    assert state["status"] == "scheduled" and len(state["runs"]) == 1
    assert state["runs_detail"][0]["status"] == "sent" and state["runs_detail"][0]["enqueued"] == 1
    name = f"campaign-{weekly['campaign_id']}"
    (schedule,) = [
        s
        for s in stack.http.get(stack.url("/_local/schedules"), timeout=30).json()["schedules"]
        if s["schedule"] == name
    ]
    next_due = datetime.fromisoformat(schedule["next_due"].replace("Z", "+00:00")).astimezone(TAIPEI)
    assert next_due == start.replace(hour=15) + timedelta(days=7)
    cancelled = admin(stack, "POST", f"/admin/v1/campaigns/{weekly['campaign_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    deadline = time.monotonic() + 10  # the local scheduler notices a deleted schedule on its next tick
    while name in {
        s["schedule"] for s in stack.http.get(stack.url("/_local/schedules"), timeout=30).json()["schedules"]
    }:
        assert time.monotonic() < deadline, "a cancelled campaign's schedule is deleted"
        time.sleep(0.5)


def test_s4_interacted_but_did_not_buy_with_a_cap_hit_and_quiet_hours_held_until_nine(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 20)
    cohort = unique("s4").lower()
    asker, eve = follower(stack, "s4-eve")  # answered the guided Q&A
    busy, fay = follower(stack, "s4-fay")  # answered too, but had two LINE messages today
    buyer, gus = member_on_line(stack, "Gus Wu", revenue=1200)  # answered, and bought
    for user in (asker, busy, buyer):
        answer = postback("action=quiz&step=3&answer=commute", source=user_source(user), timestamp=now_ms())
        assert stack.line([answer]).status_code == 200
    stack.drain()
    interacted = {
        "or": [
            {"event": {"name": "Link Clicked", "within": {"last": {"days": 14}},
                       "where": [{"property": "context.channel", "op": "eq", "value": "line"}]}},
            {"event": {"name": "LINE Postback", "within": {"last": {"days": 14}}}},
        ]
    }  # fmt: skip
    segment_id = cohort_segment(stack, cohort, interacted, {"not": {"event": {"name": "Order Completed"}}})
    busy_cohort = unique("s4busy").lower()
    busy_segment = cohort_segment(stack, busy_cohort)
    for person in (eve, fay, gus):
        tag(stack, person, cohort)
    tag(stack, fay, busy_cohort)
    stack.drain()
    memberships = admin(stack, "GET", f"/admin/v1/profiles/{fay}/segments").json()
    assert {segment_id, busy_segment} <= {m["segment_id"] for m in memberships["segments"]}, memberships

    # Fay gets two LINE messages at 20:00 (the workspace allows 2 a day).
    for text in ("新品搶先看", "週年慶倒數"):
        earlier = campaign(stack, busy_segment, coupon_template(stack, text))
        assert admin(stack, "POST", f"/admin/v1/campaigns/{earlier['campaign_id']}/send").status_code == 202
        stack.drain()
    assert len(stack.line_sent(busy)) == 2

    # 23:00 Taipei: the coupon campaign.
    stack.move_clock(advance="PT3H")
    coupon = campaign(stack, segment_id, coupon_template(stack))
    figures = admin(stack, "POST", f"/admin/v1/campaigns/{coupon['campaign_id']}/preflight").json()
    assert figures["targeted"] == 2  # Gus bought
    assert figures["suppressed"] == {"capped_day": 1} and figures["held_quiet_hours"] == 1
    assert figures["line"]["messages"] == 1
    assert admin(stack, "POST", f"/admin/v1/campaigns/{coupon['campaign_id']}/send").status_code == 202
    stack.drain()
    assert stack.line_sent(asker) == []  # held: quiet hours until 09:00
    assert len(stack.line_sent(busy)) == 2  # capped
    assert stack.line_sent(buyer) == []

    moved = stack.move_clock(advance="PT10H5M")  # 09:05 the next morning: the hold is released
    stack.drain()
    assert texts(stack, asker) == [COUPON_TEXT], moved
    assert len(stack.line_sent(busy)) == 2 and stack.line_sent(buyer) == []
    timeline = admin(stack, "GET", f"/admin/v1/profiles/{fay}/timeline").json()["events"]
    capped = [e for e in timeline if e.get("event") == "Message Suppressed"]
    assert capped and capped[0]["properties"]["reason"] == "capped_day"


def test_a_paused_recurring_campaign_skips_its_firings_and_resumes(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 11)
    cohort = unique("pause").lower()
    line_user, person = follower(stack, "pause-hal")
    segment_id = cohort_segment(stack, cohort)
    tag(stack, person, cohort)
    stack.drain()
    hourly = campaign(
        stack,
        segment_id,
        coupon_template(stack, "整點快閃"),
        schedule={"kind": "recurring", "expression": "rate(1 hour)", "time_zone": "Asia/Taipei"},
        frequency_cap=5,
    )
    campaign_id = hourly["campaign_id"]
    assert admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/send").status_code == 202
    paused = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    stack.move_clock(advance="PT1H5M")
    stack.drain()
    assert stack.line_sent(line_user) == []  # paused: the firing is skipped
    again = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/pause")
    assert (again.status_code, again.json()["error"]) == (409, "invalid_campaign_state")
    resumed = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "scheduled"
    stack.move_clock(advance="PT1H5M")
    stack.drain()
    assert texts(stack, line_user) == ["整點快閃"]
    state = admin(stack, "GET", f"/admin/v1/campaigns/{campaign_id}").json()
    assert state["status"] == "scheduled" and len(state["runs"]) == 1
    assert admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/cancel").json()["status"] == "cancelled"


def test_lines_monthly_limit_pauses_the_campaign_with_the_reason(clock: Stack) -> None:
    stack = clock
    taipei_at(stack, 14)
    cohort = unique("quota").lower()
    line_user, person = follower(stack, "quota-ivy")
    segment_id = cohort_segment(stack, cohort)
    tag(stack, person, cohort)
    stack.drain()
    created = campaign(stack, segment_id, coupon_template(stack, "月底限定"), purpose="transactional")
    campaign_id = created["campaign_id"]
    stack.line_control("quota", {"limit": 0})  # LINE: "You have reached your monthly limit."
    try:
        assert admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/send").status_code == 202
        stack.drain()
        state = admin(stack, "GET", f"/admin/v1/campaigns/{campaign_id}").json()
    finally:
        stack.line_control("quota", {"limit": None})
    assert (state["status"], state["paused_reason"], state["resume_to"]) == ("paused", "quota_exhausted", "sending")
    assert state["runs_detail"][0]["status"] == "quota_exhausted"
    assert texts(stack, line_user) == []
    cancelled = admin(stack, "POST", f"/admin/v1/campaigns/{campaign_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["paused_reason"] is None
