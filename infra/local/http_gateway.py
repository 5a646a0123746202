"""An HTTP server that does what API Gateway (REST, Lambda proxy) does for our routes.

Requests become API Gateway proxy events (body base64-encoded, as with binary media type */*),
the same handler functions answer, and their proxy responses become HTTP responses. Unknown
routes answer like API Gateway does (403 "Missing Authentication Token").
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.cdp_infra.routes import ROUTES, Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit

Invoke = Callable[[str, dict[str, Any]], Any]
LocalRoute = Callable[[str, dict[str, str], bytes], tuple[int, Any]]


def _compile(route: Route) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
    return re.compile(f"^{pattern}$")


class ApiGatewayEmulator:
    def __init__(self, invoke: Invoke, local_routes: dict[tuple[str, str], LocalRoute] | None = None) -> None:
        self._invoke = invoke
        # Static paths before templated ones, as API Gateway prefers the most specific resource.
        self._routes = sorted(((route, _compile(route)) for route in ROUTES), key=lambda r: "{" in r[0].path)
        self._local_routes = local_routes or {}

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, client_ip: str
    ) -> tuple[int, dict[str, list[str]], bytes]:
        url = urlsplit(target)
        local = self._local_routes.get((method, url.path))
        if local is not None:
            status, payload = local(url.path, dict(parse_qsl(url.query)), body)
            return status, {"Content-Type": ["application/json"]}, json.dumps(payload, ensure_ascii=False).encode()
        matched = self.match(method, url.path)
        if matched is None:
            return 403, {"Content-Type": ["application/json"]}, b'{"message":"Missing Authentication Token"}'
        if len(body) > MAX_PAYLOAD_BYTES:
            return 413, {"Content-Type": ["application/json"]}, b'{"message":"Request Too Long"}'
        route, path_parameters = matched
        event = self._event(route, method, url.path, url.query, headers, body, path_parameters, client_ip)
        try:
            response = self._invoke(route.function, event)
        except Exception:  # an unhandled handler error is a 502 at API Gateway
            return 502, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}'
        return self._response(response)

    @staticmethod
    def _event(
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        path_parameters: dict[str, str],
        client_ip: str,
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
                "requestId": str(uuid.uuid4()),
                "requestTimeEpoch": int(time.time() * 1000),
                "accountId": "000000000000",
                "apiId": "local",
                "identity": {"sourceIp": client_ip, "userAgent": single.get("User-Agent")},
            },
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
        }

    @staticmethod
    def _response(response: Any) -> tuple[int, dict[str, list[str]], bytes]:
        if not isinstance(response, dict) or "statusCode" not in response:
            return 502, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}'
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

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the handlers log structured JSON themselves

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
