"""Which profile does an event belong to, and which profiles does it prove are one person.

Pure decision over what the store knows: who owns each of the event's identifiers and which
identifiers those owners hold. Identifiers are taken in the workspace's priority order and
each one either joins the group (an unowned identifier is claimed, an owned one brings its
whole profile along) or, if that would break a rule (one member id per person, ...) or undo an
unmerge, is left where it is and reported as a conflict. The highest-priority identifiers
therefore decide. When the group holds several profiles the survivor is chosen
deterministically and the others are merged into it by the merge workflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from cdp.identity.identifiers import Identifier
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.profiles.model import Profile

REASON_SEPARATED = "unmerged_before"  # an admin split these two profiles; do not glue them again


@dataclass(frozen=True, slots=True)
class Conflict:
    identifier: Identifier
    owner: str | None  # the profile that owns it; None for an unowned identifier not attached
    reason: str = "max_per_type"


@dataclass(frozen=True, slots=True)
class Owner:
    """What the resolver needs to know about a profile that owns some of the event's identifiers."""

    profile_id: str
    created_at: str
    identifiers: frozenset[Identifier]


@dataclass(frozen=True, slots=True)
class Resolution:
    profile_id: str
    is_new: bool
    claim: list[Identifier]  # unowned identifiers to claim for profile_id
    conflicts: list[Conflict] = field(default_factory=list)
    merge_from: list[str] = field(default_factory=list)  # other profiles of this person, to merge in

    @property
    def attached(self) -> list[Identifier]:
        return self.claim


def owner_of(profile: Profile, *incoming: Profile) -> Owner:
    """`incoming`: profiles being merged into this one; their identifiers count against its limits."""
    return Owner(
        profile_id=profile.profile_id,
        created_at=profile.created_at,
        identifiers=frozenset(
            Identifier(d["type"], d["value"]) for p in (profile, *incoming) for d in p.identifiers.values()
        ),
    )


def new_profile_id(event_id: str) -> str:
    """Deterministic from the event that created the person: a replay re-derives the same id."""
    return "p_" + hashlib.sha256(event_id.encode()).hexdigest()[:26]


def choose_survivor(owners: Sequence[Owner]) -> Owner:
    """The profile with a member id (the brand's own key), else the oldest; ties by id."""
    return min(
        owners,
        key=lambda o: (not any(i.type == "member_id" for i in o.identifiers), o.created_at, o.profile_id),
    )


def separation_key(first: str, second: str) -> str:
    low, high = sorted((first, second))
    return f"{low}|{high}"


def resolve(
    identifiers: Sequence[Identifier],
    owners: Mapping[str, Owner],
    *,
    event_id: str,
    rules: IdentityRules = DEFAULT_RULES,
    separated: Collection[str] = (),
) -> Resolution:
    """`owners` maps identifier key -> the (root) profile owning it, for owned identifiers.

    `separated` holds `separation_key`s of profile pairs an unmerge split apart.
    """
    # Priority decides across types; within a type, the identifiers that name a known person
    # come before new ones, so a new value never pushes its own person out by sorting first.
    ordered = sorted(set(identifiers), key=lambda i: (rules.rank(i.type), i.type, i.key not in owners, i.value))
    group: list[Owner] = []
    held: set[Identifier] = set()
    claim: list[Identifier] = []
    conflicts: list[Conflict] = []
    for identifier in ordered:
        owner = owners.get(identifier.key)
        if owner is None:
            broken = rules.added_violations(held, {identifier})
            if broken:
                conflicts.append(Conflict(identifier, None, broken[0]))
            else:
                claim.append(identifier)
                held.add(identifier)
            continue
        if any(member.profile_id == owner.profile_id for member in group):
            continue
        if any(separation_key(member.profile_id, owner.profile_id) in separated for member in group):
            conflicts.append(Conflict(identifier, owner.profile_id, REASON_SEPARATED))
            continue
        broken = rules.added_violations(held, owner.identifiers)
        if broken:
            conflicts.append(Conflict(identifier, owner.profile_id, broken[0]))
            continue
        group.append(owner)
        held |= owner.identifiers
    if not group:
        return Resolution(profile_id=new_profile_id(event_id), is_new=True, claim=claim, conflicts=conflicts)
    survivor = choose_survivor(group)
    others = sorted(member.profile_id for member in group if member.profile_id != survivor.profile_id)
    return Resolution(profile_id=survivor.profile_id, is_new=False, claim=claim, conflicts=conflicts, merge_from=others)
