"""Journeys and their published versions.

Lifecycle: draft → published (an immutable version: definition, pinned template versions, its
state machine) → paused (no new entries; runs go on) → published again (resume) → archived (runs
end with reason `archived`). Editing a published journey edits its draft; publishing it makes the
next version, and new runs start there while running ones stay on theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from cdp.journeys.definition import JourneyDefinition, parse_definition

DRAFT = "draft"
PUBLISHED = "published"
PAUSED = "paused"
ARCHIVED = "archived"
STATUSES = (DRAFT, PUBLISHED, PAUSED, ARCHIVED)


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    journey_id: str
    version: int  # 1, 2, ...
    document: dict[str, Any]  # the validated definition as JSON
    templates: dict[str, int]  # template id -> the version pinned at publish
    published_at: str
    state_machine_arn: str | None = None

    @property
    def definition(self) -> JourneyDefinition:
        return parse_definition(self.document)

    def as_dict(self) -> dict[str, Any]:
        return {
            "journey_id": self.journey_id,
            "version": self.version,
            "document": self.document,
            "templates": dict(self.templates),
            "published_at": self.published_at,
            "state_machine_arn": self.state_machine_arn,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PublishedVersion:
        return cls(
            journey_id=data["journey_id"],
            version=int(data["version"]),
            document=data["document"],
            templates={key: int(value) for key, value in data.get("templates", {}).items()},
            published_at=data["published_at"],
            state_machine_arn=data.get("state_machine_arn"),
        )


@dataclass(frozen=True, slots=True)
class Journey:
    journey_id: str
    status: str  # draft, published, paused, archived
    draft: dict[str, Any]  # the definition being edited (validated on save)
    created_at: str
    updated_at: str
    live_version: int | None = None  # the version new entries start on (published / paused)
    versions: tuple[int, ...] = ()
    revision: int = 1  # compare-and-set on every write
    extra: dict[str, Any] = field(default_factory=dict)


class JourneyStore(Protocol):
    def get(self, journey_id: str) -> Journey | None: ...

    def version(self, journey_id: str, version: int) -> PublishedVersion | None: ...

    def live(self) -> list[PublishedVersion]:
        """The current version of every published (not paused, not archived) journey: what
        entries start runs of."""
        ...
