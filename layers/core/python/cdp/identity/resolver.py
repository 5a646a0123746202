"""Which profile does an event belong to, given who already owns its identifiers.

Pure decision; the store does the conditional claims. When identifiers are spread over
several profiles, the highest-priority owned identifier decides and the others are reported
as conflicts (the merge workflow resolves them; until then they stay where they are).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdp.identity.identifiers import DEFAULT_PRIORITY, Identifier


@dataclass(frozen=True, slots=True)
class Conflict:
    identifier: Identifier
    owner: str  # the other profile that owns it


@dataclass(frozen=True, slots=True)
class Resolution:
    profile_id: str
    is_new: bool
    claim: list[Identifier]  # unowned identifiers to claim for profile_id
    conflicts: list[Conflict] = field(default_factory=list)


def new_profile_id(event_id: str) -> str:
    """Deterministic from the event that created the person: a replay re-derives the same id."""
    return "p_" + hashlib.sha256(event_id.encode()).hexdigest()[:26]


def resolve(
    identifiers: Sequence[Identifier],
    owners: Mapping[str, str],
    *,
    event_id: str,
    priority: Sequence[str] = DEFAULT_PRIORITY,
) -> Resolution:
    rank = {id_type: index for index, id_type in enumerate(priority)}
    ordered = sorted(identifiers, key=lambda i: (rank.get(i.type, len(rank)), i.value))
    owned = [i for i in ordered if i.key in owners]
    unowned = [i for i in ordered if i.key not in owners]
    if not owned:
        return Resolution(profile_id=new_profile_id(event_id), is_new=True, claim=unowned)
    profile_id = owners[owned[0].key]
    conflicts = [Conflict(i, owners[i.key]) for i in owned if owners[i.key] != profile_id]
    return Resolution(profile_id=profile_id, is_new=False, claim=unowned, conflicts=conflicts)
