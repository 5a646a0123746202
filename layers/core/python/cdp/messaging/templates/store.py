"""The template store port: a template's record and its immutable versions.

Adapters: cdp.adapters.dynamodb.templates (single table) and tests/fakes.py (in memory); both pass
tests/integration/contract/test_template_store.py.
"""

from __future__ import annotations

from typing import Protocol

from cdp.messaging.templates.model import Template, TemplateVersion


class TemplateStore(Protocol):
    def create(self, template: Template, first: TemplateVersion) -> bool:
        """Store a new template with its version 1; False when the id is taken (archived ones too)."""
        ...

    def replace(
        self, template: Template, *, expected_version: int, expected_status: str, new_version: TemplateVersion | None
    ) -> bool:
        """Write the record (and `new_version`, when given) if the stored record still has
        `expected_version` as its latest version and `expected_status`; False otherwise."""
        ...

    def get(self, template_id: str) -> Template | None: ...

    def version(self, template_id: str, version: int) -> TemplateVersion | None: ...

    def versions(self, template_id: str) -> list[tuple[int, str]]:
        """(version, created_at) of every version, oldest first."""
        ...

    def templates(self) -> list[Template]:
        """Every template, by id."""
        ...
