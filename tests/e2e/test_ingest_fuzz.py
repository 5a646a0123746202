"""The public API against its OpenAPI document (docs/openapi/public.yaml), over HTTP on the local stack.

Schemathesis generates requests from the document, valid ones (positive) and ones that break a
constraint (negative), a bounded number per operation so the file stays around a minute on two
cores. Every answer must be no 5xx, a documented status, a documented content type, and match
its documented schema and headers. Then what a browser does: a CORS preflight and a batch with
`Origin`, and API Gateway's own errors in the project's error shape.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import LINE_CHANNEL, LINE_SECRET, ROOT, WRITE_KEY, Stack, unique
from tests.fixtures.line_events import sign

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SPEC = ROOT / "docs" / "openapi" / "public.yaml"
SCHEMA = schemathesis.openapi.from_path(SPEC)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Examples per operation and mode (12 operations x 2 modes + 2 preflights, x 20: 520 requests).
EXAMPLES = 20
OPERATIONS = [
    ("POST", path) for path in ("/v1/batch", "/v1/import", "/v1/track", "/v1/identify", "/v1/page", "/v1/screen")
] + [
    ("POST", "/v1/group"),
    ("POST", "/v1/alias"),
    ("POST", "/line/webhook/{channel}"),
    ("GET", "/r/{code}"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("OPTIONS", "/v1/batch"),
    ("OPTIONS", "/v1/track"),
]
BASIC = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
RUN: Counter[str] = Counter()  # requests sent per operation, for the summary
TAMED: Counter[str] = Counter()  # requests whose batches were cut (tame)


@pytest.fixture(scope="module")
def link_code(stack: Stack) -> str:
    """A real link, so that generated clicks reach the redirect and its event, not only the 404."""
    code = unique("fuzz")
    created = stack.http.post(
        stack.url("/admin/v1/links"),
        json={"code": code, "url": "https://shop.example.com/fuzz", "src": "fuzz"},
        headers={"Authorization": "Bearer local-dev-admin-token"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return code


MAX_BATCH_EVENTS = 3  # every accepted event is processed by the stack the other e2e tests share


def tame(value: Any) -> tuple[Any, bool]:
    """The body with batches cut to a few events (every accepted event is processed by the stack
    the other e2e tests share). Numbers no store can keep are sent as generated: the strict reader
    refuses them (integer_out_of_range, number_out_of_range, non_finite_number). Returns (body, changed)."""
    if isinstance(value, dict):
        items = {key: tame(item) for key, item in value.items()}
        for key in ("batch", "events"):  # a Segment batch, a LINE delivery
            if isinstance(value.get(key), list) and len(value[key]) > MAX_BATCH_EVENTS:
                items[key] = (tame(value[key][:MAX_BATCH_EVENTS])[0], True)
        return {key: item for key, (item, _) in items.items()}, any(changed for _, changed in items.values())
    if isinstance(value, list):
        tamed = [tame(item) for item in value]
        return [item for item, _ in tamed], any(changed for _, changed in tamed)
    return value, False


def send(stack: Stack, case: Any, link: str) -> requests.Response:
    """The generated request, with what no schema can generate: a write key, a LINE signature."""
    kwargs = case.as_transport_kwargs(base_url=stack.base_url)
    if "json" in kwargs:
        kwargs["json"], changed = tame(kwargs["json"])
        if changed:
            TAMED[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    kwargs["timeout"] = 30
    kwargs["allow_redirects"] = False  # the redirect's destination is not ours to call
    method, path = case.operation.method.upper(), case.operation.path
    if path.startswith("/v1/") and method == "POST":
        kwargs["headers"]["Authorization"] = BASIC
    if path == "/line/webhook/{channel}":
        kwargs["url"] = stack.url(f"/line/webhook/{LINE_CHANNEL}")
        body = kwargs.pop("json", None)
        data = kwargs.pop("data", None)
        raw = data if isinstance(data, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
        kwargs["data"] = raw
        kwargs["headers"]["x-line-signature"] = sign(LINE_SECRET, raw)
    if path == "/r/{code}" and len(str(case.path_parameters.get("code", ""))) % 2:  # some clicks on a real link
        kwargs["url"] = stack.url(f"/r/{link}")
    return stack.http.request(**kwargs)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_the_document(
    stack: Stack, link_code: str, method: str, path: str, mode: GenerationMode
) -> None:
    if method == "OPTIONS" and mode is GenerationMode.NEGATIVE:
        pytest.skip("a preflight has only optional string headers: there is nothing to make invalid")
    if path == "/u/{token}" and mode is GenerationMode.NEGATIVE:
        pytest.skip("any string is a token (a wrong one is answered in the positive run): nothing to make invalid")
    operation = SCHEMA[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = send(stack, case, link_code)
        RUN[f"{method} {path}"] += 1
        case.validate_response(response, checks=CHECKS)

    before = RUN[f"{method} {path}"]
    check()
    assert RUN[f"{method} {path}"] > before, f"no request was generated for {method} {path} ({mode.value})"


def test_every_public_operation_is_fuzzed() -> None:
    # Each operation's own test above proves it sent requests; this proves none is left out
    # (checked on the list, so it holds whatever order the workers run the tests in).
    documented = {
        f"{method.upper()} {path}"
        for path, item in SCHEMA.raw_schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post") and "x-alias-of" not in operation  # aliases run the same code
    }
    fuzzed = {f"{method} {path}" for method, path in OPERATIONS}
    assert documented <= fuzzed, f"not fuzzed: {sorted(documented - fuzzed)}"
    if RUN:
        print(
            f"schemathesis: {len(RUN)} operations, {sum(RUN.values())} requests: {dict(RUN)}; batches cut in: {dict(TAMED)}"
        )


# What a browser SDK does ------------------------------------------------------------------------
def test_a_browser_preflight_and_batch_get_the_cors_headers(stack: Stack) -> None:
    origin = "https://shop.example.com"
    preflight = stack.http.options(
        stack.url("/v1/batch"),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,content-encoding,anonymousid",
        },
        timeout=30,
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", origin)
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"].split(",")
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "content-encoding", "anonymousid"} <= allowed
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0

    message_id = unique("cors")
    batch = {
        "batch": [{"type": "track", "event": "Page Scrolled", "anonymousId": unique("a"), "messageId": message_id}]
    }
    sent = stack.http.post(
        stack.url("/v1/batch"),
        data=gzip.compress(json.dumps(batch).encode()),
        headers={
            "Origin": origin,
            "Authorization": BASIC,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["accepted"] == 1
    assert sent.headers["Access-Control-Allow-Origin"] in ("*", origin)

    # An error answer is readable by the page too (else the SDK sees only a network error).
    refused = stack.http.post(
        stack.url("/v1/track"),
        json={"event": "x"},
        headers={"Origin": origin, "Authorization": "Basic eDo="},
        timeout=30,
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_write_key"
    assert refused.headers["Access-Control-Allow-Origin"] in ("*", origin)


def test_analytics_js_requests_are_accepted_without_a_preflight(stack: Stack) -> None:
    """What analytics.js sends: one-letter paths, text/plain (a CORS "simple" request), the key in the body."""
    origin = "https://shop.example.com"
    anonymous_id = unique("ajs")
    page = {
        "type": "page",
        "anonymousId": anonymous_id,
        "messageId": unique("ajs-next"),
        "properties": {"path": "/new", "url": f"{origin}/new"},
        "context": {"library": {"name": "analytics.js", "version": "next-1.82.0"}},
        "writeKey": WRITE_KEY,
        "sentAt": "2026-01-02T03:04:05.678Z",
        "_metadata": {"bundled": ["Segment.io"], "unbundled": []},
    }
    single = stack.http.post(
        stack.url("/v1/p"), data=json.dumps(page), headers={"Content-Type": "text/plain", "Origin": origin}, timeout=30
    )
    assert (single.status_code, single.json()["accepted"]) == (200, 1), single.text
    assert single.headers["Access-Control-Allow-Origin"] in ("*", origin)
    track = {**page, "type": "track", "event": "Product Viewed", "messageId": unique("ajs-next")}
    batch = {"writeKey": WRITE_KEY, "batch": [track], "sentAt": "2026-01-02T03:04:05.678Z"}
    batched = stack.http.post(
        stack.url("/v1/b"), data=json.dumps(batch), headers={"Content-Type": "text/plain", "Origin": origin}, timeout=30
    )
    assert (batched.status_code, batched.json()["accepted"]) == (200, 1), batched.text
    # analytics.js retries with the same messageId: stored once.
    again = stack.http.post(
        stack.url("/v1/p"), data=json.dumps(page), headers={"Content-Type": "text/plain"}, timeout=30
    )
    assert (again.status_code, again.json()["accepted"], again.json()["duplicates"]) == (200, 0, 1)


# API Gateway's own answers ----------------------------------------------------------------------
def test_gateway_errors_use_the_error_shape_and_carry_the_request_id(stack: Stack) -> None:
    typo = stack.http.post(stack.url("/v1/trak"), json={}, headers={"Authorization": BASIC}, timeout=30)
    assert typo.status_code == 404
    assert typo.json() == {
        "error": "route_not_found",
        "message": "no route for this method and path",
        "requestId": typo.headers["x-amzn-RequestId"],
    }
    too_large = stack.http.post(
        stack.url("/v1/batch"), data=b" " * (10 * 1024 * 1024 + 1), headers={"Authorization": BASIC}, timeout=60
    )
    assert too_large.status_code == 413
    assert too_large.json()["error"] == "payload_too_large"
    assert too_large.json()["requestId"] == too_large.headers["x-amzn-RequestId"]
    # Answers of the functions carry the request id in the header as well (their log's correlation_id).
    answered = stack.segment("track", {"event": "x", "userId": unique("u")})
    assert answered.status_code == 200 and answered.headers["x-amzn-RequestId"]
