"""Builds the CDK app in-process, for `cdk synth`, the tests and the local runtime alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.cdp_infra import constants
from infra.cdp_infra.core_layer import LayerAssets
from infra.cdp_infra.deploy_settings import DeploySettings
from infra.cdp_infra.stack import CdpStack


def _context() -> dict[str, Any]:
    """What `cdk synth` would pass: cdk.json's context (feature flags, deploy settings) and path metadata.

    Path metadata (`aws:cdk:path` on each resource) is on by default in the CLI; the local
    runtime reads it to map Lambda logical ids back to `functions/<name>`.
    """
    context: dict[str, Any] = json.loads(constants.CDK_JSON.read_text(encoding="utf-8")).get("context", {})
    return {**context, "aws:cdk:enable-path-metadata": True}


def build_app(
    *,
    layers: LayerAssets,
    local: bool = False,
    account: str | None = None,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
) -> cdk.App:
    """Create the app with the `LineCdp` stack and cdk-nag's AwsSolutions checks registered.

    `layers` is always explicit: `LayerAssets.built()` for a deploy (refuses without `make layer`),
    `LayerAssets.code_only()` for tests and the local runtime. `local=True` drops the
    bootstrap-version rule and parameter, which only make sense in a bootstrapped AWS account and
    which moto's CloudFormation cannot evaluate. Deploy settings come from cdk.json's context, the
    CLI's `-c key=value` (which override cdk.json) and then `context` (which overrides both);
    `account` is the CLI's CDK_DEFAULT_ACCOUNT. Raises `DeploySettingsError` on a setting that
    cannot work. Call `app.synth()`: it fails if any AwsSolutions finding is not acknowledged.
    """
    app = cdk.App(context=_context(), post_cli_context=dict(context or {}), outdir=outdir)
    deploy = DeploySettings.of(app, account=account)
    synthesizer = cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=not local)
    CdpStack(
        app,
        constants.STACK_NAME,
        layer_assets=layers,
        env=cdk.Environment(account=deploy.account, region=deploy.region),
        synthesizer=synthesizer,
        description="LINE-centric Customer Data Platform (serverless)",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def function_layers() -> dict[str, list[str]]:
    """Which layers each function carries (`core`, `analytics`), from the stack as built."""
    app = build_app(layers=LayerAssets.code_only())
    stack = app.node.find_child(constants.STACK_NAME)
    assert isinstance(stack, CdpStack)
    return {name: list(layers) for name, layers in stack.factory.layers_by_function.items()}
