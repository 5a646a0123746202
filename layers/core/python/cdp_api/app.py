"""An admin function: powertools' REST resolver with request validation, the caller's sign-in and
role check, and every error answered in one shape with the request id."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from cdp.access.principal import Principal, acting_as
from cdp.access.roles import RouteRoles
from cdp.errors import BadRequest, CdpError, NotFound, PayloadTooLarge, UnsupportedMediaType
from cdp.json_input import loads as strict_json
from cdp.observability import logger
from cdp.settings import SettingsError

from cdp_api.audit import audited
from cdp_api.auth import authenticate
from cdp_api.context import AdminContext, ConfigurationMissing, serving
from cdp_api.errors import validation_error
from cdp_api.route_roles import ROUTE_ROLES
from cdp_api.routes.groups import RouteModules, routers

# Served without the token: the document describes the API, it holds no data.
PUBLIC_PATHS = frozenset({"/admin/v1/openapi.json", "/admin/v1/docs"})
MAX_JSON_BYTES = 1024 * 1024  # rules and requests are a few KB; CSV imports are read separately
ROLES_BY_ROUTE = RouteRoles(ROUTE_ROLES)  # the least role of each route (infra/cdp_infra/routes.py)


def _load_json(text: str) -> Any:
    """JSON bodies for the validation layer, through the one strict reader (cdp.json_input):
    NaN/Infinity, integers past 64 bits, lone surrogates and deep nesting answer 400 with a code
    and the field's JSON pointer."""
    if len(text) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    return strict_json(text)


def request_id(event: Mapping[str, Any]) -> str | None:
    context = event.get("requestContext") or {}
    value = context.get("requestId") if isinstance(context, Mapping) else None
    return str(value) if value else None


def error_answer(error: CdpError, event: Mapping[str, Any]) -> Response[str]:
    body: dict[str, Any] = {"error": error.code, "message": error.message, "request_id": request_id(event)}
    if error.details is not None:
        body["details"] = error.details
    log = logger.warning if error.status >= 500 else logger.info
    log("admin request refused", extra={"error": error.code, "status": error.status})
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )


class AdminFunction:
    """The resolver of one admin function and its composition root (`build`). Given
    `RouteModules`, one resolver per set of route modules, built when a request first needs it."""

    def __init__(self, routes: Iterable[Router] | RouteModules, build: Callable[[], AdminContext]) -> None:
        self.build = build
        self._modules = routes if isinstance(routes, RouteModules) else None
        self._resolvers: dict[tuple[str, ...], APIGatewayRestResolver] = {}
        self._fixed = None if isinstance(routes, RouteModules) else _resolver(tuple(routes))

    def resolver(self, path: str) -> APIGatewayRestResolver:
        if self._fixed is not None:
            return self._fixed
        assert self._modules is not None
        modules = self._modules.for_path(path)
        if modules not in self._resolvers:
            self._resolvers[modules] = _resolver(routers(modules))
        return self._resolvers[modules]

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with serving(self.build, str(getattr(context, "invoked_function_arn", "") or "")):
            if event.get("path") in PUBLIC_PATHS:
                return self.resolver(str(event.get("path") or "")).resolve(_json_by_default(event), context)
            try:
                principal = sign_in(event)
            except (CdpError, SettingsError) as exc:
                error = ConfigurationMissing(str(exc), setting=exc.setting) if isinstance(exc, SettingsError) else exc
                return _proxy(error_answer(error, event))
            with acting_as(principal):
                return self.serve(event, context, principal)

    def serve(self, event: dict[str, Any], context: Any, principal: Principal) -> dict[str, Any]:
        """A signed-in request, once its principal is set: refused with 403 below the route's role,
        else resolved; either way through masking and the audit log (cdp_api.audit), so refusals
        are recorded too."""
        resolver = self.resolver(str(event.get("path") or ""))
        return audited(
            _json_by_default(event),
            lambda request: resolver.resolve(request, context),
            authorize=lambda request: authorize(request, principal),
        )


def sign_in(event: Mapping[str, Any]) -> Principal:
    """The caller of an admin request, from its Bearer credential (cdp_api.auth)."""
    return authenticate(_header(event, "authorization"))


def authorize(event: Mapping[str, Any], principal: Principal) -> None:
    """`Forbidden` unless the principal's role reaches the least role of the route called: the
    gateway's resource path names the route (the request path when invoked without one)."""
    method = str(event.get("httpMethod") or "GET")
    resource = event.get("resource")
    ROLES_BY_ROUTE.check(
        principal, method, str(event.get("path") or ""), str(resource) if isinstance(resource, str) else None
    )


def _resolver(routes: tuple[Router, ...]) -> APIGatewayRestResolver:
    """Powertools' resolver over `routes`, with every error answered in the one shape."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_load_json)
    for router in routes:
        app.include_router(router)

    @app.exception_handler(CdpError)  # type: ignore[untyped-decorator]
    def _domain_error(error: CdpError) -> Response[str]:
        return error_answer(error, app.current_event.raw_event)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        return error_answer(validation_error(list(error.errors())), app.current_event.raw_event)

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def _unsupported_media(_error: RequestUnsupportedContentType) -> Response[str]:
        problem = UnsupportedMediaType("send the body as application/json", code="unsupported_media_type")
        return error_answer(problem, app.current_event.raw_event)

    @app.exception_handler(UnicodeDecodeError)  # type: ignore[untyped-decorator]
    def _not_utf8(_error: UnicodeDecodeError) -> Response[str]:
        problem = BadRequest("the body must be UTF-8 JSON", code="invalid_json")
        return error_answer(problem, app.current_event.raw_event)

    @app.exception_handler(SettingsError)  # type: ignore[untyped-decorator]
    def _misconfigured(error: SettingsError) -> Response[str]:
        missing = ConfigurationMissing(str(error), setting=error.setting)
        return error_answer(missing, app.current_event.raw_event)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected(_error: Exception) -> Response[str]:
        # A bug, not bad input: logged with its traceback and the request id, answered in the
        # same shape (not the gateway's bare 502).
        logger.exception("admin request failed")
        problem = CdpError("the request failed; retry, or report the request id", code="internal_error")
        problem.status = 500
        return error_answer(problem, app.current_event.raw_event)

    @app.not_found
    def _no_route(_error: Exception) -> Response[str]:
        event = app.current_event
        problem = NotFound(f"no route {event.http_method} {event.path}", code="route_not_found")
        return error_answer(problem, event.raw_event)

    return app


# Bodies sent as these are read as JSON: `curl -d` sends form-encoded by default, and no admin
# route takes form data. CSV imports choose by their Content-Type, so they are left as sent.
_READ_AS_JSON = frozenset({"", "application/x-www-form-urlencoded", "text/plain"})
_OWN_CONTENT_TYPES = ("/admin/v1/imports/",)


def _json_by_default(event: dict[str, Any]) -> dict[str, Any]:
    """The event with a body's Content-Type set to JSON when the client sent none or a form's."""
    path = str(event.get("path") or "")
    sent = (_header(event, "content-type") or "").split(";", 1)[0].strip().lower()
    if not event.get("body") or sent not in _READ_AS_JSON or path.startswith(_OWN_CONTENT_TYPES):
        return event
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    headers["Content-Type"] = content_types.APPLICATION_JSON
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    if event.get("multiValueHeaders") is not None:
        multi["Content-Type"] = [content_types.APPLICATION_JSON]
        return {**event, "headers": headers, "multiValueHeaders": multi}
    return {**event, "headers": headers}


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value) if value is not None else None
    return None


def _proxy(response: Response[str]) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": response.body,
        "isBase64Encoded": False,
    }
