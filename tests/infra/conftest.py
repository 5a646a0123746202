"""Synthesize the stack once per session (a synth costs ~5 s) and share the result."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass(frozen=True)
class Synth:
    """What one synth produced; `error` holds the cdk-nag failure, if any, so other tests still run."""

    outdir: Path
    template: dict[str, Any]
    metadata: dict[str, list[dict[str, Any]]]
    error: str | None

    def flattened(self, *nested_stacks: str) -> dict[str, Any]:
        """The main template with these nested stacks' resources folded in, as if they were one
        stack: each nested parameter replaced by what the parent passes, each output the parent
        reads replaced by its value. Tests then compare alarms with functions as before."""
        resources = dict(self.template["Resources"])
        nested_outputs: dict[tuple[str, str], Any] = {}
        for logical_id, resource in self.template["Resources"].items():
            if resource["Type"] != "AWS::CloudFormation::Stack" or not logical_id.startswith(nested_stacks):
                continue
            del resources[logical_id]
            nested = json.loads(_nested_file(self.outdir, resource).read_text())
            parameters = resource["Properties"].get("Parameters", {})
            nested = _substitute(nested, parameters.get)
            resources.update(nested["Resources"])
            for name, output in nested.get("Outputs", {}).items():
                nested_outputs[(logical_id, f"Outputs.{name}")] = output["Value"]

        def from_nested(node: Any) -> Any:
            if isinstance(node, dict):
                if set(node) == {"Fn::GetAtt"} and tuple(node["Fn::GetAtt"]) in nested_outputs:
                    return nested_outputs[tuple(node["Fn::GetAtt"])]
                return {key: from_nested(value) for key, value in node.items()}
            if isinstance(node, list):
                return [from_nested(value) for value in node]
            return node

        return from_nested({**self.template, "Resources": resources})

    def validation_report(self) -> dict[str, Any]:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}


def _nested_file(outdir: Path, resource: dict[str, Any]) -> Path:
    """A nested stack's template: `<Stack><Construct><hash>.nested.template.json`."""
    stack, construct = resource["Metadata"]["aws:cdk:path"].split("/")[:2]
    (path,) = outdir.glob(f"{stack}{construct.removesuffix('.NestedStack')}*.nested.template.json")
    return path


def _substitute(node: Any, value_of: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and value_of(node["Ref"]) is not None:
            return value_of(node["Ref"])
        return {key: _substitute(value, value_of) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, value_of) for value in node]
    return node


def _synthesize(outdir: Path, *, local: bool) -> Synth:
    from infra.cdp_infra.app_factory import build_app
    from infra.cdp_infra.constants import STACK_NAME
    from infra.cdp_infra.core_layer import LayerAssets

    # The code-only layers keep the synth fast and independent of `make layer`.
    app = build_app(layers=LayerAssets.code_only(), local=local, outdir=str(outdir))
    error = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag findings fail the synth after the files are written
        if "ValidationFailed" not in str(exc):
            raise
        error = str(exc)
    return Synth(
        outdir=outdir,
        template=json.loads((outdir / f"{STACK_NAME}.template.json").read_text()),
        metadata=json.loads((outdir / f"{STACK_NAME}.metadata.json").read_text()),
        error=error,
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synthesize(tmp_path_factory.mktemp("cdk.out"), local=False)


@pytest.fixture(scope="session")
def local_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synthesize(tmp_path_factory.mktemp("cdk.out.local"), local=True)


@pytest.fixture(scope="session")
def template(synth: Synth) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template)
