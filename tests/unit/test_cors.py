"""CORS of the ingest API (cdp.cors), its setting, and the ingest function's answers and logs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cdp.cors import ANY_ORIGIN, parse_origins, response_headers
from cdp.ingestion.channels import WriteKeys
from cdp.observability import logger
from cdp.settings import (
    ENV_INGEST_ALLOWED_ORIGINS,
    ENV_RAW_EVENTS_TABLE,
    ENV_WRITE_KEYS_SECRET,
    PartnerIngestSettings,
    SettingsError,
)

from infra.local.lambda_runtime import LambdaRuntime
from tests.fakes import FakeRawEventStore, FakeSecrets

SHOP = "https://shop.example.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", ("*",)),
        (None, ()),
        ("", ()),
        (f"{SHOP}, https://m.shop.example.com/", (SHOP, "https://m.shop.example.com")),
        ([SHOP, SHOP], (SHOP,)),
        ([SHOP, "*"], ("*",)),
        ("http://localhost:3000", ("http://localhost:3000",)),
    ],
)
def test_origins_are_any_or_exact_scheme_and_host(value: Any, expected: tuple[str, ...]) -> None:
    assert parse_origins(value) == expected


@pytest.mark.parametrize("value", ["shop.example.com", "ftp://shop.example.com", f"{SHOP}/path", "https://"])
def test_anything_but_an_origin_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="allowed origin"):
        parse_origins(value)


def test_answers_allow_any_origin_or_echo_a_named_one_with_vary() -> None:
    assert response_headers((ANY_ORIGIN,), SHOP) == {"Access-Control-Allow-Origin": "*"}
    assert response_headers((ANY_ORIGIN,), None) == {"Access-Control-Allow-Origin": "*"}
    assert response_headers((SHOP,), SHOP) == {"Access-Control-Allow-Origin": SHOP, "Vary": "Origin"}
    assert response_headers((SHOP,), "https://evil.example") == {"Vary": "Origin"}
    assert response_headers((), SHOP) == {}


def test_the_setting_defaults_to_any_origin_and_names_a_bad_value() -> None:
    env = {ENV_RAW_EVENTS_TABLE: "raw", ENV_WRITE_KEYS_SECRET: "keys"}
    assert PartnerIngestSettings.from_env(env).allowed_origins == ("*",)
    assert PartnerIngestSettings.from_env({**env, ENV_INGEST_ALLOWED_ORIGINS: SHOP}).allowed_origins == (SHOP,)
    with pytest.raises(SettingsError, match=ENV_INGEST_ALLOWED_ORIGINS):
        PartnerIngestSettings.from_env({**env, ENV_INGEST_ALLOWED_ORIGINS: "shop.example.com"})


def _call(runtime: LambdaRuntime, headers: dict[str, str], body: Any) -> dict[str, Any]:
    event = {
        "resource": "/v1/track",
        "path": "/v1/track",
        "httpMethod": "POST",
        "headers": headers,
        "requestContext": {"requestId": "req-cors-1"},
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
        "isBase64Encoded": True,
    }
    response: dict[str, Any] = runtime.invoke("ingest", event)
    return response


def test_the_ingest_function_adds_cors_to_every_answer_and_logs_the_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = LambdaRuntime()
    module = runtime.module("ingest")
    keys = WriteKeys(FakeSecrets({"keys": {"writeKey": "wk"}}), "keys")
    monkeypatch.setattr(module, "build", lambda: (keys, FakeRawEventStore(), None, (SHOP,)))
    auth = "Basic " + base64.b64encode(b"wk:").decode()
    accepted = _call(runtime, {"Origin": SHOP, "Authorization": auth}, {"userId": "u", "event": "Viewed"})
    assert accepted["statusCode"] == 200
    assert accepted["headers"]["Access-Control-Allow-Origin"] == SHOP
    refused = _call(runtime, {"Origin": SHOP}, {"userId": "u", "event": "Viewed"})
    assert (refused["statusCode"], refused["headers"]["Access-Control-Allow-Origin"]) == (401, SHOP)
    other = _call(runtime, {"Origin": "https://evil.example", "Authorization": auth}, {"userId": "u", "event": "x"})
    assert "Access-Control-Allow-Origin" not in other["headers"] and other["headers"]["Vary"] == "Origin"
    assert logger.get_correlation_id() == "req-cors-1"  # a key of every line this invocation logs


@pytest.mark.parametrize(
    ("name", "path"), [("line_webhook", "/line/webhook/{channel}"), ("link_redirect", "/r/{code}")]
)
def test_the_other_public_functions_log_the_request_id(
    name: str, path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = LambdaRuntime()

    def broken() -> Any:
        raise RuntimeError("configuration unreadable")

    monkeypatch.setattr(runtime.module(name), "build", broken)
    event = {"resource": path, "path": path, "headers": {}, "requestContext": {"requestId": "req-7"}, "body": None}
    assert runtime.invoke(name, event)["statusCode"] >= 500
    assert logger.get_correlation_id() == "req-7"
    assert any(record.getMessage().endswith("failed") for record in caplog.records)
