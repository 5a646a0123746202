"""The REST API: LINE webhooks, partner ingestion and the admin API, generated from `ROUTES`."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdp import cors
from constructs import Construct

from infra.cdp_infra import constants
from infra.cdp_infra.access import method_throttling
from infra.cdp_infra.api_responses import GATEWAY_ERRORS
from infra.cdp_infra.routes import INGEST, ROUTES, Route


class IngestionApi(Construct):
    """API Gateway REST API with one Lambda proxy integration per route in `routes.ROUTES`.

    The route table is shared with the local HTTP server, so cloud and local routing cannot
    drift. Every media type is binary (`*/*`): handlers receive the exact request bytes,
    base64-encoded, which the LINE signature (HMAC over the raw body) and gzip-compressed SDK
    batches need. Authentication and validation happen in the functions because the callers
    cannot do otherwise (see the acknowledgements below).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        routes: tuple[Route, ...] = ROUTES,
        allowed_origins: tuple[str, ...] = (cors.ANY_ORIGIN,),
    ) -> None:
        super().__init__(scope, construct_id)
        missing = sorted({route.function for route in routes} - set(functions))
        if missing:
            raise ValueError(f"routes name functions that were not built: {', '.join(missing)}")

        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=constants.API_ACCESS_LOG_RETENTION)
        self.api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=f"{Stack.of(self).stack_name}-api",  # a display name, derived, not fixed
            description=f"{constants.SERVICE_NAME}: LINE webhooks, partner ingestion, admin API",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            binary_media_types=["*/*"],
            # Execution logs (errors only, never bodies) need the account-level CloudWatch role.
            cloud_watch_role=True,
            deploy_options=apigateway.StageOptions(
                stage_name=constants.API_STAGE,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=constants.API_THROTTLE_RATE,
                throttling_burst_limit=constants.API_THROTTLE_BURST,
                # Each public route's method has its own, lower limit (infra/cdp_infra/access.py).
                method_options=method_throttling(routes),
            ),
        )

        # One invoke permission per function for the whole API (`<api>/*/*/*`), not one per route:
        # a function's resource policy is capped at 20 KB and the admin routes alone used ~18 KB.
        integrations = {
            name: apigateway.LambdaIntegration(function, proxy=True, scope_permission_to_method=False)
            for name, function in functions.items()
        }
        for route in routes:
            resource = self.api.root.resource_for_path(route.path)
            resource.add_method(route.method, integrations[route.function])
        self._add_gateway_responses(allowed_origins)
        self._add_ingest_preflight(routes, allowed_origins)

        Validations.of(self).acknowledge(
            Acknowledgment(
                id="AwsSolutions-APIG2",
                reason=(
                    "Bodies arrive as raw bytes (signed LINE payloads, gzip SDK batches) that a gateway "
                    "model cannot inspect; the functions validate them and answer 4xx with a reason."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-APIG3",
                reason=(
                    "Every route authenticates each request in the function and the stage is throttled; "
                    "a WAF web ACL can be associated by operators who need IP or bot rules."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-APIG4",
                reason=(
                    "LINE and Segment/RudderStack SDKs cannot send IAM or Cognito credentials. Webhooks "
                    "are authenticated by the x-line-signature HMAC, ingestion by the write key (Basic "
                    "auth), the admin API by a user's ID token, a service token or the bootstrap token."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-COG4",
                reason=(
                    "The admin routes also take service tokens, which a Cognito authorizer would refuse: "
                    "the admin functions verify the user pool's ID tokens themselves (JWKS, docs/access.md)."
                ),
            ),
            Acknowledgment(
                id=(
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs]"
                ),
                reason="The AWS-documented policy for API Gateway's account-level logging role.",
            ),
        )

    def _add_gateway_responses(self, allowed_origins: tuple[str, ...]) -> None:
        """API Gateway's own errors in the project's shape (infra/cdp_infra/api_responses.py).

        They carry a fixed Access-Control-Allow-Origin when one value can be right for every
        request (`*` or a single origin): a browser SDK then reads a 429 or 413 like any error.
        """
        headers = {}
        if len(allowed_origins) == 1:
            headers["Access-Control-Allow-Origin"] = f"'{allowed_origins[0]}'"
        for error in GATEWAY_ERRORS:
            self.api.add_gateway_response(
                f"{error.response_type.title().replace('_', '')}Response",
                type=apigateway.ResponseType.of(error.response_type),
                status_code=str(error.status) if error.status is not None else None,
                response_headers=headers or None,
                templates={"application/json": error.template()},
            )

    def _add_ingest_preflight(self, routes: tuple[Route, ...], allowed_origins: tuple[str, ...]) -> None:
        """OPTIONS on each /v1/* resource, answered by API Gateway (no function call), cached by browsers."""
        if not allowed_origins:
            return
        for path in sorted({route.path for route in routes if route.function == INGEST}):
            self.api.root.resource_for_path(path).add_cors_preflight(
                allow_origins=list(allowed_origins),
                allow_methods=list(cors.ALLOW_METHODS),
                allow_headers=list(cors.ALLOW_HEADERS),
                max_age=Duration.seconds(cors.MAX_AGE_SECONDS),
            )

    @property
    def url(self) -> str:
        return self.api.url
