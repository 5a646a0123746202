"""The admin API's OpenAPI document against the route table, and the shape of its error answers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cdp.errors import BadRequest
from cdp_api.errors import validation_error
from cdp_api.models import LinkCreate, SegmentCreate, SegmentUpdate
from cdp_api.openapi import admin_openapi
from pydantic import ValidationError

from infra.cdp_infra.routes import ADMIN_API, ADMIN_QUERY, ROUTES


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return admin_openapi()


def test_every_admin_route_is_in_the_document_and_nothing_else(document: dict[str, Any]) -> None:
    routed = {(r.method, _shape(r.path)) for r in ROUTES if r.function in (ADMIN_API, ADMIN_QUERY)}
    documented = {(method.upper(), _shape(path)) for path, ops in document["paths"].items() for method in ops}
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented operations no function serves"
    assert all(r.path.startswith("/admin/") for r in ROUTES if r.function in (ADMIN_API, ADMIN_QUERY))


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), f"not a named schema: {schema}"
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return resolved


def test_every_success_answer_has_a_schema_with_its_fields(document: dict[str, Any]) -> None:
    """A client can be generated: every 2xx/3xx JSON answer names a model with its properties and
    which of them are always there (not a bare or open object)."""
    typed = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = {s: r for s, r in operation["responses"].items() if s.startswith(("2", "3"))}
            assert answers, f"{method} {path}: no success answer"
            for status, response in answers.items():
                where = f"{method.upper()} {path} {status}"
                content = response.get("content")
                assert content, f"{where}: no content"
                if "application/json" not in content:  # the Swagger page, QR images
                    assert all(media.get("schema", {}).get("type") == "string" for media in content.values()), where
                    continue
                schema = _resolved(document, content["application/json"]["schema"])
                assert schema.get("type") == "object" and schema.get("properties"), f"{where}: a bare object"
                assert schema.get("required"), f"{where}: no field is always there"
                typed += 1
    assert typed >= 50


def test_answer_schemas_are_closed_except_for_their_open_maps(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    from cdp_api.responses import MODELS

    for model in MODELS:
        schema = schemas[model.__name__]
        if model.__name__ not in ("OpenAPIDocument", "JobError"):
            assert schema.get("additionalProperties") is False, model.__name__
        assert all("default" not in prop for prop in schema["properties"].values()), model.__name__


def test_a_route_naming_an_unknown_answer_model_fails_the_document() -> None:
    from cdp_api.docs import finish, ok

    document = {"paths": {"/x": {"get": {"responses": ok(200, "OK", "NoSuchAnswer")}}}}
    with pytest.raises(ValueError, match="NoSuchAnswer"):
        finish(json.loads(json.dumps(document)), public_paths=frozenset(), answers={})


def test_every_operation_documents_its_errors_with_the_error_schema(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "422" not in responses, f"{method} {path}: validation answers 400"
            assert {"500", "503"} <= set(responses), f"{method} {path}"
            if path not in ("/admin/v1/openapi.json", "/admin/v1/docs"):
                assert "401" in responses and operation["security"] == [{"adminToken": []}], f"{method} {path}"
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in responses, f"{method} {path}"
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {path} {status}"
    error = document["components"]["schemas"]["ErrorBody"]
    assert {"error", "message"} <= set(error["required"]) and "request_id" in error["properties"]
    json.dumps(document)  # serializable as served


def _refused(model: type[Any], body: Any) -> BadRequest:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return validation_error([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])


@pytest.mark.parametrize(
    ("model", "body", "code", "field"),
    [
        (SegmentCreate, {}, "invalid_segment_rule", "rule"),
        (SegmentCreate, {"rule": {}, "colour": 1}, "unknown_segment_field", "colour"),
        (SegmentCreate, {"rule": [1]}, "invalid_segment_rule", "rule"),
        (SegmentCreate, {"rule": {}, "refresh_minutes": "60"}, "invalid_refresh", "refresh_minutes"),
        (SegmentUpdate, {"name": "x"}, "invalid_version", "version"),
        (SegmentUpdate, {"version": True}, "invalid_version", "version"),
        (SegmentUpdate, {"version": 0}, "invalid_version", "version"),
        (LinkCreate, {"src": "line"}, "invalid_link_url", "url"),
        (LinkCreate, {"url": 5, "src": "line"}, "invalid_link_url", "url"),
    ],
)
def test_body_problems_answer_a_stable_code_naming_the_field(model: Any, body: Any, code: str, field: str) -> None:
    error = _refused(model, body)
    assert (error.status, error.code) == (400, code)
    assert error.details["in"] == "body" and error.details["field"] == field


def test_a_body_that_is_not_an_object_is_invalid_json() -> None:
    error = validation_error([{"type": "model_attributes_type", "loc": ("body",), "msg": "not an object"}])
    assert (error.code, error.details["in"]) == ("invalid_json", "body")
    broken = validation_error([{"type": "json_invalid", "loc": ("body", 3), "msg": "JSON decode error"}])
    assert broken.code == "invalid_json"


def test_query_problems_name_the_parameter() -> None:
    error = validation_error([{"type": "less_than_equal", "loc": ("query", "limit"), "msg": "Input should be <= 500"}])
    assert (error.code, error.details["in"], error.details["field"]) == ("invalid_limit", "query", "limit")
