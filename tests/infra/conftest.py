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

    def validation_report(self) -> dict[str, Any]:
        path = self.outdir / "validation-report.json"
        return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}


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
