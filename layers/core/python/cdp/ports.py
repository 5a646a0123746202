"""Ports: the small protocols the domain talks to. Adapters live in cdp.adapters; tests use fakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from cdp.domain_events import DomainEvent
from cdp.events.raw import RawEvent


class RawEventStore(Protocol):
    def store_once(self, events: Sequence[RawEvent]) -> list[bool]:
        """Store each event unless its id is already stored. True where this call stored it."""
        ...


class SecretSource(Protocol):
    def get_json(self, secret_id: str) -> Any:
        """The secret's value parsed as JSON (cached by the adapter)."""
        ...

    def get_text(self, secret_id: str) -> str: ...

    def refresh(self, secret_id: str) -> None:
        """Forget any cached value: the next read goes to the store."""
        ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish domain events; raise if any entry was not accepted."""
        ...


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SqlWarehouse(Protocol):
    """Runs one SQL query elsewhere (Athena) and returns its rows as text (NULL as None)."""

    def rows(self, sql: str) -> list[tuple[str | None, ...]]: ...
