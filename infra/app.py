"""CDK app entry point (`cdk.json`: `python -m infra.app`, run from the repository root)."""

from __future__ import annotations

import os

from infra.cdp_infra.app_factory import build_app


def main() -> None:
    # The CDK CLI passes CDK_OUTDIR; run directly, write to ./cdk.out like the CLI would.
    outdir = None if os.environ.get("CDK_OUTDIR") else "cdk.out"
    build_app(outdir=outdir).synth()


if __name__ == "__main__":
    main()
