"""E2E suite: the whole local stack in a subprocess, driven over HTTP the way LINE, SDKs and admins do.

One stack per test session (`python -m infra.local.serve` on a free port). Every test makes up its
own ids (uuid), so tests share the stack without seeing each other's people. Effects are read
back through the admin API after `POST /_local/drain`, never assumed from a status code.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local import aws_calls
from infra.local.stack import ENV_AWS_CALLS_FILE
from tests.fixtures.line_events import Event, sign, signed_delivery

ROOT = Path(__file__).resolve().parents[2]
LINE_CHANNEL = "default"
LINE_SECRET = "local-dev-secret"
WRITE_KEY = "local-dev-write-key"
ADMIN_TOKEN = "local-dev-admin-token"
BOT_USER_ID = "U" + "0" * 31 + "1"
START_TIMEOUT_SECONDS = 120
HTTP_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def stack_env(port: int) -> dict[str, str]:
    """The environment of a stack subprocess: a free port, quiet logs, the known local secrets."""
    env = {
        **os.environ,
        "CDP_PORT": str(port),
        "CDP_LOCAL_LOG_LEVEL": "WARNING",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDP_LINE_CHANNEL_SECRET": LINE_SECRET,
        "CDP_WRITE_KEY": WRITE_KEY,
        "CDP_ADMIN_TOKEN": ADMIN_TOKEN,
        "PYTHONUNBUFFERED": "1",
        # A segment created by one test applies to the next event at once, not after 30 s.
        "CDP_SEGMENT_DEFINITIONS_CACHE_SECONDS": "1",
    }
    env.pop("CDP_LOCAL_STATE_DIR", None)  # keep `.local`: the synthesized template is cached there
    # The built-in LINE fake, whatever LINE endpoint the shell running the tests points at.
    env.pop("CDP_LINE_API_BASE_URL", None)
    env.pop("CDP_LINE_DATA_API_BASE_URL", None)
    return env


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_ms() -> int:
    return int(time.time() * 1000)


class Stack:
    """A client of the running stack: LINE, the Segment-compatible API, the admin API, local routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    # LINE -----------------------------------------------------------------------------------
    def line(self, events: Sequence[Event], *, channel: str = LINE_CHANNEL) -> requests.Response:
        body, signature = signed_delivery(LINE_SECRET, events, destination=BOT_USER_ID)
        return self.line_raw(body, signature, channel=channel)

    def line_raw(self, body: bytes, signature: str | None, *, channel: str = LINE_CHANNEL) -> requests.Response:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signature is not None:
            headers["x-line-signature"] = signature
        return self.http.post(
            self.url(f"/line/webhook/{channel}"), data=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        )

    def line_signed(self, body: bytes, *, channel: str = LINE_CHANNEL) -> requests.Response:
        return self.line_raw(body, sign(LINE_SECRET, body), channel=channel)

    # Segment-compatible API -------------------------------------------------------------------
    def segment(
        self, call: str, payload: Any, *, write_key: str | None = WRITE_KEY, basic_auth: bool = True
    ) -> requests.Response:
        auth = (write_key, "") if basic_auth and write_key is not None else None
        return self.http.post(self.url(f"/v1/{call}"), json=payload, auth=auth, timeout=HTTP_TIMEOUT_SECONDS)

    def segment_raw(self, call: str, body: bytes, **headers: str) -> requests.Response:
        return self.http.post(
            self.url(f"/v1/{call}"),
            data=body,
            auth=(WRITE_KEY, ""),
            headers={"Content-Type": "application/json", **headers},
            timeout=HTTP_TIMEOUT_SECONDS,
        )

    # admin API --------------------------------------------------------------------------------
    def admin_get(self, path: str, *, token: str | None = ADMIN_TOKEN, **params: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return self.http.get(self.url(path), params=params, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)

    def lookup_response(self, id_type: str, value: str, *, token: str | None = ADMIN_TOKEN) -> requests.Response:
        return self.admin_get("/admin/v1/profiles/lookup", token=token, type=id_type, value=value)

    def lookup(self, id_type: str, value: str) -> dict[str, Any]:
        response = self.lookup_response(id_type, value)
        assert response.status_code == 200, f"lookup {id_type}={value}: {response.status_code} {response.text}"
        profile: dict[str, Any] = response.json()
        return profile

    def assert_no_profile(self, id_type: str, value: str) -> None:
        response = self.lookup_response(id_type, value)
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "profile_not_found"

    # local-only routes ------------------------------------------------------------------------
    def drain(self) -> dict[str, Any]:
        # Generous: on a loaded 2-core machine a 60-follower delivery fans out to the processor,
        # the archive writer, the segment evaluator and merges, all on moto (and the journeys'
        # own stack shares the cores). A stack still making progress gets up to three rounds.
        processed = -1
        for _round in range(3):
            response = self.http.post(self.url("/_local/drain"), params={"timeout": "120"}, timeout=150)
            status: dict[str, Any] = response.json()
            if response.status_code == 200 and status["drained"] is True:
                return status
            if status.get("processed") == processed:
                break  # no progress since the last round: stuck, not slow
            processed = status.get("processed", processed)
        assert response.status_code == 200, response.text
        assert status["drained"] is True
        return status

    def published(self, name: str | None = None) -> list[dict[str, Any]]:
        params = {"name": name} if name else {}
        response = self.http.get(self.url("/_local/events"), params=params, timeout=HTTP_TIMEOUT_SECONDS)
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def move_clock(self, **change: Any) -> dict[str, Any]:
        """`POST /_local/clock` (`set=`, `advance=` or `real=True`): the clock after the move and the
        schedule occurrences it fired. Tests that move it use the `clock` fixture, which puts the
        shared stack back on real time afterwards."""
        response = self.http.post(self.url("/_local/clock"), json=change, timeout=300)
        assert response.status_code == 200, response.text
        moved: dict[str, Any] = response.json()
        return moved

    def clock_now(self) -> datetime:
        state = self.http.get(self.url("/_local/clock"), timeout=HTTP_TIMEOUT_SECONDS).json()
        return datetime.fromisoformat(state["now"].replace("Z", "+00:00"))

    def line_sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """What the stack's LINE fake accepted (`/_local/line/sent`), oldest first."""
        response = self.http.get(
            self.url("/_local/line/sent"), params={"to": to} if to else {}, timeout=HTTP_TIMEOUT_SECONDS
        )
        assert response.status_code == 200, response.text
        sent: list[dict[str, Any]] = response.json()["sent"]
        return sent

    def line_control(self, name: str, body: Any = None) -> Any:
        """`POST /_local/line/<name>` (reply-tokens, fail-next, slow-next, quota, rate-limit, blocks...)."""
        response = self.http.post(self.url(f"/_local/line/{name}"), json=body or {}, timeout=HTTP_TIMEOUT_SECONDS)
        assert response.status_code == 200, response.text
        return response.json()

    def line_reply_token(self, user_id: str) -> str:
        """A reply token the stack's LINE fake will honour (valid 60 s of the stack's clock, once),
        for the `replyToken` of a webhook event a test makes up."""
        token: str = self.line_control("reply-tokens", {"userId": user_id, "botUserId": BOT_USER_ID})["replyToken"]
        return token

    def received(self, message_id: str) -> list[dict[str, Any]]:
        """`event.received` domain events for one messageId (LINE: the webhookEventId)."""
        return [e for e in self.published("event.received") if e["detail"]["data"]["messageId"] == message_id]


def event_names(profile: dict[str, Any]) -> list[str]:
    """The timeline as names: track events by `event`, the other calls by `type`."""
    return [entry.get("event") or entry["type"] for entry in profile["events"]]


def identifier_values(profile: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for identifier in profile["identifiers"]:
        found.setdefault(identifier["type"], []).append(identifier["value"])
    return found


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the local stack exited with {process.returncode} before it was healthy:\n{log.read_text()}",
                pytrace=False,
            )
        try:
            if requests.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"the local stack was not healthy after {START_TIMEOUT_SECONDS}s:\n{log.read_text()}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def line_api_port() -> int:
    """The LINE API fake's port in the stack, pinned so tests can reach its `/__fake__/` control routes."""
    return free_port()


@pytest.fixture(scope="session")
def line_api_url(stack_url: str, line_api_port: int) -> str:
    return f"http://127.0.0.1:{line_api_port}"


@pytest.fixture(scope="session")
def aws_port() -> int:
    """The stack's AWS (moto) endpoint port, pinned so operator tools can be pointed at it."""
    return free_port()


@pytest.fixture(scope="session")
def aws_endpoint(stack_url: str, aws_port: int) -> str:
    return f"http://127.0.0.1:{aws_port}"


@pytest.fixture(scope="session")
def stack_url(tmp_path_factory: pytest.TempPathFactory, line_api_port: int, aws_port: int) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    state = tmp_path_factory.mktemp("local-stack")
    log, calls = state / "serve.log", state / "aws-calls.json"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.serve"],
            cwd=ROOT,
            env={
                **stack_env(port),
                "CDP_LINE_API_PORT": str(line_api_port),
                "CDP_AWS_PORT": str(aws_port),
                ENV_AWS_CALLS_FILE: str(calls),
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(process, base_url, log)
        yield base_url
    finally:
        _stop(process)
        if calls.exists():  # the functions' AWS calls, for the IAM check at the end of the session
            aws_calls.RECORDER.load(calls)
        else:
            aws_calls.RECORDER.problems.append(f"the local stack wrote no AWS-call records ({calls}); see {log}")


@pytest.fixture(scope="session")
def stack(stack_url: str) -> Stack:
    return Stack(stack_url)


@pytest.fixture
def clock(stack: Stack) -> Iterator[Stack]:
    """For a test that moves the shared stack's clock: real time again when it ends, so the tests
    after it see the machine's time (schedules that fired ahead do not fire again)."""
    try:
        yield stack
    finally:
        stack.move_clock(real=True)
