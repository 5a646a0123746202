"""The campaign routes on in-memory fakes: editing and deleting drafts (compare-and-set, states),
and preflight and send of an audience too big for one request (202 with a job; 409
preflight_running while it walks; send on the job's figures once it is done)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import cdp_api.app as app_module
import pytest
from cdp.access.principal import BOOTSTRAP
from cdp.campaigns.audience import Audience
from cdp.campaigns.model import CANCELLED, DRAFT, SENDING
from cdp.campaigns.preflight import Preflight
from cdp.campaigns.preflight_jobs import PreflightJobs
from cdp.campaigns.pricing import Pricing
from cdp_api.app import AdminFunction
from cdp_api.context import serving
from cdp_api.routes import campaigns as routes

from tests.fakes import FixedClock
from tests.fakes_campaigns import FakeCampaignStore, FakeCapCounts, FakePreflightSteps, FakeQueryJobs, FakeQuota
from tests.unit.test_campaigns import SEGMENT, Campaigns, make_campaign
from tests.unit.test_send_point import MONDAY_11, PROVIDER


class Templates:
    def get(self, template_id: str) -> Any:
        return SimpleNamespace(status="active", latest_version=1) if template_id == "coupon" else None

    def version(self, template_id: str, version: int) -> Any:
        return SimpleNamespace(version=version) if template_id == "coupon" and version == 1 else None


class Segments:
    def get(self, segment_id: str) -> Any:
        return SimpleNamespace(status="active") if segment_id == SEGMENT else None


class Runner:
    def __init__(self) -> None:
        self.fired: list[str] = []

    def fire(self, campaign_id: str) -> None:
        self.fired.append(campaign_id)


class Context:
    """What the campaign routes read from cdp_api.context.AdminContext, on fakes."""

    def __init__(self, people: int = 0, *, budget_s: float | None = None, quota: FakeQuota | None = None) -> None:
        self.world = Campaigns()
        self.world.friends(people)
        self.clock = FixedClock(MONDAY_11)
        self.store: FakeCampaignStore = self.world.store
        self.jobs = FakeQueryJobs()
        self.steps = FakePreflightSteps()
        self.runner = Runner()
        self.budget_s = budget_s
        self.quota = quota or FakeQuota()

    def campaigns(self) -> FakeCampaignStore:
        return self.store

    def segments(self) -> Segments:
        return Segments()

    def templates(self) -> Templates:
        return Templates()

    def campaign_runner(self) -> Runner:
        return self.runner

    def preflight_jobs(self) -> PreflightJobs:
        return PreflightJobs(self.store, self.jobs, self.steps, self.clock)

    def preflight_parts(self, campaign: Any) -> tuple[Preflight, Any]:
        checker = Preflight(
            Audience(self.world.segments, self.world.world.profiles),
            FakeCapCounts({}),
            self.quota,
            time_budget_s=self.budget_s,
            page_size=2,
        )
        return checker, self.world.inputs(pricing=Pricing(), line_provider=PROVIDER)

    def preflight(self, campaign: Any, *, now_ms: int) -> dict[str, Any]:
        checker, inputs = self.preflight_parts(campaign)
        return checker.run(campaign, inputs, now_ms=now_ms)

    def run_steps(self) -> None:
        while self.steps.pending:  # what the admin function does with `{"campaign_preflight": step}`
            step = self.steps.pending.pop(0)
            with serving(lambda: self):  # type: ignore[arg-type, return-value]
                assert routes.run_preflight_step(step) in ("continued", "done")


@pytest.fixture
def call(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)
    monkeypatch.setattr(routes, "_now_ms", lambda: MONDAY_11)

    def request(
        context: Context, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        function = AdminFunction((routes.router,), lambda: context)  # type: ignore[arg-type, return-value]
        event = {
            "httpMethod": method,
            "path": path,
            "resource": path,
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "queryStringParameters": None,
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
            "requestContext": {"requestId": "r1", "resourcePath": path, "httpMethod": method, "stage": "v1"},
        }
        answer = function(event, None)
        return answer["statusCode"], json.loads(answer["body"])

    return request


DRAFT_BODY = {"name": "Spring", "segment_id": SEGMENT, "template_id": "coupon", "channels": ["line"]}


# --- edit and delete ---------------------------------------------------------------------------


def test_a_draft_is_edited_with_the_version_read_and_a_stale_version_is_refused(call: Any) -> None:
    context = Context()
    status, created = call(context, "POST", "/admin/v1/campaigns", {**DRAFT_BODY, "id": "spring", "budget": 50})
    assert status == 201 and created["version"] == 1

    edited_body = {**DRAFT_BODY, "name": "Spring sale", "channels": ["line", "email"], "version": 1}
    status, edited = call(context, "PUT", "/admin/v1/campaigns/spring", edited_body)
    assert status == 200, edited
    assert (edited["name"], edited["channels"], edited["version"]) == ("Spring sale", ["line", "email"], 2)
    assert edited["budget"] is None  # replaced whole: left out, back to its default
    assert edited["created_at"] == created["created_at"]
    assert context.store.campaigns["spring"].name == "Spring sale"

    status, stale = call(context, "PUT", "/admin/v1/campaigns/spring", {**edited_body, "name": "Late"})
    assert (status, stale["error"], stale["details"]) == (409, "campaign_changed", {"version": 2})
    assert context.store.campaigns["spring"].name == "Spring sale"


def test_an_edit_is_checked_like_a_create_and_needs_a_version(call: Any) -> None:
    context = Context()
    context.store.create(make_campaign(status=DRAFT))
    status, answer = call(context, "PUT", "/admin/v1/campaigns/spring", DRAFT_BODY)
    assert (status, answer["error"]) == (400, "invalid_version")
    status, answer = call(context, "PUT", "/admin/v1/campaigns/spring", {**DRAFT_BODY, "version": 1, "id": "x"})
    assert (status, answer["error"]) == (400, "unknown_campaign_field")
    status, answer = call(
        context, "PUT", "/admin/v1/campaigns/spring", {**DRAFT_BODY, "version": 1, "segment_id": "gone"}
    )
    assert (status, answer["error"]) == (404, "segment_not_found")
    status, answer = call(context, "PUT", "/admin/v1/campaigns/nobody", {**DRAFT_BODY, "version": 1})
    assert (status, answer["error"]) == (404, "campaign_not_found")
    assert context.store.campaigns["spring"].version == 1


def test_an_edit_drops_the_old_drafts_figures(call: Any) -> None:
    context = Context()
    figures = {"job_id": "j1", "evaluated_at": "2026-05-04T03:00:00.000Z"}
    context.store.create(make_campaign(status=DRAFT, last_preflight=figures, preflight_job={"job_id": "j2"}))
    status, edited = call(context, "PUT", "/admin/v1/campaigns/spring", {**DRAFT_BODY, "version": 1})
    assert status == 200 and edited["last_preflight"] is None and edited["preflight_job"] is None


def test_only_drafts_are_edited_and_only_drafts_and_cancelled_campaigns_deleted(call: Any) -> None:
    context = Context()
    context.store.create(make_campaign(status=SENDING, current_run="r1", runs=("r1",)))
    status, answer = call(context, "PUT", "/admin/v1/campaigns/spring", {**DRAFT_BODY, "version": 1})
    assert (status, answer["error"], answer["details"]["allowed"]) == (409, "invalid_campaign_state", [DRAFT])
    status, answer = call(context, "DELETE", "/admin/v1/campaigns/spring")
    assert (status, answer["error"], answer["details"]["allowed"]) == (
        409,
        "invalid_campaign_state",
        [DRAFT, CANCELLED],
    )
    assert "spring" in context.store.campaigns


def test_deleting_a_cancelled_campaign_removes_it_and_its_runs(call: Any) -> None:
    context = Context()
    context.store.create(make_campaign(status=CANCELLED, current_run="r1", runs=("r1",)))
    from cdp.campaigns.model import Run

    context.store.start_run(Run("spring", "r1", "cancelled", "2026-05-04T03:00:00.000Z", 1))
    status, answer = call(context, "DELETE", "/admin/v1/campaigns/spring")
    assert (status, answer) == (200, {"campaign_id": "spring", "deleted": True})
    assert context.store.campaigns == {} and context.store.runs == {}
    status, answer = call(context, "DELETE", "/admin/v1/campaigns/spring")
    assert (status, answer["error"]) == (404, "campaign_not_found")


# --- preflight and send of a big audience -------------------------------------------------------


def test_a_big_audiences_preflight_answers_a_job_and_send_waits_for_it_then_sends(call: Any) -> None:
    context = Context(people=5, budget_s=0.0)  # one page of two per step
    context.store.create(make_campaign(status=DRAFT, channels=("line",), budget=1000.0))

    status, job = call(context, "POST", "/admin/v1/campaigns/spring/preflight")
    assert status == 202 and job["kind"] == "campaign_preflight" and job["status"] == "running"
    assert job["status_url"] == f"/admin/v1/jobs/{job['job_id']}"
    status, again = call(context, "POST", "/admin/v1/campaigns/spring/preflight")
    assert (status, again["job_id"]) == (202, job["job_id"])  # the same job while it walks

    status, refused = call(context, "POST", "/admin/v1/campaigns/spring/send")
    assert (status, refused["error"], refused["details"]["job_id"]) == (409, "preflight_running", job["job_id"])
    assert context.runner.fired == []

    context.run_steps()
    assert context.jobs.jobs[job["job_id"]].status == "done"
    figures = context.store.campaigns["spring"].last_preflight
    assert figures is not None and figures["audience"] == 5 and figures["recipients"] == 5

    status, sent = call(context, "POST", "/admin/v1/campaigns/spring/send")
    assert status == 202, sent
    assert sent["status"] == SENDING and sent["preflight"] == figures and context.runner.fired == ["spring"]


def test_send_without_figures_starts_the_job_and_refuses_over_budget_on_its_figures(call: Any) -> None:
    context = Context(people=5, budget_s=0.0, quota=FakeQuota(consumption=4000))
    context.store.create(make_campaign(status=DRAFT, channels=("line",), budget=0.5))
    status, refused = call(context, "POST", "/admin/v1/campaigns/spring/send")
    assert (status, refused["error"]) == (409, "preflight_running")
    context.run_steps()
    status, refused = call(context, "POST", "/admin/v1/campaigns/spring/send")
    assert (status, refused["error"], refused["details"]["estimate"]["total"]) == (409, "over_budget", 1.0)
    assert context.store.campaigns["spring"].status == DRAFT and context.runner.fired == []


def test_a_small_audience_answers_at_once_unless_a_job_is_asked_for(call: Any) -> None:
    context = Context(people=3)
    context.store.create(make_campaign(status=DRAFT, channels=("line",)))
    status, figures = call(context, "POST", "/admin/v1/campaigns/spring/preflight")
    assert status == 200 and figures["recipients"] == 3 and "job_id" not in figures
    status, job = call(context, "POST", "/admin/v1/campaigns/spring/preflight", headers={"Prefer": "respond-async"})
    assert status == 202
    context.run_steps()
    assert context.jobs.jobs[job["job_id"]].result == {**figures, "job_id": job["job_id"]}
