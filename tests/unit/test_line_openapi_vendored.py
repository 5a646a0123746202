"""The LINE webhook contract in code and fixtures against LINE's own spec (vendor/line-openapi)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from cdp.events.line_webhook import EVENT_MODES, KNOWN_EVENT_TYPES

from tests.fixtures.line_events import every_event

SPECS = Path(__file__).resolve().parents[2] / "vendor" / "line-openapi"


def _webhook_schemas() -> dict[str, Any]:
    spec = yaml.safe_load((SPECS / "webhook.yml").read_text(encoding="utf-8"))
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def test_known_event_types_are_the_spec_discriminator() -> None:
    mapping = _webhook_schemas()["Event"]["discriminator"]["mapping"]
    assert set(mapping) == KNOWN_EVENT_TYPES


def test_event_modes_are_the_spec_enum() -> None:
    assert tuple(_webhook_schemas()["EventMode"]["enum"]) == EVENT_MODES


def test_fixtures_cover_every_event_type_with_the_spec_required_fields() -> None:
    schemas = _webhook_schemas()
    required = set(schemas["Event"]["required"])
    events = every_event()
    # Every type of the spec (the fixtures add types LINE sends beyond it: stored as they are).
    assert {event["type"] for event in events} >= KNOWN_EVENT_TYPES
    for event in (event for event in events if event["type"] in KNOWN_EVENT_TYPES):
        assert required <= set(event), (event["type"], required - set(event))


def test_the_vendored_files_carry_their_licence_and_source() -> None:
    assert "Apache License" in (SPECS / "LICENSE").read_text(encoding="utf-8")
    readme = (SPECS / "README.md").read_text(encoding="utf-8")
    assert "https://github.com/line/line-openapi" in readme
    for name in ("webhook.yml", "messaging-api.yml", "manage-audience.yml"):
        assert (SPECS / name).is_file() and name in readme
