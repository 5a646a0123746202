"""Builds the CDK app in-process, for `cdk synth`, the tests and the local runtime alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.cdp_infra import constants
from infra.cdp_infra.core_layer import default_layer_asset
from infra.cdp_infra.stack import CdpStack


def _context() -> dict[str, Any]:
    """What `cdk synth` would pass: cdk.json's context (feature flags) and path metadata.

    Path metadata (`aws:cdk:path` on each resource) is on by default in the CLI; the local
    runtime reads it to map Lambda logical ids back to `functions/<name>`.
    """
    context: dict[str, Any] = json.loads(constants.CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    return {**context, "aws:cdk:enable-path-metadata": True}


def build_app(
    *,
    local: bool = False,
    layer_asset: str | Path | None = None,
    outdir: str | None = None,
) -> cdk.App:
    """Create the app with the `LineCdp` stack and cdk-nag's AwsSolutions checks registered.

    `local=True` drops the bootstrap-version rule and parameter, which only make sense in a
    bootstrapped AWS account and which moto's CloudFormation cannot evaluate. `layer_asset`
    overrides the layer directory (default: `.build/layer` if built, else `layers/core`).
    Call `app.synth()`: it fails if any AwsSolutions finding is not acknowledged.
    """
    app = cdk.App(context=_context(), outdir=outdir)
    synthesizer = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local)
    CdpStack(
        app,
        constants.STACK_NAME,
        layer_asset=Path(layer_asset) if layer_asset is not None else default_layer_asset(),
        synthesizer=synthesizer,
        description="LINE-centric Customer Data Platform (serverless)",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app
