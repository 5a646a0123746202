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


def _untyped_answers(document: dict[str, Any]) -> tuple[list[str], int]:
    """The success answers (2xx/3xx) with no named schema of their fields, and how many have one."""
    untyped, typed = [], 0
    schemas = document.get("components", {}).get("schemas", {})
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = {s: r for s, r in operation["responses"].items() if s.startswith(("2", "3"))}
            if not answers:
                untyped.append(f"{method.upper()} {path}: no success answer")
            for status, response in answers.items():
                where = f"{method.upper()} {path} {status}"
                content = response.get("content") or {}
                if content and "application/json" not in content:  # the Swagger page, QR images
                    if not all(media.get("schema", {}).get("type") == "string" for media in content.values()):
                        untyped.append(f"{where}: not JSON, not a string")
                    continue
                ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
                schema = schemas.get(ref.removeprefix("#/components/schemas/")) if ref else None
                # A named object with its properties, some always there: not a bare or open object.
                if not schema or schema.get("type") != "object" or not schema.get("properties"):
                    untyped.append(f"{where}: {content or 'no content'}")
                elif not schema.get("required"):
                    untyped.append(f"{where}: no field is always there")
                else:
                    typed += 1
    return untyped, typed


def test_every_success_answer_has_a_schema_with_its_fields(document: dict[str, Any]) -> None:
    """A client can be generated: every 2xx/3xx JSON answer names a model of its fields."""
    untyped, typed = _untyped_answers(document)
    assert untyped == [], "success answers without a schema of their fields (name a cdp_api.responses model)"
    assert typed >= 50


def test_an_answer_documented_by_its_return_annotation_only_is_untyped() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from cdp_api.docs import ok

    resolver = APIGatewayRestResolver(enable_validation=True)

    @resolver.get("/admin/v1/bare", responses=ok())
    def bare() -> dict[str, Any]:
        return {}

    @resolver.get("/admin/v1/plain")
    def plain() -> dict[str, Any]:
        return {}

    document = resolver.get_openapi_schema(title="t", version="1").model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    untyped, typed = _untyped_answers(document)
    assert (len(untyped), typed) == (2, 0)


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
