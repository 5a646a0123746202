"""No phone, email, token, secret or LINE message text in any log line.

A stack of its own, logging at DEBUG (every line any function can write), plays scenario S1 (the
POS with a phone, the web shop with an email, a LINE friend who writes a message, an account link
and an undone merge) and a few admin paths that take personal data (lookups by phone and email, a
member import with a rejected row, consent and tags); then every line the stack wrote is searched
for the fixtures' personal data in each form it takes (a phone as typed, as digits, as E.164; an
email in any case; the message texts) and for the credentials. The stack's start-up banner, which
prints the local development credentials on purpose, is the only part left out.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local import aws_calls
from infra.local.stack import ENV_AWS_CALLS_FILE
from tests.e2e.conftest import (
    ADMIN_TOKEN,
    HTTP_TIMEOUT_SECONDS,
    LINE_SECRET,
    WRITE_KEY,
    Stack,
    _stop,
    _wait_healthy,
    free_port,
    stack_env,
    unique,
)
from tests.e2e.test_scenario_s1 import test_s1_steps_1_to_4_make_one_customer_and_the_merge_can_be_undone as s1
from tests.fixtures.line_events import text_message, user_id, user_source

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-logs")]

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BANNER_END = "Ctrl-C to stop."
SECRET_MESSAGE = "我的電話是0912-555-321，寄到 lin.secret@example.com"
CREDENTIALS = (ADMIN_TOKEN, WRITE_KEY, LINE_SECRET, "local-dev-access-token")
PII_PATTERNS = {
    "a phone as typed or as digits": re.compile(r"(?<!\d)09\d{2}-?\d{3}-?\d{3}(?!\d)"),
    "an E.164 phone": re.compile(r"(?<!\d)\+8869\d{8}(?!\d)"),
    "an email": re.compile(r"[A-Za-z0-9._%+\-]+@example\.com", re.IGNORECASE),
    "a LINE message text": re.compile(r"請問有新品嗎|我的電話是|lin\.secret"),
    "an auth header": re.compile(r"(Bearer|Basic) [A-Za-z0-9+/=._\-]{8,}"),
}


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A stack of its own at DEBUG, its output in a file."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    state = tmp_path_factory.mktemp("logged-stack")
    log, calls = state / "serve.log", state / "aws-calls.json"
    env = {**stack_env(port), "CDP_LOCAL_LOG_LEVEL": "DEBUG", ENV_AWS_CALLS_FILE: str(calls)}
    env.update({"CDP_LINE_API_PORT": str(free_port()), "CDP_AWS_PORT": str(free_port())})
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local.serve"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(process, base_url, log)
        yield base_url, log
    finally:
        _stop(process)
        if calls.exists():
            aws_calls.RECORDER.load(calls)


@pytest.fixture(scope="module")
def stack(logged: tuple[str, Path]) -> Stack:
    """Scenario S1 (imported above) runs on this stack."""
    return Stack(logged[0])


def _admin(stack: Stack, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**ADMIN, **kwargs.pop("headers", {})}
    return stack.http.request(method, stack.url(path), headers=headers, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)


def admin_paths_that_take_personal_data(stack: Stack) -> None:
    member, phone, email = unique("M"), "0912-555-321", f"{unique('lin')}@Example.com"
    traits = {"phone": phone, "email": email, "name": "林秘密"}
    assert stack.segment("identify", {"userId": member, "traits": traits}).status_code == 200
    line_user = user_id(unique("logs"))
    message = text_message(SECRET_MESSAGE, source=user_source(line_user), timestamp=int(time.time() * 1000))
    assert stack.line([message]).status_code == 200
    stack.drain()
    profile_id = stack.lookup("phone", phone)["profile_id"]
    assert stack.lookup("email", email.lower())["profile_id"] == profile_id
    assert stack.lookup_response("phone", "+886912555999").status_code == 404  # nobody: the 404 names no phone
    consent = {"channel": "email", "purpose": "marketing", "granted": True}
    assert _admin(stack, "POST", f"/admin/v1/profiles/{profile_id}/consent", json=consent).status_code == 202
    assert _admin(stack, "POST", f"/admin/v1/profiles/{profile_id}/tags", json={"add": ["vip"]}).status_code == 202
    csv_file = (
        f"member_id,phone,email\r\n{unique('csv')},0912-555-322,csv.{email}\r\n{unique('csv')},12,not-an-email\r\n"
    )
    imported = _admin(
        stack, "POST", "/admin/v1/imports/members", data=csv_file.encode(), headers={"Content-Type": "text/csv"}
    )
    assert imported.status_code == 202, imported.text
    stack.drain()
    assert _admin(stack, "GET", f"/admin/v1/profiles/{profile_id}/timeline").status_code == 200


def test_no_log_line_holds_personal_data_or_a_credential(logged: tuple[str, Path], stack: Stack) -> None:
    # The scenarios run here, in this order, whatever order the workers pick tests in.
    s1(stack)
    admin_paths_that_take_personal_data(stack)
    stack.drain()
    text = logged[1].read_text(encoding="utf-8", errors="replace")
    banner, _, rest = text.partition(BANNER_END)
    assert all(credential in banner for credential in CREDENTIALS[:3])  # the search sees what is there
    lines = rest.splitlines()
    # Not a vacuous pass: the functions that took the data logged, DEBUG lines included.
    for message in ('"ingest accepted"', '"webhook accepted"', '"event processed"', '"import completed"'):
        assert any(message in line for line in lines), f"no {message} line: is the capture working?"
    found: dict[str, list[str]] = {}
    for line in lines:
        for name, pattern in PII_PATTERNS.items():
            if pattern.search(line):
                found.setdefault(name, []).append(line[:400])
        for credential in CREDENTIALS:
            if credential in line:
                found.setdefault(f"the credential {credential[:6]}…", []).append(line[:400])
    assert found == {}, "\n".join(
        f"{name}: {len(hits)} lines, e.g.\n  " + "\n  ".join(hits[:3]) for name, hits in found.items()
    )
