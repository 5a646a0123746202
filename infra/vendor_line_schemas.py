"""Extracts the LINE message object schemas from the vendored messaging-api.yml into the package.

`python -m infra.vendor_line_schemas` rewrites layers/core/python/cdp/messaging/templates/
line_message_schemas.json: the component schemas every message object reaches, copied as the spec
states them, so the Lambda layer carries them as JSON (no YAML reader at run time) and
tests/unit/test_template_line_schema.py fails when they and the vendored spec drift apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "vendor" / "line-openapi" / "messaging-api.yml"
TARGET = ROOT / "layers" / "core" / "python" / "cdp" / "messaging" / "templates" / "line_message_schemas.json"
REF_PREFIX = "#/components/schemas/"


def extract(spec: dict[str, Any]) -> dict[str, Any]:
    """`Message` and every component schema it reaches through `$ref` or a discriminator mapping,
    plus the request's message count limits (`PushMessageRequest.messages`)."""
    schemas: dict[str, Any] = spec["components"]["schemas"]
    found: dict[str, Any] = {}
    pending = ["Message"]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = schemas[name]
        pending.extend(_references(schemas[name]))
    messages = schemas["PushMessageRequest"]["properties"]["messages"]
    return {
        "source": "vendor/line-openapi/messaging-api.yml",
        "messages": {"minItems": messages["minItems"], "maxItems": messages["maxItems"]},
        "schemas": dict(sorted(found.items())),
    }


def _references(node: Any) -> list[str]:
    names: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                names.append(value.removeprefix(REF_PREFIX))
            elif key == "mapping" and isinstance(value, dict):
                names.extend(str(ref).removeprefix(REF_PREFIX) for ref in value.values())
            else:
                names.extend(_references(value))
    elif isinstance(node, list):
        for item in node:
            names.extend(_references(item))
    return names


def render(spec_path: Path = SPEC) -> str:
    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    return json.dumps(extract(spec), ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def main() -> int:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
