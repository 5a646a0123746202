"""LINE account link: single-use nonces that tie a LINE user to the member the brand's site vouched for.

The brand's site asks for a link token for a LINE user while that member is logged in; the nonce
issued here goes into LINE's account-link URL and comes back in the `accountLink` webhook. Only
consuming it proves that the LINE user who finished the link is the member it was issued for
(DESIGN.md "Identity"), so a nonce is random, short-lived, bound to one LINE user, and usable by
exactly one webhook event (a stream replay of that same event stays ok).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cdp.clock import epoch_seconds, iso_from_ms
from cdp.errors import StoreUnavailable
from cdp.ports import Clock

# LINE accepts nonces of 10-255 characters and asks for at least 128 bits of randomness.
NONCE_MIN_LENGTH = 10
NONCE_MAX_LENGTH = 255
NONCE_BYTES = 32  # 256 bits -> 43 URL-safe base64 characters
DEFAULT_TTL_SECONDS = 600  # LINE's link token lives 10 minutes; the nonce need not outlive it
# A consumed nonce is kept this long (the stream retries a record for up to a day) so a replay
# of the consuming event is still ok and any other use is named `already_used`, not `unknown_nonce`.
CONSUMED_RETENTION_SECONDS = 7 * 86400

LinkFailure = Literal["unknown_nonce", "expired", "already_used", "line_user_mismatch", "link_failed"]


@dataclass(frozen=True, slots=True)
class LinkNonce:
    nonce: str
    expires_at: str  # ISO-8601 UTC; refused from this instant on (once consumed: when the record is dropped)
    member_id: str
    line_user_id: str
    channel: str
    provider: str = ""  # the LINE provider that scopes `line_user_id`
    created_at: str = ""
    consumed_by: str | None = None  # the webhook event id that used it


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    member_id: str | None  # set when the nonce was valid and is now consumed by this event
    reason: str | None  # None when ok; else one of LinkFailure


class LinkNonceStore(Protocol):
    def create(self, nonce: LinkNonce) -> bool:
        """Store a new, unconsumed nonce; False if that nonce exists (never overwrite)."""
        ...

    def consume(
        self, nonce: str, *, line_user_id: str, event_id: str, now_seconds: int, retain_until_seconds: int
    ) -> tuple[bool, LinkNonce | None]:
        """In one atomic step, mark the nonce consumed by `event_id` if it is already consumed by
        `event_id`, or if it is unconsumed, issued for `line_user_id` and valid at `now_seconds`;
        a consumed nonce is then kept until `retain_until_seconds`.

        Answers (whether it is now consumed by `event_id`, the stored nonce or None if there is none).
        """
        ...


def generate_nonce() -> str:
    return secrets.token_urlsafe(NONCE_BYTES)


class AccountLinks:
    def __init__(
        self,
        store: LinkNonceStore,
        clock: Clock,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        new_nonce: Callable[[], str] = generate_nonce,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._store = store
        self._clock = clock
        self._ttl_seconds = ttl_seconds
        self._new_nonce = new_nonce

    def issue(self, *, channel: str, provider: str, line_user_id: str, member_id: str) -> LinkNonce:
        now_ms = self._clock.now_ms()
        expires_at_seconds = now_ms // 1000 + self._ttl_seconds  # whole seconds: the store keeps epoch seconds
        nonce = LinkNonce(
            nonce=self._new_nonce(),
            expires_at=iso_from_ms(expires_at_seconds * 1000),
            member_id=member_id,
            line_user_id=line_user_id,
            channel=channel,
            provider=provider,
            created_at=iso_from_ms(now_ms),
        )
        if not NONCE_MIN_LENGTH <= len(nonce.nonce) <= NONCE_MAX_LENGTH:
            raise ValueError(f"a nonce must have {NONCE_MIN_LENGTH}-{NONCE_MAX_LENGTH} characters")
        if not self._store.create(nonce):
            # 256 random bits do not collide; if they ever seem to, the generator is broken.
            raise StoreUnavailable("a freshly generated link nonce already exists", code="nonce_collision")
        return nonce

    def consume(self, *, nonce: str, line_user_id: str, event_id: str) -> LinkOutcome:
        if not event_id:
            raise ValueError("event_id is required: it makes a replay of the same event idempotent")
        if not isinstance(nonce, str) or not NONCE_MIN_LENGTH <= len(nonce) <= NONCE_MAX_LENGTH:
            return LinkOutcome(None, "unknown_nonce")  # nothing we issued looks like this
        now_seconds = self._clock.now_ms() // 1000
        consumed, stored = self._store.consume(
            nonce,
            line_user_id=line_user_id,
            event_id=event_id,
            now_seconds=now_seconds,
            retain_until_seconds=now_seconds + CONSUMED_RETENTION_SECONDS,
        )
        if consumed and stored is not None:
            return LinkOutcome(stored.member_id, None)
        return LinkOutcome(
            None, _refusal(stored, line_user_id=line_user_id, event_id=event_id, now_seconds=now_seconds)
        )

    def consume_event(self, payload: Mapping[str, Any], *, event_id: str) -> LinkOutcome:
        """An `accountLink` webhook event as LINE sends it (a failed link has no `source`)."""
        link = payload.get("link")
        link = link if isinstance(link, Mapping) else {}
        if link.get("result") != "ok":
            return LinkOutcome(None, "link_failed")  # the nonce stays unused: LINE did not link anyone
        source = payload.get("source")
        user_id = source.get("userId") if isinstance(source, Mapping) else None
        if not isinstance(user_id, str) or not user_id:
            return LinkOutcome(None, "line_user_mismatch")
        nonce = link.get("nonce")
        return self.consume(nonce=nonce if isinstance(nonce, str) else "", line_user_id=user_id, event_id=event_id)


def _refusal(stored: LinkNonce | None, *, line_user_id: str, event_id: str, now_seconds: int) -> LinkFailure:
    """Why a consume was refused, read from the nonce as the failed condition saw it.

    A nonce used by another event is reported as reuse even once expired, and a LINE user other
    than the one it was issued for as a mismatch: both say more than `expired` about an attack.
    """
    if stored is None:
        return "unknown_nonce"
    if stored.consumed_by is not None and stored.consumed_by != event_id:
        return "already_used"
    if stored.line_user_id != line_user_id:
        return "line_user_mismatch"
    if now_seconds >= epoch_seconds(stored.expires_at):
        return "expired"
    # The store refused a nonce that meets every condition: it changed meanwhile; a retry reads it again.
    raise StoreUnavailable("the link nonce changed while it was consumed; retry", code="nonce_race")
