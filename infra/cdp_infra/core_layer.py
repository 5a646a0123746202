"""The Lambda layers: `core` (the `cdp` library, the `cdp_api` HTTP layer and their dependencies, every function) and
`analytics` (DuckDB, only the functions that query the Parquet archive).

A deploy needs the layers `make layer` builds (infra/layer_build.py); the code-only sources in
layers/ are enough to synthesize for tests and the local runtime, which import the third-party
packages from the development environment instead. Which of the two a synth uses is always the
caller's explicit choice (`LayerAssets.built()` or `LayerAssets.code_only()`): nothing falls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import layer_build
from infra.cdp_infra import constants

# Editable-install metadata and bytecode are not part of the runtime package.
_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/*.egg-info"]


class LayerNotBuilt(RuntimeError):
    """A deploy synth without the layers `make layer` builds: every function would fail at import."""


@dataclass(frozen=True, slots=True)
class LayerAssets:
    """The directories the two layer versions are made from."""

    core: Path
    analytics: Path
    built_for_lambda: bool

    @classmethod
    def built(cls, build_dir: Path | None = None) -> LayerAssets:
        """The layers `make layer` built (in .build/), current with the code; refuses otherwise."""
        build_dir = build_dir or layer_build.BUILD_DIR
        reason = layer_build.stale_reason(build_dir)
        if reason is not None:
            raise LayerNotBuilt(
                f"{reason}. Run `make layer` first: it builds both Lambda layers (arm64, python3.11); "
                "without them every deployed function fails at import."
            )
        return cls(
            core=layer_build.layer_dir(layer_build.CORE, build_dir),
            analytics=layer_build.layer_dir(layer_build.ANALYTICS, build_dir),
            built_for_lambda=True,
        )

    @classmethod
    def code_only(cls) -> LayerAssets:
        """The code alone, for tests and the local runtime: synthesizes anywhere, deploys nowhere."""
        return cls(
            core=constants.LAYER_SOURCE_DIR, analytics=constants.ANALYTICS_LAYER_SOURCE_DIR, built_for_lambda=False
        )


class Layers(Construct):
    """One version of each layer, shared by the functions that carry it."""

    def __init__(self, scope: Construct, construct_id: str, *, assets: LayerAssets) -> None:
        super().__init__(scope, construct_id)
        self.core = self._layer(
            "Layer",
            assets.core,
            "cdp domain library, cdp_api HTTP layer and their runtime dependencies (python3.11, arm64)",
        )
        self.analytics = self._layer(
            "Analytics", assets.analytics, "DuckDB for the functions that query the Parquet archive (python3.11, arm64)"
        )

    def _layer(self, construct_id: str, asset_dir: Path, description: str) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            construct_id,
            code=lambda_.Code.from_asset(str(asset_dir), exclude=_EXCLUDE),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_11],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description=description,
            # Functions already deployed keep pointing at their version; old versions go away.
            removal_policy=RemovalPolicy.DESTROY,
        )
