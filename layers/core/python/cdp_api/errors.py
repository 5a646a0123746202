"""One error shape for every admin answer: `{"error", "message", "request_id", "details"?}`.

Request validation (pydantic, through powertools) answers 400, not 422, with a stable code per
field: a code a model names (`coded`), else `invalid_<field>` / `missing_<field>`, and
`invalid_json` when the body is not a JSON object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from cdp.errors import BadRequest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError


class ErrorBody(BaseModel):
    """Every error answer."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    error: str = Field(description="a stable, machine-readable code", examples=["invalid_version"])
    message: str = Field(description="what is wrong, for a person")
    request_id: str | None = Field(default=None, description="API Gateway's request id, also in the log line")
    details: Any = Field(default=None, description="where: the field, its location, a JSON pointer")


# Codes the models name themselves (custom pydantic error types).
_CODES: set[str] = set()
_BODY_SHAPE = {"model_attributes_type", "model_type", "dict_type", "json_invalid", "unsupported_content_type"}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def coded(code: str, message: str) -> WrapValidator:
    """An `Annotated` marker: any failure of the field answers `code` with `message`."""
    _CODES.add(code)

    def validate(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            raise PydanticCustomError(code, message) from exc

    return WrapValidator(validate)


def custom_code(code: str) -> str:
    """Register a code a model validator raises (PydanticCustomError type)."""
    _CODES.add(code)
    return code


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def validation_error(errors: Sequence[dict[str, Any]]) -> BadRequest:
    """The first problem as the answer's code; every problem in `details.errors`."""
    problems = [_problem(error) for error in errors] or [
        {"in": "body", "field": None, "code": "invalid_request", "message": "the request is not valid"}
    ]
    first = problems[0]
    details = {"in": first["in"], "field": first["field"], "errors": problems}
    return BadRequest(first["message"], code=first["code"], details=details)


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    loc = [part for part in error.get("loc", ()) if part is not None]
    where = str(loc[0]) if loc else "body"
    names = [str(part) for part in loc[1:] if isinstance(part, str)]
    field = ".".join(names) or None
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "is not valid"))
    if kind in _CODES:
        code = kind
        field = field or (error.get("ctx") or {}).get("field")
    elif where == "body" and (kind in _BODY_SHAPE or not names):
        code, message = "invalid_json", "the body must be a JSON object"
    elif kind == "missing":
        code, message = f"missing_{_snake(names[-1])}", f"`{field}` is required"
    elif kind == "extra_forbidden":
        code, message = "unknown_field", f"unknown field `{field}`"
    else:
        code = f"invalid_{_snake(names[-1]) if names else where}"
        message = f"`{field}`: {message}" if field else message
    return {"in": where, "field": field, "code": code, "message": message}
