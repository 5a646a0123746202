"""API Gateway's own answers and the ingest API's CORS, in the synthesized template and locally.

The local gateway reads the same template resources (infra/local/http_gateway.py), so each case is
checked on both sides: what the CDK construct declares and what the emulator answers from it.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from cdp import cors

from infra.cdp_infra.api_responses import GATEWAY_ERRORS
from infra.cdp_infra.ingestion_api import IngestionApi
from infra.cdp_infra.routes import INGEST, LINE_WEBHOOK, ROUTES, Route
from infra.local.http_gateway import ApiGatewayEmulator, GatewayConfig

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

INGEST_PATHS = sorted({route.path for route in ROUTES if route.function == INGEST})


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def test_every_gateway_error_answers_the_error_shape_with_the_request_id(template: Any, synth: Any) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in _resources(synth.template, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {error.response_type for error in GATEWAY_ERRORS}
    assert {"MISSING_AUTHENTICATION_TOKEN", "THROTTLED", "INTEGRATION_TIMEOUT", "REQUEST_TOO_LARGE"} <= set(responses)
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "BAD_REQUEST_BODY", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for error in GATEWAY_ERRORS:
        props = responses[error.response_type]
        assert props.get("StatusCode") == (str(error.status) if error.status else None)
        body = props["ResponseTemplates"]["application/json"]
        rendered = json.loads(
            body.replace("$context.requestId", "req-1").replace("$context.error.messageString", '"aws says"')
        )
        assert rendered["error"] == error.code and rendered["requestId"] == "req-1" and rendered["message"]
        # Browser SDKs can read the error too (the default allows every origin).
        assert props["ResponseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'"
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "MISSING_AUTHENTICATION_TOKEN", "StatusCode": "404"},
    )


@pytest.mark.parametrize("path", INGEST_PATHS)
def test_each_ingest_path_has_a_mock_cors_preflight(template: Any, path: str) -> None:
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "OPTIONS",
            "AuthorizationType": "NONE",
            "ResourceId": {"Ref": Match.string_like_regexp("v1" + path.removeprefix("/v1/"))},
            "Integration": Match.object_like(
                {
                    "Type": "MOCK",
                    "IntegrationResponses": [
                        Match.object_like(
                            {
                                "StatusCode": "204",
                                "ResponseParameters": {
                                    "method.response.header.Access-Control-Allow-Origin": "'*'",
                                    "method.response.header.Access-Control-Allow-Methods": "'OPTIONS,POST'",
                                    "method.response.header.Access-Control-Allow-Headers": (
                                        f"'{','.join(cors.ALLOW_HEADERS)}'"
                                    ),
                                    "method.response.header.Access-Control-Max-Age": "'7200'",
                                },
                            }
                        )
                    ],
                }
            ),
        },
    )


def test_only_the_ingest_api_has_preflights_and_the_function_knows_the_origins(synth: Any) -> None:
    methods = _resources(synth.template, "AWS::ApiGateway::Method").values()
    assert sum(m["Properties"]["HttpMethod"] == "OPTIONS" for m in methods) == len(INGEST_PATHS)
    functions = _resources(synth.template, "AWS::Lambda::Function").values()
    ingest = [f for f in functions if "ingest" in f["Metadata"]["aws:cdk:path"].lower()]
    assert [f["Properties"]["Environment"]["Variables"]["CDP_INGEST_ALLOWED_ORIGINS"] for f in ingest] == ["*"]


def test_the_local_gateway_answers_what_the_template_declares(synth: Any) -> None:
    def fail(name: str, event: dict[str, Any]) -> Any:
        raise RuntimeError("the function crashed")

    gateway = ApiGatewayEmulator(fail, config=GatewayConfig.from_template(synth.template))
    status, headers, body = gateway.handle("POST", "/v1/trak", [], b"{}", "127.0.0.1")
    answer = json.loads(body)
    assert (status, answer["error"], answer["requestId"]) == (404, "route_not_found", headers["x-amzn-RequestId"][0])
    assert headers["Access-Control-Allow-Origin"] == ["*"]
    status, _, body = gateway.handle("POST", "/v1/batch", [], b" " * (10 * 1024 * 1024 + 1), "127.0.0.1")
    assert (status, json.loads(body)["error"]) == (413, "payload_too_large")
    status, _, body = gateway.handle("POST", "/v1/batch", [], b"{}", "127.0.0.1")
    assert (status, json.loads(body)) == (
        502,
        {"error": "gateway_error", "message": "Internal server error", "requestId": json.loads(body)["requestId"]},
    )
    status, headers, body = gateway.handle("OPTIONS", "/v1/track", [("Origin", "https://shop.example")], b"", "x")
    assert (status, body, headers["Access-Control-Allow-Origin"]) == (204, b"", ["*"])
    assert headers["Access-Control-Max-Age"] == ["7200"] and "x-amzn-RequestId" in headers
    # Only /v1/* has a preflight: OPTIONS elsewhere is no route.
    assert gateway.handle("OPTIONS", "/line/webhook/default", [], b"", "x")[0] == 404


def _api_with_origins(origins: tuple[str, ...]) -> dict[str, Any]:
    """The API construct alone (two routes, inline functions): a cheap synth per CORS setting."""
    app = cdk.App()
    stack = cdk.Stack(app, "Api")
    functions = {
        name: lambda_.Function(
            stack,
            name,
            runtime=lambda_.Runtime.PYTHON_3_11,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
        )
        for name in (INGEST, LINE_WEBHOOK)
    }
    routes = (Route("POST", "/v1/batch", INGEST), Route("POST", "/line/webhook/{channel}", LINE_WEBHOOK))
    IngestionApi(stack, "IngestionApi", functions=functions, routes=routes, allowed_origins=origins)
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


def test_named_origins_are_echoed_only_when_they_match_locally_as_in_the_template() -> None:
    template = _api_with_origins(("https://shop.example.com", "https://m.shop.example.com"))
    # No single Access-Control-Allow-Origin fits every request: gateway errors carry none.
    for response in _resources(template, "AWS::ApiGateway::GatewayResponse").values():
        assert "ResponseParameters" not in response["Properties"]
    gateway = ApiGatewayEmulator(lambda *_: None, config=GatewayConfig.from_template(template))
    for origin in ("https://shop.example.com", "https://m.shop.example.com"):
        status, headers, _ = gateway.handle("OPTIONS", "/v1/batch", [("Origin", origin)], b"", "x")
        assert (status, headers["Access-Control-Allow-Origin"], headers["Vary"]) == (204, [origin], ["Origin"])
    _, headers, _ = gateway.handle("OPTIONS", "/v1/batch", [("Origin", "https://evil.example")], b"", "x")
    assert headers.get("Access-Control-Allow-Origin") != ["https://evil.example"]


def test_no_origins_means_no_preflight() -> None:
    template = _api_with_origins(())
    methods = _resources(template, "AWS::ApiGateway::Method").values()
    assert [m["Properties"]["HttpMethod"] for m in methods if m["Properties"]["HttpMethod"] == "OPTIONS"] == []
