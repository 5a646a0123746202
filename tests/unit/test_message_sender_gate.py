"""The message sender's campaign check: requests of a paused or cancelled campaign are answered
`skipped` without a send or a ledger record; other senders' requests are not read at all."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from cdp.campaigns.gate import CampaignGate
from cdp.campaigns.model import PAUSED, SENDING, Run, send_key

from tests.fakes_campaigns import FakeCampaignStore
from tests.unit.test_campaigns import make_campaign
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
