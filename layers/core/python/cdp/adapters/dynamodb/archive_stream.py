"""Core-table stream records -> archive rows (cdp.archive.rows).

Only profile documents (PROFILE#<id> / PROFILE) and timeline entries (PROFILE#<id> / EVENT#...)
are archived; every other item of the single table is skipped. A stream batch becomes one
profile file and one event file whose name is a hash of the batch's sequence numbers, so a
redelivered batch overwrites its own files instead of adding copies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cdp.adapters.dynamodb.profile_store import profile_from_item, read_document
from cdp.archive.rows import event_removal, event_row, padded_seq, profile_removal, profile_row
from cdp.clock import SystemClock

PROFILE_PREFIX = "PROFILE#"
PROFILE_SK = "PROFILE"
EVENT_PREFIX = "EVENT#"


@dataclass(slots=True)
class ArchiveBatch:
    profiles: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    sequence_numbers: list[str] = field(default_factory=list)
    first_change_at: datetime | None = None

    @property
    def name(self) -> str:
        digest = hashlib.sha256("\n".join(sorted(self.sequence_numbers)).encode()).hexdigest()
        return digest[:32]

    @property
    def day(self) -> str:
        return (self.first_change_at or SystemClock().now()).strftime("%Y-%m-%d")


def archive_batch(records: Iterable[Mapping[str, Any]]) -> ArchiveBatch:
    batch = ArchiveBatch()
    for record in records:
        change = record.get("dynamodb") or {}
        keys = change.get("Keys") or {}
        pk, sk = keys.get("pk", {}).get("S", ""), keys.get("sk", {}).get("S", "")
        if not pk.startswith(PROFILE_PREFIX) or not (sk == PROFILE_SK or sk.startswith(EVENT_PREFIX)):
            continue
        seq = padded_seq(str(change["SequenceNumber"]))
        changed_at = datetime.fromtimestamp(float(change.get("ApproximateCreationDateTime", 0)), tz=UTC)
        batch.sequence_numbers.append(seq)
        if batch.first_change_at is None or changed_at < batch.first_change_at:
            batch.first_change_at = changed_at
        profile_id = pk.removeprefix(PROFILE_PREFIX)
        removed = record.get("eventName") == "REMOVE"
        if sk == PROFILE_SK:
            if removed:
                batch.profiles.append(profile_removal(profile_id, seq))
            else:
                batch.profiles.append(profile_row(profile_from_item(change["NewImage"]), seq, changed_at))
        elif removed:
            batch.events.append(event_removal(profile_id, _event_id(sk), seq))
        else:
            batch.events.append(event_row(profile_id, read_document(change["NewImage"]), seq))
    return batch


def _event_id(sort_key: str) -> str:
    """EVENT#<timestamp>#<event id>: the id is everything after the timestamp (which holds no `#`)."""
    return sort_key.split("#", 2)[2]
