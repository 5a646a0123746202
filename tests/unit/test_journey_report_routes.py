"""The journey report and runs routes through the admin function, on in-memory stores: the figures
of a published journey, where one person is and why (a merged-away id follows the merge), and the
4xx answers."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import cdp_api.app as app_module
import pytest
from cdp.access.principal import BOOTSTRAP
from cdp.journeys.definition import parse_definition
from cdp.journeys.model import PublishedVersion
from cdp.journeys.runs import ACTIVE, COMPLETED, EXITED, Run, Step
from cdp.profiles.model import Profile
from cdp_api.app import AdminFunction
from cdp_api.routes import journey_reports as routes

from tests.fakes import FakeProfileStore, FakeSegmentStore
from tests.fakes_journeys import InMemoryJourneyStore, InMemoryRunStore

CART = {
    "name": "Cart reminder",
    "entry": {"type": "event", "event": "Product Added", "key": "cart_id"},
    "start": "wait_order",
    "nodes": {
        "wait_order": {
            "type": "wait_for_event",
            "event": "Order Completed",
            "correlate": True,
            "timeout": "PT30M",
            "received": "done",
            "timed_out": "remind",
        },
        "remind": {"type": "send", "template_id": "cart-reminder", "next": "done"},
        "done": {"type": "exit"},
    },
    "goal": {"event": "Order Completed", "within": "P7D", "correlate": True},
    "reentry": {"mode": "per_key"},
}


class Templates:
    def get(self, template_id: str) -> Any:
        return SimpleNamespace(status="active", latest_version=4) if template_id == "cart-reminder" else None


class Context:
    def templates(self) -> Templates:
        return Templates()

    def segments(self) -> FakeSegmentStore:
        return FakeSegmentStore()

    def __init__(self) -> None:
        self.store = FakeProfileStore()
        self.journeys = InMemoryJourneyStore()
        self.runs = InMemoryRunStore()
        document = parse_definition(CART).document()
        self.journeys.add_version(
            PublishedVersion("cart", 1, document, {"cart-reminder": 3}, "2026-12-07T01:00:00Z", "arn:sm")
        )
        for profile_id, merged_into in (("p_ann", None), ("p_old", "p_ann"), ("p_bob", None)):
            self.store.profiles[profile_id] = Profile(
                profile_id, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z", merged_into=merged_into
            )


def _run(run_id: str, profile_id: str, **fields: Any) -> Run:
    return Run(
        run_id=run_id,
        journey_id="cart",
        version=1,
        profile_id=profile_id,
        entry_key=fields.pop("entry_key", "C1"),
        entered_at="2026-12-07T02:00:00Z",
        **fields,
    )


@pytest.fixture
def call(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)

    def request(
        context: Context, method: str, path: str, query: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, Any]:
        monkeypatch.setattr(routes, "_journeys", lambda: context.journeys)
        monkeypatch.setattr(routes, "_runs", lambda: context.runs)
        function = AdminFunction((routes.router,), lambda: context)  # type: ignore[arg-type, return-value]
        event = {
            "httpMethod": method,
            "path": path,
            "resource": path,
            "headers": {"Content-Type": "application/json"},
            "queryStringParameters": query,
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
            "requestContext": {"requestId": "r1", "resourcePath": path, "httpMethod": method, "stage": "v1"},
        }
        answer = function(event, None)
        return answer["statusCode"], json.loads(answer["body"])

    return request


def test_the_report_of_a_published_journey(call: Any) -> None:
    context = Context()
    context.runs.put_new(
        _run(
            "jr-1",
            "p_ann",
            status=EXITED,
            node="done",
            path=(
                Step("wait_order", "2026-12-07T02:00:01Z"),
                Step("remind", "2026-12-07T02:30:01Z"),
                Step("done", "2026-12-07T02:30:02Z"),
            ),
            sent={"remind": "sent"},
            clicked={"remind": "2026-12-07T03:00:00Z"},
            exit_reason=COMPLETED,
            exited_at="2026-12-07T02:30:02Z",
        )
    )
    context.runs.put_new(
        _run(
            "jr-2",
            "p_bob",
            entry_key="C2",
            status=ACTIVE,
            node="wait_order",
            path=(Step("wait_order", "2026-12-07T02:00:01Z"),),
            waiting={"kind": "event", "event": "Order Completed", "until": "2026-12-07T02:30:01Z"},
        )
    )
    status, report = call(context, "GET", "/admin/v1/journeys/cart/report")
    assert status == 200, report
    assert (report["status"], report["live_version"], report["runs_read"], report["truncated"]) == (
        "published",
        1,
        2,
        False,
    )
    assert report["runs"] == {"total": 2, "active": 1, "exited": {"completed": 1}}
    assert report["nodes"]["wait_order"]["entered"] == 2 and report["nodes"]["wait_order"]["waiting_now"] == 1
    assert (report["nodes"]["remind"]["sent"], report["nodes"]["remind"]["ctr"]) == (1, 1.0)
    assert report["branches"]["wait_order"]["timed_out"]["runs"] == 1

    status, answer = call(context, "GET", "/admin/v1/journeys/cart/report", {"version": "x"})
    assert (status, answer["error"]) == (400, "invalid_version")
    status, answer = call(context, "GET", "/admin/v1/journeys/cart/report", {"version": "9"})
    assert (status, answer["error"]) == (404, "journey_version_not_found")
    status, answer = call(context, "GET", "/admin/v1/journeys/nope/report")
    assert (status, answer["error"]) == (404, "journey_not_found")


def test_where_a_person_is_and_why_following_a_merge(call: Any) -> None:
    context = Context()
    context.runs.put_new(
        _run(
            "jr-1",
            "p_ann",
            node="wait_order",
            node_since="2026-12-07T02:00:01Z",
            path=(Step("wait_order", "2026-12-07T02:00:01Z"),),
            waiting={"kind": "event", "event": "Order Completed", "until": "2026-12-07T02:30:01Z"},
        )
    )
    status, answer = call(context, "GET", "/admin/v1/journeys/cart/runs", {"profileId": "p_old"})
    assert status == 200, answer
    assert answer["profile_id"] == "p_ann"
    (run,) = answer["runs"]
    assert (run["node"], run["node_type"], run["since"], run["status"]) == (
        "wait_order",
        "wait_for_event",
        "2026-12-07T02:00:01Z",
        "active",
    )
    assert run["why"] == (
        "waiting for Order Completed for the same entry key until 2026-12-07T02:30:01Z, then timed_out"
    )
    assert run["path"] == [{"node": "wait_order", "at": "2026-12-07T02:00:01Z", "outcome": None}]

    status, answer = call(context, "GET", "/admin/v1/journeys/cart/runs", {"profileId": "p_bob"})
    assert (status, answer["runs"]) == (200, [])
    status, answer = call(context, "GET", "/admin/v1/journeys/cart/runs", {"profileId": "p_nobody"})
    assert (status, answer["error"]) == (404, "profile_not_found")
    status, answer = call(context, "GET", "/admin/v1/journeys/cart/runs")
    assert status == 200 and [r["run_id"] for r in answer["runs"]] == ["jr-1"] and answer["profile_id"] is None


def test_a_dry_run_of_the_draft_walks_the_runtime_semantics_and_sends_nothing(call: Any) -> None:
    context = Context()
    path = "/admin/v1/journeys/cart/test"
    entry = {"event": "Product Added", "properties": {"cart_id": "C1", "items": [{"name": "洋裝"}]}}
    body = {"profile_id": "p_old", "entry": entry, "at": "2026-12-07T06:00:00Z"}
    status, answer = call(context, "POST", path, body=body)
    assert status == 200, answer
    assert answer["profile_id"] == "p_ann" and answer["entry_key"] == "C1" and answer["dry_run"] is True
    assert [(step["node"], step.get("branch")) for step in answer["path"]] == [
        ("wait_order", "timed_out"),
        ("remind", None),
        ("done", None),
    ]
    (send,) = answer["sends"]
    # The draft sends the template's newest version; nobody reaches p_ann (no LINE, no email).
    assert (send["template_id"], send["template_version"], send["channels"]) == ("cart-reminder", 4, ["line"])
    assert (send["would_send"], send["reason"], send["at"]) == (False, "unreachable", "2026-12-07T06:30:00Z")

    ordered = {"event": "Order Completed", "properties": {"cart_id": "C1", "revenue": 990}, "after": "PT20M"}
    status, answer = call(context, "POST", path, body={**body, "events": [ordered], "version": 1})
    assert status == 200, answer
    assert answer["sends"] == [] and answer["path"][0]["branch"] == "received"
    assert answer["conversion"] == {"converted": True, "at": "2026-12-07T06:20:00Z", "value": 990.0}

    status, answer = call(context, "POST", path, body={**body, "events": [{"event": "X", "after": "later"}]})
    assert (status, answer["error"]) == (400, "invalid_test_events")
    status, answer = call(context, "POST", path, body={**body, "at": "yesterday"})
    assert (status, answer["error"]) == (400, "invalid_at")
    status, answer = call(context, "POST", path, body={**body, "colour": "red"})
    assert (status, answer["error"]) == (400, "unknown_test_field")
    status, answer = call(context, "POST", path, body={**body, "profile_id": "p_nobody"})
    assert (status, answer["error"]) == (404, "profile_not_found")
