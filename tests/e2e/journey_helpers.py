"""Journeys over HTTP on the local stack: the definitions of tests/fixtures/journeys with this
test's own ids, their lifecycle, reports and runs, and waiting for runs to get somewhere.

A journey listens to every person on the shared stack (an event entry starts a run for anyone's
`Product Added`), so each test archives what it published before it ends (`published_journey`).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import ADMIN_TOKEN, Stack, unique

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "journeys"
RUN_WAIT_SECONDS = 120


def admin(stack: Stack, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return stack.http.request(method, stack.url(path), json=body, params=params, headers=ADMIN, timeout=120)


def definition(name: str, ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A fixture definition with its template and segment ids replaced by `ids` (the stack is
    shared: each test makes its own templates and segments)."""
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    ids = ids or {}

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: ids.get(item, item) if key in ("template_id", "segment_id", "in_segment") else swap(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    swapped: dict[str, Any] = swap(copy.deepcopy(document))
    return swapped


def create(stack: Stack, document: dict[str, Any]) -> str:
    journey_id = unique("j").lower()
    created = admin(stack, "POST", "/admin/v1/journeys", {"id": journey_id, "definition": document})
    assert created.status_code == 201, created.text
    return str(created.json()["journey_id"])


def publish(stack: Stack, journey_id: str) -> dict[str, Any]:
    published = admin(stack, "POST", f"/admin/v1/journeys/{journey_id}/publish")
    assert published.status_code == 200, published.text
    answer: dict[str, Any] = published.json()
    return answer


def archive(stack: Stack, journey_id: str) -> None:
    archived = admin(stack, "POST", f"/admin/v1/journeys/{journey_id}/archive")
    assert archived.status_code in (200, 409), archived.text  # 409: archived already


@contextmanager
def published_journey(stack: Stack, document: dict[str, Any]) -> Iterator[str]:
    """Create and publish the journey; archive it when the test ends, whatever happened."""
    journey_id = create(stack, document)
    try:
        publish(stack, journey_id)
        time.sleep(1.1)  # consumers keep the live journeys for 1 s on the local stack
        yield journey_id
    finally:
        archive(stack, journey_id)


def template(stack: Stack, prefix: str, text: str, *, email: bool = False) -> str:
    template_id = unique(prefix).lower()
    body: dict[str, Any] = {"id": template_id, "name": prefix, "line": {"messages": [{"type": "text", "text": text}]}}
    if email:
        body["email"] = {"subject": prefix, "text": text}
    created = admin(stack, "POST", "/admin/v1/templates", body)
    assert created.status_code == 201, created.text
    return template_id


def report(stack: Stack, journey_id: str, **params: str) -> dict[str, Any]:
    answer = admin(stack, "GET", f"/admin/v1/journeys/{journey_id}/report", **params)
    assert answer.status_code == 200, answer.text
    figures: dict[str, Any] = answer.json()
    return figures


def runs(stack: Stack, journey_id: str, profile_id: str) -> list[dict[str, Any]]:
    answer = admin(stack, "GET", f"/admin/v1/journeys/{journey_id}/runs", profileId=profile_id)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["runs"]
    return found


def settle(stack: Stack, *, seconds: float = 1200) -> None:
    """Drain until the stack is idle, however long a burst keeps it busy (one drain gives up after
    two minutes)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = stack.http.post(stack.url("/_local/drain"), params={"timeout": "120"}, timeout=150)
        if answer.status_code == 200 and answer.json().get("drained") is True:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the stack was still busy after {seconds:.0f}s: {answer.text[:500]}")


def wait_for(stack: Stack, check: Callable[[], Any], what: str, *, seconds: float = RUN_WAIT_SECONDS) -> Any:
    """Drain the stack until `check()` answers something truthy (executions run on their own
    threads on the local stack: a drain does not wait for them)."""
    deadline = time.monotonic() + seconds
    while True:
        # A busy stack answers 504 after two minutes: look anyway, and drain again.
        stack.http.post(stack.url("/_local/drain"), params={"timeout": "120"}, timeout=150)
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f}s for {what}")
        time.sleep(0.3)


def run_at(stack: Stack, journey_id: str, profile_id: str, *nodes: str) -> dict[str, Any]:
    """The person's newest run once it is at one of `nodes` (or has ended, with `nodes` empty)."""

    def check() -> dict[str, Any] | None:
        found = runs(stack, journey_id, profile_id)
        if not found:
            return None
        run = found[0]
        if nodes and run["node"] in nodes:
            return run
        if not nodes and run["status"] == "exited":
            return run
        return None

    where = ", ".join(nodes) if nodes else "its end"
    found: dict[str, Any] = wait_for(stack, check, f"the run of {profile_id} to reach {where}")
    return found


def ended(stack: Stack, journey_id: str, profile_id: str) -> dict[str, Any]:
    return run_at(stack, journey_id, profile_id)


def waiting(stack: Stack, journey_id: str, profile_id: str, node: str) -> dict[str, Any]:
    """The run once it waits at `node` (its wait or delay is registered)."""

    def check() -> dict[str, Any] | None:
        found = runs(stack, journey_id, profile_id)
        if found and found[0]["node"] == node and found[0]["waiting"]:
            return found[0]
        return None

    found: dict[str, Any] = wait_for(stack, check, f"the run of {profile_id} to wait at {node}")
    return found


def member_id_of(stack: Stack, line_user: str) -> str:
    """The member id of a LINE-bound member (to send their web events as that member)."""
    identifiers = stack.lookup("line", line_user)["identifiers"]
    return str(next(item["value"] for item in identifiers if item["type"] == "member_id"))


def texts(stack: Stack, line_user: str) -> list[str]:
    """The texts LINE delivered to the user, oldest first."""
    return [m.get("text", "") for sent in stack.line_sent(line_user) for m in sent["messages"]]


def tap(stack: Stack, url: str) -> None:
    """Follow a tracked link the way a phone does (the redirect is not followed further)."""
    path = "/r/" + url.split("/r/", 1)[1]
    tapped = stack.http.get(stack.url(path), allow_redirects=False, timeout=30)
    assert tapped.status_code == 302, tapped.text


def line_calls(stack: Stack) -> list[dict[str, Any]]:
    """Every request the LINE fake answered (`/_local/line/calls`), with its status and retry key."""
    answer = stack.http.get(stack.url("/_local/line/calls"), timeout=30)
    assert answer.status_code == 200, answer.text
    calls: list[dict[str, Any]] = answer.json()["calls"]
    return calls
