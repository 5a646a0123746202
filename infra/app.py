"""CDK app entry point (`cdk.json`: `python -m infra.app`, run from the repository root).

This is the deploy path: it needs the layers `make layer` builds and refuses without them.
Tests and the local runtime build the app themselves with code-only layers.
"""

from __future__ import annotations

import os
import sys

from infra.cdp_infra.app_factory import build_app
from infra.cdp_infra.core_layer import LayerAssets, LayerNotBuilt
from infra.cdp_infra.deploy_settings import DeploySettingsError


def main() -> int:
    # The CDK CLI passes CDK_OUTDIR; run directly, write to ./cdk.out like the CLI would.
    outdir = None if os.environ.get("CDK_OUTDIR") else "cdk.out"
    try:
        app = build_app(
            layers=LayerAssets.built(), account=os.environ.get("CDK_DEFAULT_ACCOUNT") or None, outdir=outdir
        )
    except (LayerNotBuilt, DeploySettingsError) as exc:
        print(f"\nRefusing to synthesize LineCdp: {exc}\n", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
