"""What the hot functions import at cold start: domain modules they do not use stay out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import importlib.util, json, sys\n"
    "spec = importlib.util.spec_from_file_location('handler', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def loaded_by(function: str) -> set[str]:
    # A fresh interpreter: in this one, other tests have imported everything already.
    path = ROOT / "functions" / function / "handler.py"
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", ["event_processor", "line_webhook", "ingest"])
def test_the_event_path_does_not_import_the_journey_domain(function: str) -> None:
    # The processor reads only the names live journeys listen to (cdp.adapters.dynamodb.journey_live).
    assert not {name for name in loaded_by(function) if name.startswith("cdp.journeys")}
