"""The local stack's clock, its scheduler and its choice of LINE endpoint, over HTTP.

A stack of its own (its clock is the whole stack's), started with CDP_LINE_API_BASE_URL set to
another LINE API server (a second fake, in this process): the stack talks to that one exactly as
to LINE and runs no fake of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import requests

from infra.local.line_fake import LineApiFake
from tests.e2e.conftest import ADMIN_TOKEN, ROOT, WRITE_KEY, _stop, _wait_healthy, free_port, stack_env

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

ACCESS_TOKEN = "local-dev-access-token"  # the local config's channel access token
BOT_USER_ID = "U" + "0" * 31 + "1"
TAIPEI = ZoneInfo("Asia/Taipei")
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Local:
    def __init__(self, base_url: str, aws_endpoint: str, line: LineApiFake) -> None:
        self.base_url, self.aws_endpoint, self.line = base_url, aws_endpoint, line
        self.http = requests.Session()

    def clock(self, **change: Any) -> requests.Response:
        return self.http.post(f"{self.base_url}/_local/clock", json=change, timeout=120)

    def now(self) -> datetime:
        state = self.http.get(f"{self.base_url}/_local/clock", timeout=10).json()
        return datetime.fromisoformat(state["now"].replace("Z", "+00:00"))

    def admin(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, f"{self.base_url}{path}", json=body, headers=ADMIN, timeout=60)

    def drain(self) -> None:
        answer = self.http.post(f"{self.base_url}/_local/drain", params={"timeout": "120"}, timeout=150)
        assert answer.status_code == 200 and answer.json()["drained"], answer.text

    def scheduler(self) -> Any:
        return boto3.client(
            "scheduler",
            endpoint_url=self.aws_endpoint,
            region_name="ap-northeast-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def segment(self, run: str) -> str:
        segment_id = f"clock-{run}"
        rule = {"attribute": {"field": "traits.name", "op": "starts_with", "value": run}}
        created = self.admin(
            "POST", "/admin/v1/segments", {"id": segment_id, "name": run, "rule": rule, "refresh_minutes": 60}
        )
        assert created.status_code == 201, created.text
        return segment_id

    def sizes(self, segment_id: str) -> list[Any]:
        history = self.admin("GET", f"/admin/v1/segments/{segment_id}/history")
        assert history.status_code == 200, history.text
        return list(history.json()["sizes"])


@pytest.fixture(scope="module")
def other_line() -> Iterator[LineApiFake]:
    """Another LINE API endpoint: what the stack sends lands here, not in a fake of its own."""
    with LineApiFake() as server:
        server.register_channel(ACCESS_TOKEN, BOT_USER_ID)
        yield server


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, other_line: LineApiFake) -> Iterator[Local]:
    port, aws_port = free_port(), free_port()
    log = tmp_path_factory.mktemp("clock-stack") / "serve.log"
    env = {**stack_env(port), "CDP_AWS_PORT": str(aws_port), "CDP_LINE_API_BASE_URL": other_line.base_url}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.serve"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, url, log)
        yield Local(url, f"http://127.0.0.1:{aws_port}", other_line)
    finally:
        _stop(process)


def test_the_clock_is_real_until_set_and_the_functions_read_the_time_it_was_set_to(local: Local) -> None:
    state = local.http.get(f"{local.base_url}/_local/clock", timeout=10).json()
    assert state["virtual"] is False and abs(state["now_ms"] / 1000 - time.time()) < 60
    day = (datetime.now(TAIPEI) + timedelta(days=20)).date()
    christmas_eve = datetime(day.year, day.month, day.day, 23, 0, tzinfo=TAIPEI)

    moved = local.clock(set=christmas_eve.isoformat())

    assert moved.status_code == 200, moved.text
    assert moved.json()["virtual"] is True
    assert all(f["error"] is None for f in moved.json()["fired"])  # the daily jobs of the days stepped over
    run = uuid.uuid4().hex[:10]
    tracked = local.http.post(
        f"{local.base_url}/v1/track",
        json={"userId": f"clock-{run}", "event": "Product Viewed", "messageId": f"clock-{run}"},
        auth=(WRITE_KEY, ""),
        timeout=30,
    )
    assert tracked.status_code == 200, tracked.text
    local.drain()
    profile = local.admin("GET", f"/admin/v1/profiles/lookup?type=member_id&value=clock-{run}")
    assert profile.status_code == 200, profile.text
    [event] = [e for e in profile.json()["events"] if e.get("event") == "Product Viewed"]
    received = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert timedelta(0) <= received - christmas_eve < timedelta(minutes=5)  # received "at" the clock's time


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({}, "exactly one"),
        ({"advance": "P1M"}, "months"),
        ({"advance": -60}, "only advances"),
        ({"set": "2026-12-24T23:00:00"}, "offset"),
        ({"real": False}, "real must be true"),
        ({"set": "2026-12-24T23:00:00Z", "advance": 5}, "exactly one"),
        ({"speed": 2}, "unknown"),
    ],
)
def test_a_move_the_clock_cannot_make_is_400_with_the_reason(local: Local, change: dict[str, Any], word: str) -> None:
    before = local.now()
    answer = local.clock(**change)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_clock" and word in answer.json()["message"]
    assert abs(local.now() - before) < timedelta(seconds=30)  # unmoved


def test_advancing_past_a_segment_schedule_fires_its_recompute_once(local: Local) -> None:
    segment_id = local.segment(uuid.uuid4().hex[:10])
    early = local.clock(advance="PT59M").json()["fired"]
    assert [f for f in early if f["schedule"] == segment_id] == []
    fired = local.clock(advance=120).json()["fired"]  # one hour after it was made: rate(60 minutes)
    mine = [f for f in fired if f["schedule"] == segment_id]
    assert len(mine) == 1 and mine[0]["error"] is None, fired
    assert len(local.sizes(segment_id)) == 1
    assert [f for f in local.clock(advance="PT30M").json()["fired"] if f["schedule"] == segment_id] == []
    [listed] = [
        s
        for s in local.http.get(f"{local.base_url}/_local/schedules", timeout=10).json()["schedules"]
        if s["schedule"] == segment_id
    ]
    assert listed["fired"] == 1 and listed["expression"] == "rate(60 minutes)"


def test_a_schedule_fires_by_itself_when_the_clock_passes_it(local: Local) -> None:
    segment_id = local.segment(uuid.uuid4().hex[:10])
    scheduler = local.scheduler()
    group = next(s["GroupName"] for s in scheduler.list_schedules()["Schedules"] if s["Name"] == segment_id)
    target = scheduler.get_schedule(Name=segment_id, GroupName=group)["Target"]
    due = (local.now() + timedelta(seconds=3)).astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
    scheduler.create_schedule(
        Name=f"{segment_id}-once",
        GroupName=group,
        ScheduleExpression=f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": target["Arn"], "RoleArn": target["RoleArn"], "Input": target["Input"]},
        ActionAfterCompletion="DELETE",
    )
    deadline = time.monotonic() + 30
    while not local.sizes(segment_id) and time.monotonic() < deadline:  # nobody moves the clock
        time.sleep(0.5)
    assert len(local.sizes(segment_id)) == 1
    assert local.now() >= due
    names = {s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"]}
    assert f"{segment_id}-once" not in names and segment_id in names  # deleted after completion, as asked


def test_with_a_line_endpoint_given_the_stack_runs_no_fake_and_calls_that_endpoint(local: Local) -> None:
    status = local.http.get(f"{local.base_url}/_local/status", timeout=10).json()
    assert status["line_fake"] is False and status["line_api_url"] == local.line.base_url
    user = "U" + uuid.uuid4().hex
    issued = local.admin("POST", "/admin/v1/line/link-token", {"lineUserId": user, "memberId": f"m-{user[-8:]}"})
    assert issued.status_code == 201, issued.text
    assert [t["user_id"] for t in local.line.link_tokens()] == [user]  # LINE, here the other server, issued it
    assert issued.json()["linkToken"] == local.line.link_tokens()[0]["link_token"]
    sent = local.http.get(f"{local.base_url}/_local/line/sent", timeout=10)
    assert sent.status_code == 404 and sent.json()["error"] == "line_fake_not_running"


def test_make_demo_runs_to_the_end_against_another_line_endpoint(other_line: LineApiFake) -> None:
    env = {**stack_env(0), "CDP_LOCAL_LOG_LEVEL": "ERROR", "CDP_LINE_API_BASE_URL": other_line.base_url}
    result = subprocess.run(
        [sys.executable, "-m", "infra.local.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"LINE Messaging API (CDP_LINE_API_BASE_URL, no fake): {other_line.base_url}" in result.stdout
    assert "accountLink webhook answered 200" in result.stdout  # the other endpoint issued the link token
    assert "what it received cannot be shown here" in result.stdout
    assert "「VIP 新品搶先看」 members: 0 → 1" in result.stdout
    assert "Traceback" not in output
