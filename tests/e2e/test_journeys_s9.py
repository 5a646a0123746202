"""Scenario S9's SOP as a journey over HTTP on the local stack: a new member gets the day-1,
day-3 and day-7 messages at 10:00 in their own time zone (the `time_zone` trait, else the
journey's Asia/Taipei). Days pass on the virtual clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.journey_helpers import (
    definition,
    member_id_of,
    published_journey,
    run_at,
    template,
    texts,
    wait_for,
    waiting,
)
from tests.e2e.test_campaigns import member_on_line, taipei_at

# Journeys run on a local stack of their own (the other worker's): they are the longest e2e group.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-journeys")]

TAIPEI, TOKYO = ZoneInfo("Asia/Taipei"), ZoneInfo("Asia/Tokyo")
DAYS = {1: "第 1 天：歡迎成為會員", 3: "第 3 天：會員好禮", 7: "第 7 天：專屬穿搭建議"}


def _at(stack: Stack, moment: datetime) -> None:
    stack.move_clock(set=moment.isoformat())
    stack.drain()


def _count(stack: Stack, line_user: str, expected: int) -> None:
    wait_for(stack, lambda: len(texts(stack, line_user)) >= expected, f"{expected} messages to {line_user}", seconds=60)
    assert len(texts(stack, line_user)) == expected, texts(stack, line_user)


def test_s9_day_1_3_and_7_at_ten_in_the_members_time_zone(clock: Stack) -> None:
    stack = clock
    joined = taipei_at(stack, 14)  # day 0, 14:00 in Taipei
    mei_line, mei = member_on_line(stack, "Mei Lin")  # Taipei (the journey's zone)
    ken_line, ken = member_on_line(stack, "Ken Sato")
    ken_member = member_id_of(stack, ken_line)
    assert stack.segment("identify", {"userId": ken_member, "traits": {"time_zone": "Asia/Tokyo"}}).status_code == 200
    ids = {f"sop-day{day}": template(stack, f"sop-day{day}", text) for day, text in DAYS.items()}

    with published_journey(stack, definition("s9-new-member-sop", ids)) as journey_id:
        for line_user in (mei_line, ken_line):
            signed_up = {"userId": member_id_of(stack, line_user), "event": "Signed Up", "properties": {}}
            assert stack.segment("track", signed_up).status_code == 200
        mei_wait = waiting(stack, journey_id, mei, "day1_at_ten")
        ken_wait = waiting(stack, journey_id, ken, "day1_at_ten")
        day1 = (joined + timedelta(days=1)).date()
        ten_taipei = datetime(day1.year, day1.month, day1.day, 10, tzinfo=TAIPEI)
        ten_tokyo = datetime(day1.year, day1.month, day1.day, 10, tzinfo=TOKYO)
        assert datetime.fromisoformat(mei_wait["waiting"]["until"].replace("Z", "+00:00")) == ten_taipei
        assert datetime.fromisoformat(ken_wait["waiting"]["until"].replace("Z", "+00:00")) == ten_tokyo

        # Day 1: 09:59 in Tokyo nobody; 10:00 in Tokyo Ken; 10:00 in Taipei Mei.
        _at(stack, ten_tokyo - timedelta(minutes=1))
        assert texts(stack, ken_line) == [] and texts(stack, mei_line) == []
        _at(stack, ten_tokyo + timedelta(seconds=30))
        _count(stack, ken_line, 1)
        assert texts(stack, mei_line) == []
        _at(stack, ten_taipei + timedelta(seconds=30))
        _count(stack, mei_line, 1)
        assert texts(stack, mei_line) == [DAYS[1]] and texts(stack, ken_line) == [DAYS[1]]

        # Day 3 and day 7, each at 10:00 local.
        for day, count in ((3, 2), (7, 3)):
            ten = ten_taipei + timedelta(days=day - 1)
            # 09:30 in Taipei is 10:30 in Tokyo: Ken's is due, Mei's half an hour away (the virtual
            # clock runs on at real speed while Ken's message is awaited: leave it room).
            _at(stack, ten - timedelta(minutes=30))
            _count(stack, ken_line, count)
            assert len(texts(stack, mei_line)) == count - 1
            _at(stack, ten + timedelta(seconds=30))
            _count(stack, mei_line, count)
        assert texts(stack, mei_line) == [DAYS[1], DAYS[3], DAYS[7]]
        assert texts(stack, ken_line) == [DAYS[1], DAYS[3], DAYS[7]]
        for profile_id in (mei, ken):
            run = run_at(stack, journey_id, profile_id)
            assert run["exit_reason"] == "completed"
            assert [step["node"] for step in run["path"]][-2:] == ["day7", "done"]
