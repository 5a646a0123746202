"""The single place where Lambda functions are made, so every function gets the same baseline."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Acknowledgment, Duration, Size, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import layer_build
from infra.cdp_infra import constants
from infra.cdp_infra.core_layer import Layers

_DEFAULT_TIMEOUT = Duration.seconds(10)


class FunctionFactory:
    """Builds every function the same way: Python 3.11 on arm64, the core layer, X-Ray, JSON logs.

    Only functions that query the Parquet archive ask for the analytics layer (DuckDB, ~60 MB
    unzipped): the others stay small and start fast.

    Each function gets its own role that starts empty (no AWS managed policy) and only receives
    what the caller grants, plus write access to its own log group. The log group is explicit so
    its retention is part of the stack instead of a custom resource (the deprecated
    `log_retention`).
    """

    def __init__(
        self,
        *,
        layers: Layers,
        functions_dir: Path = constants.FUNCTIONS_DIR,
        log_retention: logs.RetentionDays = constants.LOG_RETENTION,
    ) -> None:
        self._layers = layers
        self.layers_by_function: dict[str, tuple[str, ...]] = {}  # `make layer` reports sizes from it
        self._functions_dir = functions_dir
        self._log_retention = log_retention

    def create(
        self,
        scope: Construct,
        name: str,
        *,
        description: str,
        environment: Mapping[str, str],
        memory_size: int = 256,
        timeout: Duration = _DEFAULT_TIMEOUT,
        reserved_concurrent_executions: int | None = None,
        ephemeral_storage_mib: int | None = None,
        analytics: bool = False,
    ) -> lambda_.Function:
        """Create the function for `functions/<name>/handler.py` inside its own construct `name`.

        `analytics=True` adds the analytics layer (DuckDB) for functions that query the archive.
        """
        layers: list[lambda_.ILayerVersion] = [self._layers.core]
        self.layers_by_function[name] = (layer_build.CORE,)
        if analytics:
            layers.append(self._layers.analytics)
            self.layers_by_function[name] = (layer_build.CORE, layer_build.ANALYTICS)
        container = Construct(scope, name)
        role = iam.Role(
            container,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{constants.SERVICE_NAME} {name}: only what the stack grants",
        )
        log_group = logs.LogGroup(container, "Logs", retention=self._log_retention)
        log_group.grant_write(role)
        function = lambda_.Function(
            container,
            "Function",
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_11,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_.Code.from_asset(str(self._functions_dir / name), exclude=["**/__pycache__"]),
            handler=constants.HANDLER,
            layers=layers,
            role=role,
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mib) if ephemeral_storage_mib else None,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            environment={
                "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
                "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
                **environment,
            },
        )
        Validations.of(container).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="Pinned to python3.11: the project and its layer (cp311 wheels) target 3.11.",
            ),
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason=(
                    "X-Ray PutTraceSegments/PutTelemetryRecords (added by active tracing) support no "
                    "resource-level permissions; every other statement is scoped to a resource."
                ),
            ),
        )
        return function
