"""Merge pointers: from the profiles that own an event's identifiers to the profiles they are now.

A merged profile keeps a pointer to its survivor (`merged_into`), and a profile being merged
points to where new events go (`merging_into`), so an identifier claim that has not moved yet
still leads to the right person. Used by the event processor before it resolves identity.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cdp.identity.resolver import separation_key
from cdp.profiles.model import Profile

MAX_POINTER_HOPS = 8  # merged profiles leave a pointer; a chain longer than this is corrupt


class RootStore(Protocol):
    def get(self, profile_id: str) -> Profile | None: ...

    def load(self, profile_ids: Sequence[str], separations: Sequence[str] = ()) -> tuple[dict[str, Profile], set[str]]:
        """Profiles, and which of the given separation keys are recorded, in one read."""
        ...

    def separated(self, keys: Sequence[str]) -> set[str]: ...


class BrokenPointer(RuntimeError):
    """A claim or pointer leads to a missing profile, or through too many merges: the data is
    mid-change (or corrupt), so the caller fails and retries rather than guess."""


@dataclass(slots=True)
class Roots:
    # each owning profile id and each root's own id -> the root profile (loaded for this read only)
    by_owner: dict[str, Profile]
    separated: set[str]  # separation keys (`separation_key`) an unmerge recorded among them
    # merges under way that the pointers passed through: (survivor, loser, merge id), by merge id
    resume: list[tuple[str, str, str]]


def pairs(profile_ids: set[str]) -> list[str]:
    return [separation_key(a, b) for a, b in itertools.combinations(sorted(profile_ids), 2)]


def follow_roots(store: RootStore, profile_ids: set[str]) -> Roots:
    """Each owning profile and, keyed by its id, the profile it was merged (or is merging) into;
    and which pairs of those roots an unmerge separated.

    Owners are usually roots already (a merge moves the claims), so the separation records
    of the owners' pairs are read in the same request as the profiles.
    """
    separations = pairs(profile_ids)
    loaded, separated = store.load(sorted(profile_ids), separations) if profile_ids else ({}, set())
    missing = profile_ids - set(loaded)
    if missing:
        raise BrokenPointer(f"identifiers point at missing profiles {sorted(missing)}")
    roots: dict[str, Profile] = {}
    resume: dict[str, tuple[str, str, str]] = {}
    for profile_id in profile_ids:
        profile = loaded[profile_id]
        for _hop in range(MAX_POINTER_HOPS + 1):
            pointer = profile.merged_into or profile.merging_into
            if not pointer:
                break
            if _hop == MAX_POINTER_HOPS:
                raise BrokenPointer(f"{profile_id} points through more than {MAX_POINTER_HOPS} merges")
            if profile.merging_into and profile.merging_by:
                resume[profile.merging_by] = (profile.merging_into, profile.profile_id, profile.merging_by)
            target = loaded.get(pointer) or store.get(pointer)
            if target is None:
                raise BrokenPointer(f"{profile.profile_id} points at missing profile {pointer}")
            loaded[pointer] = profile = target
        roots[profile_id] = profile
        roots[profile.profile_id] = profile
    for root in {root.profile_id: root for root in roots.values()}.values():
        # The survivor's side of a merge under way: its claims may already have moved, so no
        # event passes through the loser's pointer any more.
        merges = [merge_id for merge_id in root.pending_merges if not merge_id.startswith("unmerge:")]
        losers = root.incoming_from if len(root.incoming_from) == len(merges) else [""] * len(merges)
        for merge_id, loser in zip(merges, losers, strict=True):
            resume.setdefault(merge_id, (root.profile_id, loser, merge_id))
    unread = sorted(set(pairs({root.profile_id for root in roots.values()})) - set(separations))
    if unread:
        separated |= store.separated(unread)
    return Roots(roots, separated, [resume[merge_id] for merge_id in sorted(resume)])
