"""API Gateway's own answers (gateway responses) in the project's error shape.

When API Gateway answers by itself (no route, throttled, body over 10 MB, the function timed out
or failed), the body is `{"error": <stable code>, "message": ..., "requestId": ...}` like the
functions' errors, with the request id that the functions log as their correlation id. The
table is read by the CDK construct (infra/cdp_infra/ingestion_api.py); the local gateway reads
the synthesized resources back from the template (infra/local/http_gateway.py), so both answer
the same. The codes are part of the public API (docs/openapi/public.yaml).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GatewayError:
    response_type: str  # apigateway.ResponseType name
    code: str
    message: str | None  # None: API Gateway's own message ($context.error.messageString)
    status: int | None = None  # None: keep the status API Gateway chose (DEFAULT_4XX / DEFAULT_5XX)

    def template(self) -> str:
        """The body mapping template: JSON, with API Gateway's variables substituted at answer time."""
        message = json.dumps(self.message) if self.message is not None else "$context.error.messageString"
        return f'{{"error":"{self.code}","message":{message},"requestId":"$context.requestId"}}'


GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    # No IAM authorization is used, so "Missing Authentication Token" only ever means: no route for
    # this method and path. Answer what it is.
    GatewayError("MISSING_AUTHENTICATION_TOKEN", "route_not_found", "no route for this method and path", 404),
    GatewayError("RESOURCE_NOT_FOUND", "route_not_found", "no route for this method and path", 404),
    GatewayError("THROTTLED", "throttled", "too many requests; retry with backoff", 429),
    GatewayError("QUOTA_EXCEEDED", "quota_exceeded", "the usage plan's quota is used up", 429),
    GatewayError("REQUEST_TOO_LARGE", "payload_too_large", "the request is over API Gateway's 10 MB limit", 413),
    GatewayError("INTEGRATION_TIMEOUT", "integration_timeout", "the function did not answer in time; retry", 504),
    GatewayError("INTEGRATION_FAILURE", "integration_failure", "the function could not be invoked; retry", 504),
    GatewayError("BAD_REQUEST_BODY", "invalid_body", "the request body was refused by API Gateway", 400),
    GatewayError("BAD_REQUEST_PARAMETERS", "invalid_parameters", "the request parameters were refused", 400),
    GatewayError("UNSUPPORTED_MEDIA_TYPE", "unsupported_media_type", "the media type is not supported", 415),
    GatewayError("UNAUTHORIZED", "unauthorized", "credentials are missing or not valid", 401),
    GatewayError("ACCESS_DENIED", "forbidden", "the request is not allowed", 403),
    GatewayError("INVALID_API_KEY", "invalid_api_key", "the API key is not valid", 403),
    GatewayError("WAF_FILTERED", "waf_filtered", "the request was blocked by the web ACL", 403),
    GatewayError("AUTHORIZER_FAILURE", "authorizer_failure", "the authorizer failed; retry", 500),
    GatewayError(
        "AUTHORIZER_CONFIGURATION_ERROR", "authorizer_configuration_error", "the authorizer is misconfigured", 500
    ),
    GatewayError("API_CONFIGURATION_ERROR", "api_configuration_error", "the API is misconfigured", 500),
    # Everything else API Gateway answers, e.g. 502 when a function fails without an answer.
    GatewayError("DEFAULT_4XX", "gateway_client_error", None),
    GatewayError("DEFAULT_5XX", "gateway_error", None),
)

BY_TYPE = {error.response_type: error for error in GATEWAY_ERRORS}

__all__ = ["BY_TYPE", "GATEWAY_ERRORS", "GatewayError"]
