"""An HTTP server that does what API Gateway (REST, Lambda proxy) does for our routes.

Requests become API Gateway proxy events (body base64-encoded, as with binary media type */*),
the same handler functions answer, and their proxy responses become HTTP responses.

What API Gateway answers by itself comes from the synthesized template, so local predicts the
cloud: its gateway responses (an unknown route, a body over 10 MB, a function that fails without
an answer) with their status, headers and body template, and the OPTIONS preflights (MOCK
integrations) with their CORS headers. Every answer carries `x-amzn-RequestId`, the request id
the functions log as their correlation id.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.cdp_infra.routes import ROUTES, Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
REQUEST_ID_HEADER = "x-amzn-RequestId"
# API Gateway's own message and status per response type, used when the template sets none.
DEFAULT_ANSWERS = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "DEFAULT_5XX": (502, "Internal server error"),  # a function that failed without an answer
}
_STATIC = re.compile(r"^'(.*)'$", re.DOTALL)
_CORS_ORIGIN = re.compile(r'\$origin == "([^"]+)"')  # origins of CDK's multi-origin preflight template

Invoke = Callable[[str, dict[str, Any]], Any]
LocalRoute = Callable[[str, dict[str, str], bytes], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class LocalPage:
    """A local route's answer that is not JSON (a page, a redirect): sent as is."""

    body: bytes = b""
    headers: dict[str, list[str]] = field(default_factory=dict)


def _compile(route: Route) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
    return re.compile(f"^{pattern}$")


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    """An AWS::ApiGateway::GatewayResponse: what API Gateway answers for one kind of its own errors."""

    status: int | None
    headers: dict[str, str]  # header -> "'static'" or "method.request.header.<name>"
    template: str | None  # application/json body template


@dataclass(frozen=True, slots=True)
class Preflight:
    """A MOCK OPTIONS method (CDK's addCorsPreflight): its status and response header values."""

    status: int
    headers: dict[str, str]
    extra_origins: tuple[str, ...] = ()  # echoed in Access-Control-Allow-Origin when they match


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    responses: dict[str, GatewayResponse] = field(default_factory=dict)  # by response type
    preflights: dict[str, Preflight] = field(default_factory=dict)  # by resource path

    @classmethod
    def from_template(cls, template: dict[str, Any]) -> GatewayConfig:
        resources: dict[str, Any] = template.get("Resources", {})
        responses = {}
        for resource in resources.values():
            if resource.get("Type") != "AWS::ApiGateway::GatewayResponse":
                continue
            props = resource["Properties"]
            headers = {
                key.removeprefix("gatewayresponse.header."): str(value)
                for key, value in (props.get("ResponseParameters") or {}).items()
                if key.startswith("gatewayresponse.header.")
            }
            status = int(props["StatusCode"]) if props.get("StatusCode") else None
            template_body = (props.get("ResponseTemplates") or {}).get("application/json")
            responses[props["ResponseType"]] = GatewayResponse(status, headers, template_body)
        preflights = {}
        for resource in resources.values():
            props = resource.get("Properties", {})
            integration = props.get("Integration") or {}
            if resource.get("Type") != "AWS::ApiGateway::Method" or props.get("HttpMethod") != "OPTIONS":
                continue
            if integration.get("Type") != "MOCK":
                continue
            answer = integration["IntegrationResponses"][0]
            headers = {
                key.removeprefix("method.response.header."): str(value)
                for key, value in (answer.get("ResponseParameters") or {}).items()
            }
            vtl = (answer.get("ResponseTemplates") or {}).get("application/json", "")
            path = _resource_path(resources, props["ResourceId"])
            preflights[path] = Preflight(int(answer["StatusCode"]), headers, tuple(_CORS_ORIGIN.findall(vtl)))
        return cls(responses, preflights)


def _resource_path(resources: dict[str, Any], ref: Any) -> str:
    """The path of an AWS::ApiGateway::Resource (walking ParentId up to the API's root)."""
    parts: list[str] = []
    while isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources:
        props = resources[ref["Ref"]]["Properties"]
        parts.append(props["PathPart"])
        ref = props["ParentId"]
    return "/" + "/".join(reversed(parts))


def _header_value(value: str, request_headers: dict[str, str]) -> str | None:
    static = _STATIC.match(value)
    if static:
        return static.group(1)
    if value.startswith("method.request.header."):
        return request_headers.get(value.removeprefix("method.request.header.").lower())
    return None


class ApiGatewayEmulator:
    def __init__(
        self,
        invoke: Invoke,
        local_routes: dict[tuple[str, str], LocalRoute] | None = None,
        config: GatewayConfig | None = None,
        clock: Callable[[], float] = time.time,
        static_root: Path | None = None,
    ) -> None:
        """`clock`: epoch seconds of the stack's clock, which stamps `requestTimeEpoch`.
        `static_root`: a built single-page app (the console) served at `/` for GETs no route answers,
        as CloudFront serves it in the cloud; the API stays on the same origin."""
        self._invoke = invoke
        self._static_root = static_root.resolve() if static_root is not None else None
        self._clock = clock
        # Static paths before templated ones, as API Gateway prefers the most specific resource.
        self._routes = sorted(((route, _compile(route)) for route in ROUTES), key=lambda r: "{" in r[0].path)
        self._local_routes = local_routes or {}
        self._config = config or GatewayConfig()

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found and route.method == method:  # API Gateway hands path parameters over decoded
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, client_ip: str
    ) -> tuple[int, dict[str, list[str]], bytes]:
        url = urlsplit(target)
        local = self._local_routes.get((method, url.path))
        if local is not None:
            status, payload = local(url.path, dict(parse_qsl(url.query)), body)
            if isinstance(payload, LocalPage):  # a page or a redirect (the local sign-in)
                return status, payload.headers, payload.body
            return status, {"Content-Type": ["application/json"]}, json.dumps(payload, ensure_ascii=False).encode()
        if method == "GET" and self._static_root is not None and not any(p.match(url.path) for _, p in self._routes):
            static = self._static(url.path)
            if static is not None:
                return static
        request_id = str(uuid.uuid4())
        status, answer_headers, payload = self._answer(method, url, headers, body, client_ip, request_id)
        answer_headers[REQUEST_ID_HEADER] = [request_id]
        return status, answer_headers, payload

    def _answer(
        self,
        method: str,
        url: Any,
        headers: list[tuple[str, str]],
        body: bytes,
        client_ip: str,
        request_id: str,
    ) -> tuple[int, dict[str, list[str]], bytes]:
        request_headers = {key.lower(): value for key, value in headers}
        if method == "OPTIONS":
            preflight = self._preflight(url.path)
            if preflight is not None:
                return self._preflight_answer(preflight, request_headers)
        matched = self.match(method, url.path)
        if matched is None:
            return self.gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id, request_headers)
        if len(body) > MAX_PAYLOAD_BYTES:
            return self.gateway_error("REQUEST_TOO_LARGE", request_id, request_headers)
        route, path_parameters = matched
        event = self._event(route, method, url.path, url.query, headers, body, path_parameters, client_ip, request_id)
        try:
            response = self._invoke(route.function, event)
        except Exception:  # an unhandled handler error is a 502 at API Gateway
            return self.gateway_error("DEFAULT_5XX", request_id, request_headers)
        answer = self._response(response)
        if answer is None:  # a malformed proxy answer is a 502 at API Gateway too
            return self.gateway_error("DEFAULT_5XX", request_id, request_headers)
        return answer

    def gateway_error(
        self, response_type: str, request_id: str, request_headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, list[str]], bytes]:
        """API Gateway's own answer: the template's gateway response, else its DEFAULT_4XX/5XX, else AWS's."""
        default_status, message = DEFAULT_ANSWERS[response_type]
        family = "DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX"
        configured = self._config.responses.get(response_type) or self._config.responses.get(family)
        if configured is None:
            return default_status, {"Content-Type": ["application/json"]}, json.dumps({"message": message}).encode()
        status = configured.status or default_status
        headers: dict[str, list[str]] = {"Content-Type": ["application/json"]}
        for name, value in configured.headers.items():
            resolved = _header_value(value, request_headers or {})
            if resolved is not None:
                headers[name] = [resolved]
        template = configured.template or json.dumps({"message": "$context.error.messageString"})
        rendered = (
            template.replace("$context.requestId", request_id)
            .replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message)
        )
        return status, headers, rendered.encode("utf-8")

    def _static(self, path: str) -> tuple[int, dict[str, list[str]], bytes] | None:
        """A file of the static root (`/` is index.html); None when there is none, so the path
        falls through to API Gateway's own answer for an unknown route."""
        assert self._static_root is not None
        relative = unquote(path).lstrip("/") or "index.html"
        target = (self._static_root / relative).resolve()
        if not target.is_relative_to(self._static_root) or not target.is_file():
            return None
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        # Hashed asset names never change; index.html and config.json must be read fresh.
        cache = "public, max-age=31536000, immutable" if relative.startswith("assets/") else "no-cache"
        headers = {"Content-Type": [content_type], "Cache-Control": [cache], "X-Content-Type-Options": ["nosniff"]}
        return 200, headers, target.read_bytes()

    def _preflight(self, path: str) -> Preflight | None:
        for route, pattern in self._routes:
            if pattern.match(path) and route.path in self._config.preflights:
                return self._config.preflights[route.path]
        return None

    @staticmethod
    def _preflight_answer(
        preflight: Preflight, request_headers: dict[str, str]
    ) -> tuple[int, dict[str, list[str]], bytes]:
        headers: dict[str, list[str]] = {}
        for name, value in preflight.headers.items():
            resolved = _header_value(value, request_headers)
            if resolved is not None:
                headers[name] = [resolved]
        origin = request_headers.get("origin")
        if origin is not None and origin in preflight.extra_origins:  # what CDK's VTL override does
            headers["Access-Control-Allow-Origin"] = [origin]
        if preflight.extra_origins:
            headers["Vary"] = ["Origin"]
        return preflight.status, headers, b""

    def _event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        path_parameters: dict[str, str],
        client_ip: str,
        request_id: str,
    ) -> dict[str, Any]:
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for key, value in headers:
            single[key] = value
            multi.setdefault(key, []).append(value)
        query_pairs = parse_qsl(query, keep_blank_values=True)
        query_single = dict(query_pairs)
        query_multi: dict[str, list[str]] = {}
        for key, value in query_pairs:
            query_multi.setdefault(key, []).append(value)
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": query_single or None,
            "multiValueQueryStringParameters": query_multi or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.path,
                "httpMethod": method,
                "path": f"/local{path}",
                "stage": "local",
                "requestId": request_id,
                "requestTimeEpoch": int(self._clock() * 1000),
                "accountId": "000000000000",
                "apiId": "local",
                "identity": {"sourceIp": client_ip, "userAgent": single.get("User-Agent")},
            },
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
        }

    @staticmethod
    def _response(response: Any) -> tuple[int, dict[str, list[str]], bytes] | None:
        if not isinstance(response, dict) or "statusCode" not in response:
            return None
        headers: dict[str, list[str]] = {k: [str(v)] for k, v in (response.get("headers") or {}).items()}
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers[key] = [str(v) for v in values]
        body = response.get("body") or ""
        data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
        return int(response["statusCode"]), headers, data


def serve(emulator: ApiGatewayEmulator, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = emulator.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            self.send_response(status)
            for key, values in headers.items():
                if key.lower() in ("content-length", "connection", "transfer-encoding"):
                    continue
                for value in values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the handlers log structured JSON themselves

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
