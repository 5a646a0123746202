"""OpenAPI helpers: success and error answers per route, and the finishing pass over the generated
document (the answers' schemas, the errors every admin route can answer, 400 instead of powertools'
422, the bearer scheme)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from cdp_api.errors import ErrorBody

SCHEMA_REF = "#/components/schemas/"
ERROR_SCHEMA_REF = f"{SCHEMA_REF}ErrorBody"
_HEADERS = {
    "Location": {"description": "the URL to follow", "schema": {"type": "string"}},
}
_DESCRIPTIONS = {
    303: "See Other: the download is at `Location`",
    400: "Bad request: `error` names the problem, `details` the field and its location",
    401: "No valid Bearer credential (`invalid_admin_token`, `invalid_service_token`, `invalid_user_token`)",
    403: "The caller's role is below the route's (`forbidden`, `details.required_role`)",
    404: "Not found",
    409: "Conflict with the stored state",
    413: "Payload too large",
    415: "Unsupported media type",
    500: "A setting this deployment needs is missing (`configuration_missing`, `details.setting`)",
    502: "An upstream service (LINE) refused or failed",
    503: "A store or service is unavailable right now: retry",
}


Responses = dict[int, OpenAPIResponse]


def errors(*statuses: int) -> Responses:
    """`responses=` for a route: its own error statuses, with the error schema."""
    return {status: _error(status) for status in statuses}


def _error(status: int) -> OpenAPIResponse:
    content = {"application/json": {"model": ErrorBody}}
    return cast(OpenAPIResponse, {"description": _DESCRIPTIONS.get(status, "Error"), "content": content})


def ok(
    status: int = 200, description: str = "OK", model: str | None = None, *, headers: tuple[str, ...] = ()
) -> Responses:
    """`responses=` for a success answer: `model` names its schema in cdp_api.responses, which the
    document adds (the models are not imported at cold start; `finish` checks every name). Without
    a model powertools documents the return annotation, which the document's tests refuse."""
    response: dict[str, Any] = {"description": description}
    if model is not None:
        response["content"] = {"application/json": {"schema": {"$ref": f"{SCHEMA_REF}{model}"}}}
    if headers:
        response["headers"] = {name: _HEADERS[name] for name in headers}
    return {status: cast(OpenAPIResponse, response)}


def finish(
    document: dict[str, Any],
    *,
    public_paths: frozenset[str],
    answers: dict[str, Any],
    roles: Callable[[str, str], str] | None = None,
) -> dict[str, Any]:
    """The success answers' schemas (`answers`, by model name), the error answers every route
    shares, 400 in place of powertools' 422, and the least role of each route (`roles(method,
    path)`: `x-required-role`, a line of the description and the 403 answer)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template=SCHEMA_REF + "{model}")
    schemas.update(answers)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document["components"]["securitySchemes"] = {
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "a service token (`cdp_st_...`), a signed-in user's ID token (JWT), or the "
            "bootstrap admin token (Secrets Manager); docs/access.md",
        }
    }
    error_content = {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            validated = responses.pop("422", None) is not None or bool(operation.get("parameters"))
            shared = [500, 503]
            if validated or "requestBody" in operation:
                shared.append(400)
            if "requestBody" in operation:  # a body that is not JSON (nor sent without a type, or as a form)
                shared.append(415)
            if path not in public_paths:
                shared.append(401)
                operation["security"] = [{"adminToken": []}]
                if roles is not None:
                    role = roles(method.upper(), path)
                    operation["x-required-role"] = role
                    note = f"Role: **{role}** or above."
                    operation["description"] = (
                        f"{operation['description']}\n\n{note}" if operation.get("description") else note
                    )
                    shared.append(403)
            for status in shared:
                responses.setdefault(str(status), {"description": _DESCRIPTIONS[status], "content": error_content})
    unknown = sorted(_refs(document["paths"]) - {SCHEMA_REF + name for name in schemas})
    if unknown:
        raise ValueError(f"the document refers to schemas it does not have: {unknown}")
    return document


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()
