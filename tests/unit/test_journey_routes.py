"""The journey admin routes over HTTP events on in-memory fakes: the schema, drafts, the lifecycle,
versions, and the 4xx answers (codes, pointers)."""

from __future__ import annotations

import json
from typing import Any

import cdp_api.app as app_module
import pytest
from cdp.access.principal import BOOTSTRAP
from cdp.journeys.service import JourneyService, Runtime
from cdp_api.app import AdminFunction
from cdp_api.routes import journeys as routes

from tests.fakes_journeys import InMemoryEntrySchedules
from tests.unit.test_journey_service import World, scheduled
from tests.unit.test_journey_validation import cart, welcome


class Context:
    """What the journey routes read from cdp_api.context.AdminContext, on fakes."""

    def __init__(self) -> None:
        self.world = World()
        self.runtime_asked = 0

    def journey_service(self) -> JourneyService:
        return JourneyService(self.world.store, self.world.templates, self.world.clock, runtime=self.runtime)

    def runtime(self) -> Runtime:
        self.runtime_asked += 1
        return self.world.machines, self.world.schedules, self.world.ender


@pytest.fixture
def call(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)

    def request(context: Context, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        function = AdminFunction((routes.router,), lambda: context)  # type: ignore[arg-type, return-value]
        event = {
            "httpMethod": method,
            "path": path,
            "resource": path,
            "headers": {"Content-Type": "application/json"},
            "queryStringParameters": None,
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
            "requestContext": {"requestId": "r1", "resourcePath": path, "httpMethod": method, "stage": "v1"},
        }
        answer = function(event, None)
        return answer["statusCode"], json.loads(answer["body"])

    return request


def test_the_schema_is_published_and_names_every_node_type(call: Any) -> None:
    status, schema = call(Context(), "GET", "/admin/v1/journeys/schema")
    assert status == 200
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"WaitForEvent", "RandomSplit", "Send", "DelayUntilTime"} <= set(schema["$defs"])


def test_a_draft_is_created_read_listed_and_edited(call: Any) -> None:
    context = Context()
    status, created = call(context, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    assert status == 201, created
    assert (created["journey_id"], created["status"], created["revision"], created["name"]) == (
        "cart",
        "draft",
        1,
        "Cart reminder",
    )
    assert created["draft"]["start"] == "wait_order" and created["live_version"] is None
    status, listed = call(context, "GET", "/admin/v1/journeys")
    assert status == 200 and [j["journey_id"] for j in listed["journeys"]] == ["cart"]
    assert "draft" not in listed["journeys"][0]
    edited_definition = {**cart(), "name": "Cart v2"}
    status, edited = call(context, "PUT", "/admin/v1/journeys/cart", {"definition": edited_definition, "revision": 1})
    assert (status, edited["revision"], edited["name"]) == (200, 2, "Cart v2")
    status, stale = call(context, "PUT", "/admin/v1/journeys/cart", {"definition": cart(), "revision": 1})
    assert (status, stale["error"], stale["details"]) == (409, "journey_changed", {"revision": 2})
    status, read = call(context, "GET", "/admin/v1/journeys/cart")
    assert (status, read["name"]) == (200, "Cart v2")
    assert context.runtime_asked == 0  # drafts never touch the runtime


def test_an_invalid_definition_answers_400_with_the_pointer(call: Any) -> None:
    context = Context()
    document = welcome()
    document["nodes"]["promo"]["next"] = "split"
    status, answer = call(context, "POST", "/admin/v1/journeys", {"definition": document})
    assert (status, answer["error"], answer["details"]["path"]) == (400, "invalid_journey", "/nodes/promo/next")
    status, answer = call(context, "POST", "/admin/v1/journeys", {"definition": {**cart(), "colour": "red"}})
    assert (status, answer["error"], answer["details"]["path"]) == (400, "invalid_journey", "/colour")
    status, answer = call(context, "POST", "/admin/v1/journeys", {"definition": "cart"})
    assert (status, answer["error"]) == (400, "invalid_journey")
    assert context.world.store.journeys == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_journey"),
        ({"definition": {}, "extra": 1}, "unknown_journey_field"),
        ({"id": "Bad Id", "definition": {}}, "invalid_journey_id"),
        ({"id": "schema", "definition": {}}, "invalid_journey_id"),
        ({"id": 5, "definition": {}}, "invalid_journey_id"),
    ],
)
def test_a_bad_create_body_answers_its_code(call: Any, body: dict[str, Any], code: str) -> None:
    status, answer = call(Context(), "POST", "/admin/v1/journeys", body)
    assert (status, answer["error"]) == (400, code)


def test_an_edit_needs_the_revision(call: Any) -> None:
    context = Context()
    call(context, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    status, answer = call(context, "PUT", "/admin/v1/journeys/cart", {"definition": cart()})
    assert (status, answer["error"]) == (400, "invalid_revision")
    status, answer = call(context, "PUT", "/admin/v1/journeys/cart", {"definition": cart(), "revision": "1"})
    assert (status, answer["error"]) == (400, "invalid_revision")
    status, answer = call(context, "PUT", "/admin/v1/journeys/nobody", {"definition": cart(), "revision": 1})
    assert (status, answer["error"]) == (404, "journey_not_found")


def test_the_lifecycle_over_http(call: Any) -> None:
    context = Context()
    call(context, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    status, published = call(context, "POST", "/admin/v1/journeys/cart/publish")
    assert status == 200, published
    assert (published["status"], published["live_version"], published["versions"]) == ("published", 1, [1])
    assert published["published"]["templates"] == {"cart-reminder": 4}
    assert published["published"]["state_machine_arn"].endswith("cart-v1")
    status, version = call(context, "GET", "/admin/v1/journeys/cart/versions/1")
    assert status == 200 and version == published["published"]
    for missing in ("2", "0", "x", "1e3"):
        status, answer = call(context, "GET", f"/admin/v1/journeys/cart/versions/{missing}")
        assert (status, answer["error"]) == (404, "journey_version_not_found")
    status, paused = call(context, "POST", "/admin/v1/journeys/cart/pause")
    assert (status, paused["status"]) == (200, "paused") and "paused_at" in paused
    status, resumed = call(context, "POST", "/admin/v1/journeys/cart/resume")
    assert (status, resumed["status"]) == (200, "published") and "paused_at" not in resumed
    status, archived = call(context, "POST", "/admin/v1/journeys/cart/archive")
    assert (status, archived["status"], archived["runs_ended"]) == (200, "archived", 0)
    status, answer = call(context, "POST", "/admin/v1/journeys/cart/resume")
    assert (status, answer["error"], answer["details"]["status"]) == (409, "invalid_journey_state", "archived")
    status, answer = call(context, "DELETE", "/admin/v1/journeys/cart")
    assert (status, answer["error"]) == (409, "invalid_journey_state")


def test_a_journey_that_is_not_there_never_builds_the_runtime(call: Any) -> None:
    context = Context()
    for action in ("publish", "pause", "resume", "archive"):
        status, answer = call(context, "POST", f"/admin/v1/journeys/nobody/{action}")
        assert (status, answer["error"]) == (404, "journey_not_found")
    call(context, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    status, answer = call(context, "POST", "/admin/v1/journeys/cart/pause")
    assert (status, answer["error"]) == (409, "invalid_journey_state")
    assert context.runtime_asked == 0


def test_a_draft_never_published_is_deleted(call: Any) -> None:
    context = Context()
    call(context, "POST", "/admin/v1/journeys", {"id": "cart", "definition": cart()})
    status, answer = call(context, "DELETE", "/admin/v1/journeys/cart")
    assert (status, answer) == (200, {"journey_id": "cart", "deleted": True})
    status, answer = call(context, "GET", "/admin/v1/journeys/cart")
    assert (status, answer["error"]) == (404, "journey_not_found")


def test_publishing_a_draft_whose_template_went_away_answers_the_pointer(call: Any) -> None:
    context = Context()
    call(context, "POST", "/admin/v1/journeys", {"id": "sop", "definition": scheduled()})
    del context.world.templates.templates["promo"]
    status, answer = call(context, "POST", "/admin/v1/journeys/sop/publish")
    assert (status, answer["error"], answer["details"]["path"]) == (400, "invalid_journey", "/nodes/promo/template_id")
    assert isinstance(context.world.schedules, InMemoryEntrySchedules) and context.world.schedules.schedules == {}
