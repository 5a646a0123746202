"""docs/openapi/public.yaml is the contract a brand's engineer integrates against: it must be a valid
OpenAPI 3.1 document, cover every non-admin route, and name exactly the error codes the handlers
answer. The codes are collected by running the real handlers (in-memory stores) over bad input, not
by reading their source.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cdp.errors import StoreUnavailable
from cdp.ingestion.calls import SHORT_CALLS
from cdp.ingestion.channels import LineChannels, WriteKeys
from cdp.links.model import Link
from cdp.links.redirect import LinkRedirector
from cdp.messaging.unsubscribe import Unsubscriber, unsubscribe_token
from openapi_spec_validator import validate

from infra.cdp_infra.api_responses import GATEWAY_ERRORS
from infra.cdp_infra.routes import ROUTES
from infra.local.lambda_runtime import LambdaRuntime
from tests.fakes import FakeRawEventStore, FakeSecrets, FixedClock
from tests.fixtures.line_events import sign

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "public.yaml"
WRITE_KEY = "wk-test"
CHANNEL_SECRET = "channel-secret"
LINK_CODE = "spring-sale"
# Codes only API Gateway answers (throttling, a function failing without an answer, timeouts).
GATEWAY_ONLY = {"throttled", "gateway_error", "integration_timeout", "integration_failure"}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return document


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    validate(spec)


def test_every_non_admin_route_is_documented_and_nothing_else(spec: dict[str, Any]) -> None:
    public = {(route.method.lower(), route.path) for route in ROUTES if not route.path.startswith("/admin/")}
    documented = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    assert public - documented == set(), "routes missing from docs/openapi/public.yaml"
    assert documented - public == set(), "documented operations that are not routes"
    ingest_paths = {path for _, path in public if path.startswith("/v1/")}
    assert {path for path in ingest_paths if "options" not in spec["paths"][path]} == set(), "preflight missing"


# documented codes -------------------------------------------------------------------------------
def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _error_codes(spec: dict[str, Any], schema: Any, seen: frozenset[int] = frozenset()) -> set[str]:
    """The values the schema allows for `error`: the narrowest const/enum on each branch."""
    schema = _resolve(spec, schema)
    if not isinstance(schema, dict) or id(schema) in seen:
        return set()
    seen = seen | {id(schema)}
    error = _resolve(spec, schema.get("properties", {}).get("error", {}))
    own = {error["const"]} if "const" in error else set(error.get("enum", ()))
    if "allOf" in schema:
        narrowed = [_error_codes(spec, part, seen) for part in schema["allOf"]]
        found = [codes for codes in narrowed if codes]
        if found:
            return own if own else set.intersection(*found)
    if "oneOf" in schema or "anyOf" in schema:
        return own | set().union(*(_error_codes(spec, part, seen) for part in schema.get("oneOf", schema.get("anyOf"))))
    return own


def documented_codes(spec: dict[str, Any], method: str, path: str) -> set[tuple[int, str]]:
    """(status, code) for every documented answer of an operation; 200's codes are per-event rejections."""
    found: set[tuple[int, str]] = set()
    for status, response in spec["paths"][path][method]["responses"].items():
        for media in (_resolve(spec, response).get("content") or {}).values():
            if status == "200" and path in ("/v1/batch", "/v1/import", "/v1/b"):
                rejection = _resolve(spec, {"$ref": "#/components/schemas/Rejection"})
                found |= {(200, code) for code in rejection["properties"]["error"]["enum"]}
                continue
            found |= {(int(status), code) for code in _error_codes(spec, media.get("schema", {}))}
    return found


def test_the_error_code_extraction_reads_narrowed_enums(spec: dict[str, Any]) -> None:
    assert documented_codes(spec, "post", "/v1/alias") >= {(400, "missing_field"), (401, "invalid_write_key")}
    assert (400, "missing_event_name") not in documented_codes(spec, "post", "/v1/alias")


# observed codes ---------------------------------------------------------------------------------
class FailingStore:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def store_once(self, events: Any) -> list[bool]:
        raise self.error


class Links:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, code: str) -> Link | None:
        if self.error is not None:
            raise self.error
        if code != LINK_CODE:
            return None
        return Link(code=LINK_CODE, url="https://shop.example.com/new", src="poster", created_at="2024-05-01T00:00:00Z")

    def count_click(self, code: str, *, known: bool) -> None:
        return None


def api_event(path: str, body: bytes, headers: dict[str, str], path_parameters: dict[str, str] | None = None) -> Any:
    return {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": headers,
        "pathParameters": path_parameters,
        "queryStringParameters": None,
        "requestContext": {"requestId": "req-1", "resourcePath": path},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def ingest_bodies(call: str) -> Iterator[tuple[bytes, dict[str, str]]]:
    """Bad (and good) input for one /v1 call: each known way to be refused."""
    call = SHORT_CALLS.get(call, call)
    auth = {"Authorization": basic(WRITE_KEY)}
    good = {"userId": "u-1", "event": "Viewed", "groupId": "g", "previousId": "p", "timestamp": "2024-05-01T00:00:00Z"}
    events: list[Any] = [
        good,
        {**good, "type": "nope"},
        {k: v for k, v in good.items() if k != "userId"},
        {**good, "userId": {"x": 1}},
        {**good, "userId": "u" * 600},
        {**good, "event": " "},
        {**good, "event": "e" * 300},
        {**good, "groupId": None, "previousId": None},
        {**good, "properties": [1]},
        {**good, "name": 3},
        {**good, "timestamp": "yesterday"},
        {**good, "timestamp": "1970-01-01T00:00:00Z"},
        {**good, "messageId": ""},
        # With a messageId: without one, the content hash meets the surrogate first and answers 500
        # (refusing lone surrogates on every path is the edge validation's, cdp.events.segment).
        {**good, "traits": {"name": "\ud800"}, "messageId": "m-surrogate"},
        {**good, "properties": {"blob": "x" * 40_000}},
        # Cases refused at the edge (numbers, depth): they must be documented once they are codes.
        {**good, "properties": {"revenue": float("nan")}},
        {**good, "traits": {"big": 2**70}},
        {**good, "properties": {"price": 1e200}},
        {**good, "traits": {"name": "\ud800"}, "timestamp": "2024-05-01T00:00:00Z"},
        "not an object",
    ]
    typed = [{"type": "track", **event} if isinstance(event, dict) else event for event in events]
    batch_items = [*typed, {**good, "type": "alias", "previousId": None}, {"userId": "u"}]
    if call in ("batch", "import"):
        yield json.dumps({"batch": batch_items}).encode(), auth
        # Outside the events, a value no store can keep refuses the whole request
        for envelope in ({"x": float("nan")}, {"x": 2**70}, {"x": 1e200}, {"x": "\ud800"}):
            yield json.dumps({"batch": [good], "context": envelope}).encode(), auth
        yield json.dumps({"batch": {}}).encode(), auth
        yield (
            json.dumps({"batch": [{**good, "type": "track"}, {**good, "type": "alias", "messageId": "m"}]}).encode(),
            auth,
        )
    else:
        for event in events:
            yield json.dumps(event).encode(), auth
        yield json.dumps({**good, "type": "other"}).encode(), auth
    yield b"{not json", auth
    yield b"[" * 100_000, auth
    yield b"[]", auth
    yield b"{}", {"Authorization": basic("wrong")}
    yield b"{}", {}
    yield b"x" * (600 * 1024), auth
    yield b"not gzip", {**auth, "Content-Encoding": "gzip"}
    yield gzip.compress(b"{}"), {**auth, "Content-Encoding": "br"}


def observe_ingest(runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch, call: str) -> set[tuple[int, str]]:
    module = runtime.module("ingest")
    keys = WriteKeys(FakeSecrets({"keys": {"writeKey": WRITE_KEY}}), "keys")
    stores: list[Any] = [FakeRawEventStore(), FailingStore(StoreUnavailable("down")), FailingStore(RuntimeError())]
    observed: set[tuple[int, str]] = set()
    for store in stores:
        monkeypatch.setattr(module, "build", lambda store=store: (keys, store, None, ("*",)))
        bodies = ingest_bodies(call)
        if not isinstance(store, FakeRawEventStore):  # one good call that reaches the failing store
            kind = SHORT_CALLS.get(call, call)
            good = {"userId": "u", "event": "e", "groupId": "g", "previousId": "p", "type": kind}
            body = {"batch": [{**good, "type": "track"}]} if kind in ("batch", "import") else good
            bodies = iter([(json.dumps(body).encode(), {"Authorization": basic(WRITE_KEY)})])
        for body, headers in bodies:
            response = runtime.invoke("ingest", api_event(f"/v1/{call}", body, headers))
            answer = json.loads(response["body"])
            if response["statusCode"] == 200:
                observed |= {(200, rejection["error"]) for rejection in answer["rejected"]}
            else:
                observed.add((response["statusCode"], answer["error"]))
    return observed


def observe_webhook(runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch) -> set[tuple[int, str]]:
    module = runtime.module("line_webhook")
    secrets = FakeSecrets({"line": {"default": {"channelSecret": CHANNEL_SECRET, "providerId": "p1"}}})
    channels = LineChannels(secrets, "line")
    event = {"type": "follow", "webhookEventId": "01H", "timestamp": 1714550400000, "mode": "active"}
    bodies = [
        {"destination": "U1", "events": [event]},
        *({"destination": "U1", "events": [], "x": bad} for bad in (float("nan"), 2**70, 1e200, "\ud800")),
        {"destination": "U1", "events": [event, {"type": "follow"}]},
        {"destination": "", "events": []},
        [],
    ]
    observed: set[tuple[int, str]] = set()

    def send(body: bytes, headers: dict[str, str], channel: str = "default") -> None:
        response = runtime.invoke(
            "line_webhook", api_event("/line/webhook/{channel}", body, headers, {"channel": channel})
        )
        if response["statusCode"] != 200:
            observed.add((response["statusCode"], json.loads(response["body"])["error"]))

    for store in (FakeRawEventStore(), FailingStore(StoreUnavailable("down")), FailingStore(RuntimeError())):
        monkeypatch.setattr(module, "build", lambda store=store: (channels, store, None))
        for document in bodies:
            raw = json.dumps(document).encode()
            send(raw, {"x-line-signature": sign(CHANNEL_SECRET, raw)})
    monkeypatch.setattr(module, "build", lambda: (channels, FakeRawEventStore(), None))
    for raw in (b"{nope", b"[" * 100_000):
        send(raw, {"x-line-signature": sign(CHANNEL_SECRET, raw)})
    send(b"{}", {})
    send(b"{}", {"x-line-signature": "forged"})
    send(b"{}", {"x-line-signature": "forged"}, channel="other")
    send(b"x" * (2 * 1024 * 1024), {})
    send(b"not gzip", {"Content-Encoding": "gzip"})
    send(b"{}", {"Content-Encoding": "br"})
    return observed


def observe_redirect(runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch) -> set[tuple[int, str]]:
    module = runtime.module("link_redirect")
    observed: set[tuple[int, str]] = set()
    for links in (Links(), Links(StoreUnavailable("down")), Links(RuntimeError())):
        redirector = LinkRedirector(
            links=links, events=FakeRawEventStore(), counter=links, signing_key=lambda: b"k" * 64, clock=FixedClock()
        )
        monkeypatch.setattr(module, "build", lambda redirector=redirector: redirector)
        for code, accept in ((LINK_CODE, "*/*"), ("missing-code", "application/json"), ("missing-code", "text/html")):
            event = {
                **api_event("/r/{code}", b"", {"Accept": accept}, {"code": code}),
                "httpMethod": "GET",
                "body": None,
            }
            response = runtime.invoke("link_redirect", event)
            if response["statusCode"] == 404:
                observed.add((404, response["headers"]["X-Error"]))
            elif response["statusCode"] != 302:
                observed.add((response["statusCode"], json.loads(response["body"])["error"]))
    return observed


def observe_unsubscribe(method: str) -> Callable[[LambdaRuntime, pytest.MonkeyPatch], set[tuple[int, str]]]:
    def observe(runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch) -> set[tuple[int, str]]:
        module = runtime.module("link_redirect")
        key = b"k" * 64
        good = unsubscribe_token(key, "email", "amy@example.com")
        observed: set[tuple[int, str]] = set()

        def failing_key(error: Exception) -> Callable[[], bytes]:
            def read() -> bytes:
                raise error

            return read

        cases: list[tuple[Any, Callable[[], bytes]]] = [
            (FakeRawEventStore(), lambda: key),
            (FailingStore(StoreUnavailable("down")), lambda: key),
            (FailingStore(RuntimeError()), lambda: key),
            (FakeRawEventStore(), failing_key(StoreUnavailable("secrets down"))),  # the signing key
            (FakeRawEventStore(), failing_key(RuntimeError())),
        ]
        for store, signing_key in cases:
            unsubscriber = Unsubscriber(events=store, signing_key=signing_key, clock=FixedClock())
            monkeypatch.setattr(module, "build_unsubscriber", lambda unsubscriber=unsubscriber: unsubscriber)
            for token in (good, good[:-2] + "xx", "not-a-token", ""):
                event = {**api_event("/u/{token}", b"", {}, {"token": token}), "httpMethod": method.upper()}
                response = runtime.invoke("link_redirect", event)
                if response["statusCode"] != 200:
                    observed.add((response["statusCode"], json.loads(response["body"])["error"]))
        return observed

    return observe


def _without_gateway(codes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The answers the function gives (gateway-only codes are checked against the gateway table)."""
    return {(status, code) for status, code in codes if code not in GATEWAY_ONLY}


OBSERVERS: dict[tuple[str, str], Callable[[LambdaRuntime, pytest.MonkeyPatch], set[tuple[int, str]]]] = {
    **{
        ("post", f"/v1/{call}"): (lambda runtime, patch, call=call: observe_ingest(runtime, patch, call))
        for call in ("batch", "import", "track", "identify", "page", "screen", "group", "alias", *SHORT_CALLS)
    },
    ("post", "/line/webhook/{channel}"): observe_webhook,
    ("get", "/r/{code}"): observe_redirect,
    ("get", "/u/{token}"): observe_unsubscribe("get"),
    ("post", "/u/{token}"): observe_unsubscribe("post"),
}


@pytest.mark.parametrize(("method", "path"), sorted(OBSERVERS), ids=lambda v: str(v))
def test_documented_error_codes_are_exactly_what_the_handler_answers(
    spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch, method: str, path: str
) -> None:
    observed = OBSERVERS[(method, path)](LambdaRuntime(), monkeypatch)
    documented = documented_codes(spec, method, path)
    assert observed - documented == set(), f"{method.upper()} {path} answers undocumented codes"
    missing = _without_gateway(documented) - observed
    assert missing == set(), f"{method.upper()} {path} documents codes no input produced"


def test_documented_gateway_codes_are_gateway_responses(spec: dict[str, Any]) -> None:
    gateway_statuses = {error.code: error.status for error in GATEWAY_ERRORS}
    assert set(gateway_statuses) >= GATEWAY_ONLY
    for method, path in OBSERVERS:
        for status, code in documented_codes(spec, method, path):
            if code in GATEWAY_ONLY:
                assert gateway_statuses[code] in (status, None), (path, status, code)
    # A body over API Gateway's 10 MB is refused with the functions' own code for a large body.
    assert gateway_statuses["payload_too_large"] == 413
