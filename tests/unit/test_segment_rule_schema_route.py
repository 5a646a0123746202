"""GET /admin/v1/segments/schema publishes the rule schema the console's rule builder follows."""

from __future__ import annotations

import json
from typing import Any

import cdp_api.app as app_module
import pytest
from cdp.access.principal import BOOTSTRAP
from cdp.errors import BadRequest
from cdp.segments.rules import parse_rule, rule_schema
from cdp.segments.store import validate_segment_id
from cdp_api.app import AdminFunction
from cdp_api.routes import segments as routes


def _get(path: str) -> tuple[int, Any]:
    function = AdminFunction((routes.router,), lambda: None)  # type: ignore[arg-type, return-value]
    event = {
        "httpMethod": "GET",
        "path": path,
        "resource": path,
        "headers": {},
        "queryStringParameters": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r1", "resourcePath": path, "httpMethod": "GET", "stage": "v1"},
    }
    answer = function(event, None)
    return answer["statusCode"], json.loads(answer["body"])


def test_the_rule_schema_is_published(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "authenticate", lambda _authorization: BOOTSTRAP)
    status, schema = _get("/admin/v1/segments/schema")
    assert status == 200
    assert schema == rule_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    # Every node the parser accepts is in the schema the builder reads.
    nodes = json.dumps(schema)
    for node in ("attribute", "tag", "event", "reachable", "consent", "identifier", "in_segment", "not"):
        assert f'"{node}"' in nodes
    parse_rule({"and": [{"tag": {"name": "vip"}}, {"reachable": {"channel": "line"}}]})


def test_schema_is_not_a_segment_id() -> None:
    with pytest.raises(BadRequest) as refused:
        validate_segment_id("schema")
    assert refused.value.code == "invalid_segment_id"
    assert validate_segment_id("schema-2026") == "schema-2026"


def test_the_answer_matches_its_documented_model() -> None:
    from cdp_api.responses import SegmentRuleSchema

    SegmentRuleSchema.model_validate(rule_schema())  # exactly these fields: the API tour checks it
