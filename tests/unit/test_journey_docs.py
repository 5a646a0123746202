"""docs/journeys.md shows the definitions the e2e tests run: each `<!-- fixture: name -->` block
is tests/fixtures/journeys/<name>.json, every fixture is shown, and each passes the checks on save."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cdp.journeys.validation import check_document

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- fixture: (?P<name>[a-z0-9-]+) -->\n```json\n(?P<body>.*?)\n```", re.DOTALL)


def test_the_worked_examples_are_the_e2e_fixtures() -> None:
    text = (ROOT / "docs" / "journeys.md").read_text()
    shown = {match["name"]: json.loads(match["body"]) for match in BLOCK.finditer(text)}
    fixtures = {path.stem: json.loads(path.read_text()) for path in (ROOT / "tests/fixtures/journeys").glob("*.json")}
    assert shown == fixtures
    for document in fixtures.values():
        check_document(document, None)  # the graph rules too (templates are the tests' own)
