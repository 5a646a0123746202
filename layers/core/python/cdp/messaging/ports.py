"""The send point's ports: its ledger of send keys, frequency-cap counters, suppression list,
release schedules, workspace policy and the providers. Adapters in cdp.adapters; fakes in tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from cdp.messaging.content import Channel, EmailContent
from cdp.messaging.policy import CapCounter, MessagingPolicy

State = Literal["held", "claimed", "sent", "suppressed", "failed"]
TERMINAL: frozenset[str] = frozenset({"sent", "suppressed", "failed"})
Via = Literal["push", "multicast", "reply", "email", "sms"]


@dataclass(frozen=True, slots=True)
class SendRecord:
    """What the ledger keeps per send key. `claimed` means the provider may have been called and
    its answer is not recorded yet: the only state a resumed send calls the provider from."""

    send_key: str
    state: State
    profile_id: str
    at_ms: int  # when this state was written
    channel: Channel | None = None
    to: str | None = None
    via: Via | None = None
    retry_key: str | None = None  # LINE's X-Line-Retry-Key (UUID v5 of the send key, or the batch's)
    batch_id: str | None = None  # a multicast this recipient is part of
    payload: dict[str, Any] | None = None  # the rendered provider payload, resent as it was
    template_id: str | None = None
    template_version: int | None = None
    cap_keys: tuple[str, ...] = ()  # counters taken, given back if the send does not happen
    held_until_ms: int | None = None
    reason: str | None = None
    detail: str | None = None
    cost_units: int = 0
    provider_id: str | None = None  # LINE request id, SES message id, SNS message id
    extra: dict[str, Any] = field(default_factory=dict)  # what the outcome event carries besides

    def moved(self, state: State, at_ms: int, **changes: Any) -> SendRecord:
        return replace(self, state=state, at_ms=at_ms, **changes)


@dataclass(frozen=True, slots=True)
class MulticastBatch:
    """Recipients of one multicast request (identical rendered content), kept before the call so a
    resumed recipient can repeat the very same request with the same retry key."""

    batch_id: str
    retry_key: str
    line_channel: str
    to: tuple[str, ...]
    messages: list[dict[str, Any]]
    at_ms: int = 0  # when it was stored


class SendLedger(Protocol):
    def get(self, send_key: str) -> SendRecord | None: ...

    def put(self, record: SendRecord, *, expect: Sequence[State | None]) -> bool:
        """Write `record` if the stored state is one of `expect` (None: no record yet). False when
        another writer got there first: re-read and follow what it recorded."""
        ...

    def put_batch(self, batch: MulticastBatch) -> MulticastBatch:
        """Store the batch unless one with its id exists; answer the stored one."""
        ...

    def get_batch(self, batch_id: str) -> MulticastBatch | None: ...


class FrequencyCaps(Protocol):
    def take(self, profile_id: str, send_key: str, counters: Sequence[CapCounter]) -> CapCounter | None:
        """Count `send_key` in every counter, all or none, atomically; the counter that is full, or
        None when all were taken. Taking again with the same send key counts it once."""
        ...

    def give_back(self, profile_id: str, send_key: str, keys: Sequence[str]) -> None:
        """Uncount `send_key` (the send was then suppressed or failed)."""
        ...


class SuppressionList(Protocol):
    def suppressed(self, channel: Channel, address: str) -> bool: ...

    def suppress(self, channel: Channel, address: str, *, reason: str, at_ms: int) -> None:
        """Record a bounce, complaint or SMS opt-out: the address is not messaged again."""
        ...


class PolicySource(Protocol):
    def policy(self) -> MessagingPolicy: ...


class ReleaseScheduler(Protocol):
    def schedule_release(self, name: str, at_ms: int, request: dict[str, Any]) -> None:
        """A one-time schedule that hands `request` back to the sender at `at_ms` (idempotent per name)."""
        ...


# --- providers ----------------------------------------------------------------------------------

Outcome = Literal["sent", "failed", "quota_exhausted", "invalid_reply_token"]


@dataclass(frozen=True, slots=True)
class ProviderResult:
    outcome: Outcome
    provider_id: str | None = None
    reason: str | None = None  # failed: a stable code (line_rejected, email_rejected, ...)
    message: str | None = None  # the provider's own words
    duplicate: bool = False  # LINE answered 409: this retry key was already accepted


class ProviderUnavailable(Exception):
    """The provider did not answer conclusively after the adapter's retries; the outcome is unknown.
    The claim stays `claimed` and the invocation fails so it is retried with the same retry key."""


class ProviderThrottled(ProviderUnavailable):
    """The provider refused before accepting anything (a throttle after the adapter's retries):
    nothing was sent, so the send may simply be made again later."""


class LineMessenger(Protocol):
    def push(self, *, access_token: str, to: str, messages: list[dict[str, Any]], retry_key: str) -> ProviderResult: ...

    def multicast(
        self, *, access_token: str, to: Sequence[str], messages: list[dict[str, Any]], retry_key: str
    ) -> ProviderResult: ...

    def reply(self, *, access_token: str, reply_token: str, messages: list[dict[str, Any]]) -> ProviderResult: ...


class EmailSender(Protocol):
    def send_email(
        self, *, to: str, content: EmailContent, unsubscribe_url: str | None, tags: dict[str, str]
    ) -> ProviderResult: ...


class SmsSender(Protocol):
    def send_sms(self, *, to: str, text: str, transactional: bool) -> ProviderResult: ...
