"""The `cdp` domain library as a Lambda layer, shared by every function."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.cdp_infra import constants

# Editable-install metadata and bytecode are not part of the runtime package.
_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/*.egg-info"]


def default_layer_asset() -> Path:
    """The built layer (`make layer`: cdp plus its dependencies) if present, else the code alone.

    The code-only fallback keeps synth and tests working on a fresh clone; a deploy needs the
    built layer, which is why `make deploy` depends on `make layer`.
    """
    return constants.LAYER_BUILD_DIR if constants.LAYER_BUILD_DIR.is_dir() else constants.LAYER_SOURCE_DIR


class CoreLayer(Construct):
    """One layer version for all functions, so handlers stay a few lines and deploy fast."""

    def __init__(self, scope: Construct, construct_id: str, *, asset_dir: Path) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(str(asset_dir), exclude=_EXCLUDE),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="cdp domain library and its runtime dependencies (python3.11, arm64)",
            # Functions already deployed keep pointing at their version; old versions go away.
            removal_policy=RemovalPolicy.DESTROY,
        )
