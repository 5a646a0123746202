"""Which archive files a query reads (kept apart from DuckDB so listing them does not load it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROFILES = "profiles"  # archive/<kind>/ of profile changes
EVENTS = "events"  # archive/<kind>/ of timeline changes


@dataclass(frozen=True, slots=True)
class ArchiveFiles:
    profiles: tuple[Path, ...]
    events: tuple[Path, ...]
