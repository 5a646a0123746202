"""The message sender's campaign check: requests of a paused or cancelled campaign are answered
`skipped` without a send or a ledger record; other senders' requests are not read at all. LINE's
monthly limit pauses the campaign: its run stops and its queued requests are not sent."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from cdp.campaigns.gate import CampaignGate
from cdp.campaigns.model import PAUSED, RUN_QUOTA_EXHAUSTED, SENDING, SENT, Run, send_key

from tests.fakes_campaigns import FakeCampaignStore
from tests.unit.test_campaigns import Campaigns, make_campaign
from tests.unit.test_send_point import AMY_LINE, World

ROOT = Path(__file__).resolve().parents[2]


def _handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "message_sender_handler", ROOT / "functions/message_sender/handler.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _body(key: str, campaign_id: str | None = "spring") -> dict[str, Any]:
    request: dict[str, Any] = {
        "send_key": key,
        "profile_id": "p_amy",
        "template_id": "coupon",
        "kind": "campaign" if campaign_id else "manual",
        "purpose": "marketing",
        "channels": ["line"],
    }
    if campaign_id:
        request["campaign_id"] = campaign_id
    return {"requests": [request]}


def test_a_paused_campaigns_queued_request_is_skipped_and_sent_after_resume() -> None:
    handler = _handler()
    world = World()
    world.person("p_amy", line=AMY_LINE)
    store = FakeCampaignStore()
    store.create(make_campaign(status=PAUSED))
    store.start_run(Run("spring", "r1", "paused", "2026-05-04T03:00:00.000Z", 1))
    gate = CampaignGate(store, world.clock, ttl_ms=0)
    key = send_key("spring", "r1", "p_amy")

    answer, retry = handler.handle(_body(key), world.point, gate)
    assert answer["results"] == [
        {"send_key": key, "state": "skipped", "reason": "campaign_paused", "cost_units": 0, "duplicate": False}
    ]
    assert not retry and world.line.calls == [] and world.ledger.get(key) is None

    campaign = store.campaigns["spring"]
    store.replace(campaign.moved(SENDING, "2026-05-04T03:01:00.000Z"), expected_version=campaign.version)
    run = store.runs[("spring", "r1")]
    store.replace_run(Run(**{**run.as_dict(), "status": "sending", "version": 2}), expected_version=1)
    answer, _ = handler.handle(_body(key), world.point, gate)
    assert answer["results"][0]["state"] == "sent" and len(world.line.calls) == 1


def test_requests_that_are_not_a_campaigns_are_not_checked() -> None:
    handler = _handler()
    world = World()
    world.person("p_amy", line=AMY_LINE)
    store = FakeCampaignStore()
    answer, _ = handler.handle(_body("manual:amy:1", campaign_id=None), world.point, CampaignGate(store, world.clock))
    assert answer["results"][0]["state"] == "sent" and store.reads == 0


def _requests(*keys: str) -> dict[str, Any]:
    return {"requests": [_body(key)["requests"][0] | {"profile_id": f"p_{key[-1]}"} for key in keys]}


def test_lines_monthly_limit_pauses_the_campaign_and_its_queued_requests_are_not_sent() -> None:
    handler = _handler()
    world = World()
    for index in range(4):
        world.person(f"p_{index}", line=f"U{index:032x}")
    store = FakeCampaignStore()
    store.create(make_campaign(status=SENDING, current_run="r1", runs=("r1",)))
    store.start_run(Run("spring", "r1", "sending", "2026-05-04T03:00:00.000Z", 1))
    gate = CampaignGate(store, world.clock, ttl_ms=0)
    keys = [send_key("spring", "r1", f"p_{index}") for index in range(4)]

    world.line.script = ["quota"]  # LINE: "You have reached your monthly limit."
    answer, retry = handler.handle(_requests(keys[0]), world.point, gate)
    assert [(r["state"], r["reason"]) for r in answer["results"]] == [("failed", "quota_exhausted")]
    assert not retry and len(world.line.calls) == 1

    campaign = store.campaigns["spring"]
    assert (campaign.status, campaign.paused_reason, campaign.resume_to) == (PAUSED, "quota_exhausted", SENDING)
    assert store.runs[("spring", "r1")].status == RUN_QUOTA_EXHAUSTED

    # The requests still queued: answered without calling LINE, nothing in the ledger.
    answer, retry = handler.handle(_requests(*keys[1:]), world.point, gate)
    assert [(r["state"], r["reason"]) for r in answer["results"]] == [("skipped", "quota_exhausted")] * 3
    assert not retry and len(world.line.calls) == 1
    assert all(world.ledger.get(key) is None for key in keys[1:])


def test_the_runner_stops_paging_a_run_lines_limit_stopped() -> None:
    world = Campaigns(page_size=2, pages=1)
    world.friends(6)
    world.store.create(make_campaign())
    world.runner.fire("spring")  # first page queued, the rest handed on
    gate = CampaignGate(world.store, world.world.clock, ttl_ms=0)
    handler = _handler()
    world.world.line.script = ["quota"]
    for message in world.queue.take():
        handler.handle({"requests": message}, world.world.point, gate)
    assert world.store.campaigns["spring"].paused_reason == "quota_exhausted"
    assert world.runner.fan_out(*world.continuation.pending.pop(0))["stopped"] == RUN_QUOTA_EXHAUSTED
    assert world.queue.take() == []

    assert gate.stopped(send_key("spring", "r1", "p_0005")) == "quota_exhausted"


def test_a_finished_run_whose_requests_are_queued_is_stopped_by_the_monthly_limit() -> None:
    world = Campaigns(page_size=10, pages=1)
    world.friends(3)
    world.store.create(make_campaign())
    world.run_to_the_end("spring")
    assert world.store.campaigns["spring"].status == SENT
    gate = CampaignGate(world.store, world.world.clock, ttl_ms=0)
    handler = _handler()
    world.world.line.script = ["quota"]
    messages = world.queue.take()
    answers = [handler.handle({"requests": message}, world.world.point, gate)[0] for message in messages]
    states = [(r["state"], r.get("reason")) for answer in answers for r in answer["results"]]
    assert states[0] == ("failed", "quota_exhausted")
    assert all(state in {("failed", "quota_exhausted"), ("skipped", "quota_exhausted")} for state in states)
    assert len(world.world.line.calls) == 1
    campaign = world.store.campaigns["spring"]
    assert (campaign.status, campaign.resume_to) == (PAUSED, SENDING)
