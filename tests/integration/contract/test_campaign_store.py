"""Campaign stores: the fake (tests/fakes_campaigns.py) and the DynamoDB adapter behave alike:
ids taken once, compare-and-set on versions, runs started once, the state the sender checks; the
cap-count reader sees what the send point's counters hold."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cdp.adapters.dynamodb.campaign_store import DynamoCampaignStore, DynamoCapCounts
from cdp.adapters.dynamodb.send_ledger import DynamoFrequencyCaps
from cdp.campaigns.model import Campaign, Run, Schedule
from cdp.messaging.policy import CapCounter

from tests.fakes_campaigns import FakeCampaignStore, FakeCapCounts
from tests.fakes_messaging import FakeFrequencyCaps
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoCampaignStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeCampaignStore()


def campaign(campaign_id: str) -> Campaign:
    return Campaign(
        campaign_id=campaign_id,
        name="Spring",
        segment_id="s1",
        template_id="coupon",
        channels=("line", "email"),
        purpose="marketing",
        schedule=Schedule("recurring", expression="cron(0 11 ? * MON *)", time_zone="Asia/Taipei"),
        created_at="2026-05-04T00:00:00.000Z",
        updated_at="2026-05-04T00:00:00.000Z",
        rule={"tag": {"name": "vip"}},
        budget=100.0,
        quiet_hours={"start": "21:00", "end": "08:00"},
    )


def test_a_campaign_is_created_once_read_back_whole_and_listed(store: Any) -> None:
    first = campaign(unique("cmp").lower())
    assert store.create(first) is True
    assert store.create(first) is False
    assert store.get(first.campaign_id) == first
    assert first.campaign_id in {c.campaign_id for c in store.list()}
    assert store.get(unique("none").lower()) is None


def test_writes_compare_and_set_on_the_version_read(store: Any) -> None:
    first = campaign(unique("cmp").lower())
    store.create(first)
    moved = first.moved("scheduled", "2026-05-04T01:00:00.000Z")
    assert store.replace(moved, expected_version=1) is True
    assert store.replace(first.moved("paused", "2026-05-04T01:00:00.000Z"), expected_version=1) is False
    assert store.get(first.campaign_id).status == "scheduled"


def test_a_run_starts_once_moves_by_version_and_its_state_is_what_the_sender_reads(store: Any) -> None:
    first = campaign(unique("cmp").lower())
    store.create(first)
    run = Run(first.campaign_id, "r20260504T0300Z", "sending", "2026-05-04T03:00:00.000Z", 2)
    assert store.start_run(run) is True
    assert store.start_run(run) is False
    moved = replace(run, cursor="p_9", enqueued=500, version=2)
    assert store.replace_run(moved, expected_version=1) is True
    assert store.replace_run(replace(run, status="paused", version=2), expected_version=1) is False
    assert store.get_run(first.campaign_id, run.run_id) == moved
    assert store.run_status(first.campaign_id, run.run_id) == ("draft", "sending")
    assert store.run_status(first.campaign_id, "r-none") == ("draft", None)
    assert store.run_status(unique("none").lower(), "r1") == (None, None)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_cap_counts_read_the_send_points_counters_without_taking_them(impl: str, moto_stack: Aws) -> None:
    if impl == ADAPTER:
        caps: Any = DynamoFrequencyCaps(moto_stack.dynamodb, moto_stack.core_table)
        counts: Any = DynamoCapCounts(moto_stack.dynamodb, moto_stack.core_table)
    else:
        caps = FakeFrequencyCaps()
        counts = FakeCapCounts(caps.counters)
    person = unique("p")
    day = CapCounter("line#day#2026-05-04", 2, "capped_day", 1_900_000_000)
    week = CapCounter("line#week#2026-W19", 6, "capped_week", 1_900_000_000)
    assert caps.take(person, "k1", [day, week]) is None
    assert caps.take(person, "k2", [day]) is None
    other = unique("p")
    wanted = {person: [day.key, week.key, "campaign#c1"], other: [day.key]}
    assert counts.counts(wanted) == {(person, day.key): 2, (person, week.key): 1}
    assert counts.counts({}) == {}
    many = {unique("p"): [day.key, week.key] for _ in range(60)}  # 120 keys: two batches
    many[person] = [day.key]
    assert counts.counts(many) == {(person, day.key): 2}
    assert caps.take(person, "k3", [day]) == day  # reading took nothing


def test_lines_monthly_limit_stops_the_run_and_pauses_the_campaign_in_the_store(store: Any) -> None:
    from cdp.campaigns.gate import CampaignGate
    from cdp.campaigns.model import send_key
    from cdp.messaging.send_point import SendResult

    from tests.fakes import FixedClock

    first = replace(campaign(unique("cmp").lower()), status="sending", current_run="r1", runs=("r1",))
    store.create(first)
    store.start_run(Run(first.campaign_id, "r1", "sending", "2026-05-04T03:00:00.000Z", 1))
    gate = CampaignGate(store, FixedClock(1_777_900_000_000), ttl_ms=0)
    key = send_key(first.campaign_id, "r1", "p_1")
    exhausted = SendResult(key, "failed", "line", "quota_exhausted")
    assert gate.stop_exhausted([exhausted, SendResult("manual:x", "failed", "line", "quota_exhausted")]) == [
        (first.campaign_id, "r1")
    ]
    stored = store.get(first.campaign_id)
    assert (stored.status, stored.paused_reason, stored.resume_to) == ("paused", "quota_exhausted", "sending")
    assert store.run_status(first.campaign_id, "r1") == ("paused", "quota_exhausted")
    assert gate.stopped(key) == "quota_exhausted"
    assert gate.stop_exhausted([exhausted]) == []  # a second sender finds it stopped


def test_a_campaign_is_deleted_with_its_runs_on_the_version_read(store: Any) -> None:
    first = replace(campaign(unique("cmp").lower()), status="cancelled", runs=("r1", "r2"))
    store.create(first)
    for run_id in ("r1", "r2"):
        store.start_run(Run(first.campaign_id, run_id, "cancelled", "2026-05-04T03:00:00.000Z", 1))
    assert store.delete(first.campaign_id, expected_version=first.version + 1) is False
    assert store.get(first.campaign_id) == first
    assert store.delete(first.campaign_id, expected_version=first.version) is True
    assert store.get(first.campaign_id) is None and store.get_run(first.campaign_id, "r1") is None
    assert first.campaign_id not in {c.campaign_id for c in store.list()}
    # The id is free again, and a new run r1 starts afresh.
    assert store.create(first) is True
    assert store.start_run(Run(first.campaign_id, "r1", "sending", "2026-05-05T03:00:00.000Z", 1)) is True
    assert store.delete(unique("none").lower(), expected_version=1) is False
