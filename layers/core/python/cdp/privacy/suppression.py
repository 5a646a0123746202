"""Suppression: the hashed identifiers of erased people, so later events about them are dropped.

An erase stores a digest of each identifier key (`phone#+886912345678`), never the identifier:
an event whose identifiers hash to a stored digest is dropped before identity resolution (it
would rebuild the person) and counted on the erase record. The brand lifts a suppression through
the API when the person comes back (e.g. signs up again); later events then build a new profile.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

# Domain-separated so the digests match no other hash of the same text the product keeps
# (audience exports hash phones and emails for ad platforms with plain SHA-256).
_DOMAIN = b"cdp-erase-suppression-v1\x00"


def identifier_digest(identifier_key: str) -> str:
    """The stored form of one identifier key (`type#value`)."""
    return hashlib.sha256(_DOMAIN + identifier_key.encode()).hexdigest()


def profile_digest(profile_id: str) -> str:
    """How an erase record points back to the profile ids it erased (GET by id, a second erase)."""
    return hashlib.sha256(b"cdp-erased-profile-v1\x00" + profile_id.encode()).hexdigest()


class Suppressions(Protocol):
    def add(self, digests: Sequence[str], erase_id: str, at: str) -> None:
        """Suppress these digests on behalf of one erase (idempotent)."""
        ...

    def matching(self, digests: Sequence[str]) -> dict[str, str]:
        """Of these digests, the suppressed ones -> the erase that suppressed them (consistent read)."""
        ...

    def lift(self, erase_id: str) -> int:
        """Stop suppressing what this erase suppressed; how many digests were lifted."""
        ...

    def drop(self, erase_id: str, event_id: str) -> bool:
        """Delete the suppressed raw event and count it on the erase, at once; False (nothing
        counted) when it was dropped before: a redelivered stream record counts once."""
        ...


class SuppressionCheck:
    """The event processor's question: is this event about an erased person?"""

    def __init__(self, suppressions: Suppressions) -> None:
        self._suppressions = suppressions

    def erase_of(self, identifier_keys: Iterable[str]) -> str | None:
        """The erase whose suppression covers any of these identifiers (None: not suppressed)."""
        digests = sorted({identifier_digest(key) for key in identifier_keys})
        if not digests:
            return None
        found = self._suppressions.matching(digests)
        return found[min(found)] if found else None

    def drop(self, erase_id: str, event_id: str) -> bool:
        return self._suppressions.drop(erase_id, event_id)
