"""The admin functions' edge: configuration errors and refused tokens answer the error shape with
the request id, before any route runs."""

from __future__ import annotations

import json
from typing import Any

import cdp_api.app as app_module
import pytest
from aws_lambda_powertools.event_handler.api_gateway import Router
from cdp.access.principal import BOOTSTRAP
from cdp.settings import ENV_CORE_TABLE, SettingsError
from cdp_api.app import AdminFunction
from cdp_api.context import AdminContext


def _event(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "httpMethod": "GET",
        "path": path,
        "resource": path,
        "headers": headers or {},
        "queryStringParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "req-123", "resourcePath": path, "httpMethod": "GET", "stage": "v1"},
    }


def _unconfigured() -> AdminContext:
    raise SettingsError(f"missing required environment variable {ENV_CORE_TABLE}", setting=ENV_CORE_TABLE)


def test_a_missing_setting_answers_500_configuration_missing_naming_it() -> None:
    function = AdminFunction((), _unconfigured)
    answer = function(_event("/admin/v1/segments", {"Authorization": "Bearer x"}), None)
    body = json.loads(answer["body"])
    assert answer["statusCode"] == 500
    assert body["error"] == "configuration_missing" and body["details"] == {"setting": ENV_CORE_TABLE}
    assert body["request_id"] == "req-123"


def test_the_document_is_served_without_the_token_or_the_configuration() -> None:
    from cdp_api.routes import docs

    function = AdminFunction((docs.router,), _unconfigured)
    answer = function(_event("/admin/v1/openapi.json"), None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["info"]["title"] == "CDP admin API"


def test_an_unexpected_failure_answers_500_internal_error_with_the_request_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = Router()  # type: ignore[no-untyped-call]

    @router.get("/admin/v1/broken")
    def broken() -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)
    answer = AdminFunction((router,), _unconfigured)(_event("/admin/v1/broken"), None)
    body = json.loads(answer["body"])
    assert (answer["statusCode"], body["error"], body["request_id"]) == (500, "internal_error", "req-123")


@pytest.mark.parametrize("function", ["crud", "query"])
def test_each_area_lists_exactly_the_route_modules_that_serve_it(function: str) -> None:
    from cdp_api.routes import groups

    table = groups.CRUD_ROUTES if function == "crud" else groups.QUERY_ROUTES
    declared: dict[str, list[str]] = {}
    for name, router in zip(table.modules, groups.routers(table.modules), strict=True):
        for rule, *_ in router._routes:
            area = rule[len(groups.ADMIN_PREFIX) :].split("/", 1)[0]
            if name not in declared.setdefault(area, []):
                declared[area].append(name)
    assert {area: tuple(names) for area, names in declared.items()} == dict(table.areas)


def test_a_request_loads_only_the_route_modules_of_its_area() -> None:
    import subprocess
    import sys

    # A fresh interpreter: in this one, other tests have imported every route module already.
    probe = (
        "import sys, json\n"
        "from cdp_api.app import AdminFunction\n"
        "from cdp_api.routes.groups import CRUD_ROUTES\n"
        "f = AdminFunction(CRUD_ROUTES, lambda: None)\n"
        "loaded = lambda: sorted(m.split('.')[-1] for m in sys.modules if m.startswith('cdp_api.routes.') and m != 'cdp_api.routes.groups')\n"
        "before = loaded()\n"
        "f.resolver('/admin/v1/templates/t1')\n"
        "print(json.dumps([before, loaded()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert before == [] and after == ["templates"]
