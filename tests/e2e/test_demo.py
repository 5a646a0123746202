"""`make demo`: the S1 walkthrough starts its own stack, tells the story and exits cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def test_make_demo_runs_scenario_s1_and_prints_the_profile_summary() -> None:
    env = {**stack_env(0), "CDP_LOCAL_LOG_LEVEL": "ERROR"}
    result = subprocess.run(
        [sys.executable, "-m", "infra.local.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for line in (
        "Scenario S1",
        "member ID: M1",
        "phone: +886912345678",
        "email: amy@example.com",
        "name: Amy Chen",
        "channel mix: omnichannel",
        "purchase: NT$5,000 at store-taipei-101",
        "LINE user: default:U4af4980629a0b1c2d3e4f5a6b7c8d9e0",
        "email amy@example.com → ✓, LINE user U1 → ✓, the pre-login browser → ✓",
        "LINE: a LINE friend of the OA",
        "orders: 1, spent: TWD 5,000",
        "請問有新品嗎？",
        "accountLink webhook answered 200",
        "profile.merged ×2",
        "stored once (1 duplicate)",
        "refused with 401 (invalid_signature)",
        "event.received",
        "(never purchased AND LINE reachable): 0 of 1 people",
        "enters 「首購 8 折」 at once (✓); Amy is not in it",
        "Amy taps it: 302 → https://shop.example.com/new",
        "「VIP 新品搶先看」 members: 0 → 1",
        "source:line-push (link)",
        "Preflight of 「首購 8 折優惠券」: 1 recipient(s), 1 LINE message(s)",
        "estimated cost NT$0 (budget NT$100)",
        "U2 (the new friend) received on LINE: 「🎉 歡迎加入！首購 8 折優惠券",
        "Amy (U1, VIP member M1) received on LINE: 「Amy 您好，VIP 新品搶先看",
        "The first-purchase coupon reached U2 1 time(s) and Amy 0 time(s)",
        "she gets the VIP preview (1) instead",
    ):
        assert line in result.stdout, f"{line!r} missing from the demo output:\n{output}"
    assert "Traceback" not in output
    assert '"_aws"' not in output  # no raw CloudWatch metric lines in a story told to marketers
