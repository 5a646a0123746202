"""The one send point: decides whether, where and when a person may be messaged, sends exactly
once, and records what happened on the person's timeline.

Per recipient, in this order (docs/messaging.md):
 0. the send key's ledger record: a finished send answers what it recorded; a `claimed` one (the
    provider may have accepted it) resumes with the same LINE retry key; a held one waits for its
    release;
 1. follow `merged_into` to the survivor;
 2. reachability, then 3. consent, per channel of the chain: the first channel passing both;
 4. frequency caps (marketing): per channel per local day and ISO week, per campaign / journey,
    taken atomically and per send key, given back when the send then does not happen;
 5. quiet hours (marketing): held until the window opens (a one-time release schedule), or
    dropped when the request says so;
 6. render, claim the send key (conditional write), call the provider (LINE push, multicast for
    identical content, reply; SES; SNS);
 7. the outcome as `Message Sent` / `Message Suppressed` / `Message Failed` on the timeline, and as
    `message.sent` / `message.suppressed` / `message.failed` on the bus.

Transactional sends skip 4 and 5 but never reach an unreachable, blocked or opted-out channel.

Exactly once: the claim is written before any provider call. LINE's X-Line-Retry-Key is a UUID v5
of the send key (of the batch id for a multicast), so repeating a call after a crash, a Lambda
retry or a replay is answered 409 by LINE and counted as sent. SES and SNS have no such key: a
claim found `claimed` on those channels after the lease is recorded `outcome_unknown` instead of
sending a second time (at most once).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from cdp.clock import iso_from_ms
from cdp.domain_events import MESSAGE_FAILED as MESSAGE_FAILED_EVENT
from cdp.domain_events import MESSAGE_SENT as MESSAGE_SENT_EVENT
from cdp.domain_events import MESSAGE_SUPPRESSED as MESSAGE_SUPPRESSED_EVENT
from cdp.domain_events import DomainEvent
from cdp.errors import CdpError, NotFound
from cdp.events import names
from cdp.events.raw import RawEvent
from cdp.ingestion.channels import LineChannels
from cdp.messaging import policy as rules
from cdp.messaging.content import Channel, EmailContent, RenderContext, RenderedContent, Renderer, RenderError
from cdp.messaging.ports import (
    TERMINAL,
    EmailSender,
    FrequencyCaps,
    LineMessenger,
    MulticastBatch,
    PolicySource,
    ProviderResult,
    ProviderThrottled,
    ProviderUnavailable,
    ReleaseScheduler,
    SendLedger,
    SendRecord,
    SmsSender,
    State,
    SuppressionList,
)
from cdp.messaging.request import SendRequest
from cdp.observability import logger
from cdp.ports import Clock, EventPublisher, RawEventStore
from cdp.profiles.computed import computed_traits
from cdp.profiles.consent import admin_event
from cdp.profiles.model import Profile
from cdp.profiles.views import ProfileReader, current_profile

_T = TypeVar("_T")
_R = TypeVar("_R")

OUTCOME_SOURCE = "admin-messaging"
RETRY_KEY_NAMESPACE = uuid.UUID("6f1f6c1e-3b0a-5c8e-9d55-1f0c1d2e4a77")  # fixed: keys must not change
MULTICAST_LIMIT = 500
# A `claimed` email/SMS send younger than this may still be in flight in another invocation.
CLAIM_LEASE_MS = 15 * 60 * 1000
# LINE keeps an accepted retry key for 24 hours; a claim older than this is not resent under it.
RETRY_KEY_VALID_MS = 23 * 3600 * 1000
RELEASE_NAME_PREFIX = "msg-release-"

# Failure reasons (Message Failed `reason`).
RENDER_ERROR = "render_error"
TEMPLATE_NOT_FOUND = "template_not_found"
QUOTA_EXHAUSTED = "quota_exhausted"
OUTCOME_UNKNOWN = "outcome_unknown"
REPLY_TOKEN_INVALID = "reply_token_invalid"  # noqa: S105 (a reason, not a secret)
LINE_NOT_CONFIGURED = "line_not_configured"
PROVIDER_UNAVAILABLE = "provider_unavailable"
PROVIDER_THROTTLED = "provider_throttled"
SMS_OPTED_OUT = "sms_opted_out"  # SNS's opt-out list had the number: suppressed from then on
RETRY = "retry"  # SendResult state: the provider's answer is unknown; send the request again


def retry_key(key: str) -> str:
    """LINE's X-Line-Retry-Key for a send key or batch id: the same UUID on every attempt."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, key))


def message_id(send_key: str) -> str:
    """The id a tracked link and the outcome event name the message by."""
    return "msg_" + hashlib.sha256(send_key.encode()).hexdigest()[:24]


def release_schedule_name(send_key: str) -> str:
    return RELEASE_NAME_PREFIX + hashlib.sha256(send_key.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class SendResult:
    send_key: str
    state: str  # sent, suppressed, failed, held, in_progress, retry
    channel: str | None = None
    reason: str | None = None
    detail: str | None = None
    held_until: str | None = None
    cost_units: int = 0
    duplicate: bool = False  # answered from the ledger: this send key was already handled

    def as_dict(self) -> dict[str, Any]:
        fields = ("send_key", "state", "channel", "reason", "detail", "held_until", "cost_units", "duplicate")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


@dataclass(slots=True)
class _Ready:
    """A send decided and rendered (or resumed from its claim), waiting for its provider call."""

    request: SendRequest
    record: SendRecord
    profile: Profile | None
    resumed: bool = False
    group: str | None = None  # identical LINE content from one channel: multicast candidates


@dataclass(slots=True)
class _Batch:
    quota_exhausted: bool = False
    results: dict[int, SendResult] = field(default_factory=dict)


UnsubscribeUrl = Callable[[str, str, str], str]  # (profile_id, channel, address) -> URL


class SendPoint:
    def __init__(
        self,
        *,
        profiles: ProfileReader,
        renderer: Renderer,
        ledger: SendLedger,
        caps: FrequencyCaps,
        suppressions: SuppressionList,
        policies: PolicySource,
        releases: ReleaseScheduler,
        events: RawEventStore,
        clock: Clock,
        line_channels: LineChannels | None = None,
        line: LineMessenger | None = None,
        email: EmailSender | None = None,
        sms: SmsSender | None = None,
        unsubscribe_url: UnsubscribeUrl | None = None,
        parallelism: int = 1,
        publisher: EventPublisher | None = None,
    ) -> None:
        self._profiles = profiles
        self._renderer = renderer
        self._ledger = ledger
        self._caps = caps
        self._suppressions = suppressions
        self._policies = policies
        self._releases = releases
        self._events = events
        self._clock = clock
        self._line_channels = line_channels
        self._line = line
        self._email = email
        self._sms = sms
        self._unsubscribe_url = unsubscribe_url
        self._parallelism = parallelism
        self._publisher = publisher

    # --- entry points -------------------------------------------------------------------------

    def send(self, request: SendRequest) -> SendResult:
        return self.send_many([request])[0]

    def send_many(self, requests: Sequence[SendRequest]) -> list[SendResult]:
        """Decide each request, then send: LINE pushes with identical content from one channel go
        as multicasts of up to 500. A request's failure is its own; the batch goes on."""
        batch = _Batch()
        ready: list[tuple[int, _Ready]] = []
        for index, decided in enumerate(self._map(self._decide, requests)):
            if isinstance(decided, SendResult):
                batch.results[index] = decided
            else:
                ready.append((index, decided))
        for index, result in self._dispatch(ready, batch).items():
            batch.results[index] = result
        return [batch.results[index] for index in range(len(requests))]

    # --- deciding -----------------------------------------------------------------------------

    def _decide(self, request: SendRequest) -> SendResult | _Ready:
        record = self._ledger.get(request.send_key)
        if record is not None:
            if record.state in TERMINAL:
                return _from_record(record, duplicate=True)
            if record.state == "claimed":
                return self._resume(request, record)
            opened = record.held_until_ms is not None and record.held_until_ms <= self._clock.now_ms()
            if record.state == "held" and not (request.release or opened):
                return _from_record(record, duplicate=True)
        try:
            profile = current_profile(self._profiles, request.profile_id)
        except NotFound:
            return self._suppress(request, None, record, rules.PROFILE_NOT_FOUND, None)
        policy = self._policies.policy()
        provider = self._line_provider(request) if "line" in request.channels else None
        decision = rules.choose_channel(
            profile,
            request.channels,
            purpose=request.purpose,
            policy=policy,
            line_provider=provider,
            suppressed=self._suppressions.suppressed,
            configured=self._configured(),
            replying=request.reply_token is not None,
        )
        if decision.address is None:
            detail = ", ".join(f"{channel}: {why}" for channel, why in decision.why_not.items())
            return self._suppress(request, profile, record, decision.reason or rules.UNREACHABLE, detail)
        address = decision.address
        now = self._clock.now_ms()
        zone = rules.person_zone(profile, policy)
        taken: tuple[str, ...] = ()
        if request.purpose == "marketing":
            counters = rules.cap_counters(
                channel=address.channel,
                now_ms=now,
                zone=zone,
                policy=policy,
                campaign_id=request.campaign_id,
                campaign_cap=request.campaign_cap,
                journey_id=request.journey_id,
                journey_cap=request.journey_cap,
            )
            full = self._caps.take(profile.profile_id, request.send_key, counters)
            if full is not None:
                detail = f"{full.key} allows {full.limit}"
                return self._suppress(request, profile, record, full.reason, detail, channel=address.channel)
            taken = tuple(counter.key for counter in counters)
            window = (request.quiet_hours.start, request.quiet_hours.end) if request.quiet_hours else policy.quiet_hours
            until = rules.quiet_until(now, zone, window)
            if until is not None:
                self._caps.give_back(profile.profile_id, request.send_key, taken)
                if request.in_quiet_hours == "drop":
                    detail = f"dropped: quiet hours until {iso_from_ms(until)}"
                    return self._suppress(request, profile, record, rules.QUIET_HOURS, detail, channel=address.channel)
                return self._hold(request, profile, record, until, address.channel)
        try:
            content = self._render(request, profile, address.channel)
            payload, via, units = _payload(request, content)
        except RenderError as exc:
            self._caps.give_back(profile.profile_id, request.send_key, taken)
            return self._fail(request, profile, record, RENDER_ERROR, f"{exc.reason}: {exc}", address.channel)
        except LookupError as exc:
            self._caps.give_back(profile.profile_id, request.send_key, taken)
            return self._fail(request, profile, record, TEMPLATE_NOT_FOUND, str(exc), address.channel)
        claim = SendRecord(
            send_key=request.send_key,
            state="claimed",
            profile_id=profile.profile_id,
            at_ms=now,
            channel=address.channel,
            to=address.to,
            via=via,
            retry_key=retry_key(request.send_key) if address.channel == "line" else None,
            payload=payload,
            template_id=content.template_id,
            template_version=content.template_version,
            cap_keys=taken,
            cost_units=units,
        )
        group = None
        if via == "push" and request.reply_token is None:
            group = request.line_channel + "\n" + json.dumps(payload, sort_keys=True, ensure_ascii=False)
        return _Ready(request, claim, profile, group=group)

    def _resume(self, request: SendRequest, record: SendRecord) -> SendResult | _Ready:
        """A claim whose provider answer was never recorded (a crash, a timeout, a retry)."""
        age = self._clock.now_ms() - record.at_ms
        if record.channel == "line" and record.via in ("push", "multicast") and age < RETRY_KEY_VALID_MS:
            return _Ready(request, record, None, resumed=True)
        if age < CLAIM_LEASE_MS:
            return SendResult(request.send_key, "in_progress", record.channel, duplicate=True)
        # A reply token is single use, SES/SNS keep no retry key, and LINE forgets one after 24 h:
        # sending again could deliver twice.
        failed = record.moved("failed", self._clock.now_ms(), reason=OUTCOME_UNKNOWN, detail="no answer recorded")
        if failed.cap_keys:
            self._caps.give_back(failed.profile_id, failed.send_key, failed.cap_keys)
        return self._finish(request, None, replace(failed, cap_keys=(), cost_units=0), expect=("claimed",))

    def _configured(self) -> frozenset[str]:
        """Channels this deployment can send on; an unconfigured one is skipped like an unreachable one."""
        present = {"line": self._line is not None, "email": self._email is not None, "sms": self._sms is not None}
        return frozenset(channel for channel, ok in present.items() if ok)

    def _line_provider(self, request: SendRequest) -> str | None:
        channel = self._line_channels.find(request.line_channel) if self._line_channels else None
        return channel.provider_id if channel is not None and channel.access_token else None

    def _render(self, request: SendRequest, profile: Profile, channel: Channel) -> RenderedContent:
        now_iso = iso_from_ms(self._clock.now_ms())
        context = RenderContext(
            profile_id=profile.profile_id,
            traits={name: stamped.value for name, stamped in profile.traits.items()},
            computed=computed_traits(profile, now_iso),
            tags=sorted(profile.tags),
            event=request.data or None,
            link_attribution={**request.attribution(), "message_id": message_id(request.send_key)},
        )
        return self._renderer.render(
            template_id=request.template_id, version=request.template_version, channel=channel, context=context
        )

    # --- sending ------------------------------------------------------------------------------

    def _dispatch(self, ready: list[tuple[int, _Ready]], batch: _Batch) -> dict[int, SendResult]:
        results: dict[int, SendResult] = {}
        groups: dict[str, list[tuple[int, _Ready]]] = {}
        singles: list[tuple[int, _Ready]] = []
        for index, item in ready:
            if item.group is not None:
                groups.setdefault(item.group, []).append((index, item))
            else:
                singles.append((index, item))
        for members in groups.values():
            for start in range(0, len(members), MULTICAST_LIMIT):
                chunk = members[start : start + MULTICAST_LIMIT]
                if len(chunk) == 1:
                    singles.extend(chunk)
                    continue
                try:
                    results.update(self._multicast(chunk, batch))
                except ProviderUnavailable as exc:
                    results.update({index: _retry(item, exc) for index, item in chunk})

        def one(entry: tuple[int, _Ready]) -> SendResult:
            try:
                return self._send_one(entry[1], batch)
            except ProviderUnavailable as exc:
                return _retry(entry[1], exc)

        results.update(zip((index for index, _ in singles), self._map(one, singles), strict=True))
        return results

    def _map(self, work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
        """Each item's store reads and writes and provider call are I/O: up to `parallelism` at once."""
        if self._parallelism <= 1 or len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._parallelism, len(items))) as pool:
            return list(pool.map(work, items))

    def _claim(self, item: _Ready) -> SendResult | None:
        """Write the claim; None when this invocation holds it, else what the ledger says now."""
        if item.resumed:
            return None
        if self._ledger.put(item.record, expect=(None, "held")):
            return None
        current = self._ledger.get(item.request.send_key)
        if current is None or current.state in TERMINAL or current.state == "held":
            return (
                _from_record(current, duplicate=True) if current else SendResult(item.request.send_key, "in_progress")
            )
        return SendResult(item.request.send_key, "in_progress", current.channel, duplicate=True)

    def _send_one(self, item: _Ready, batch: _Batch) -> SendResult:
        lost = self._claim(item)
        if lost is not None:
            return lost
        record = item.record
        if record.batch_id is not None:  # a resumed multicast recipient
            stored = self._ledger.get_batch(record.batch_id)
            if stored is not None:
                return self._call_multicast(stored, [item], batch)[0]
            if self._clock.now_ms() - record.at_ms < CLAIM_LEASE_MS:
                return SendResult(record.send_key, "in_progress", "line", duplicate=True)
            # The batch was never stored, so its multicast never left: push alone, under its own key.
            record = record.moved(
                "claimed", record.at_ms, via="push", batch_id=None, retry_key=retry_key(record.send_key)
            )
            item.record = record
        if record.channel == "line":
            return self._send_line(item, batch)
        try:
            result = self._call_email(item) if record.channel == "email" else self._call_sms(item)
        except ProviderThrottled as exc:
            return self._requeue(item, exc)
        except ProviderUnavailable as exc:
            # SES and SNS keep no retry key: the message may have gone out, so it is not sent again.
            return self._fail(item.request, item.profile, record, OUTCOME_UNKNOWN, str(exc), record.channel)
        return self._record_provider(item, result)

    def _requeue(self, item: _Ready, exc: ProviderThrottled) -> SendResult:
        """Nothing was sent: give the caps back and leave a hold that has already opened, so the
        retried request decides again and sends."""
        record, now = item.record, self._clock.now_ms()
        if record.cap_keys:
            self._caps.give_back(record.profile_id, record.send_key, record.cap_keys)
        again = SendRecord(
            send_key=record.send_key,
            state="held",
            profile_id=record.profile_id,
            at_ms=now,
            channel=record.channel,
            held_until_ms=now,
            template_id=record.template_id,
            template_version=record.template_version,
            reason=PROVIDER_THROTTLED,
        )
        if not self._ledger.put(again, expect=("claimed",)):
            return SendResult(record.send_key, "in_progress", record.channel, duplicate=True)
        logger.warning("provider throttled; the send is retried", extra={"send_key": record.send_key})
        return SendResult(record.send_key, RETRY, record.channel, PROVIDER_THROTTLED, str(exc))

    def _send_line(self, item: _Ready, batch: _Batch) -> SendResult:
        record = item.record
        token = self._line_token(item.request)
        if token is None:
            return self._fail(item.request, item.profile, record, LINE_NOT_CONFIGURED, None, "line")
        if batch.quota_exhausted:
            return self._fail(item.request, item.profile, record, QUOTA_EXHAUSTED, "LINE monthly limit", "line")
        assert self._line is not None  # _line_token checked it
        messages = list((record.payload or {})["messages"])
        if record.via == "reply" and item.request.reply_token:
            result = self._line.reply(access_token=token, reply_token=item.request.reply_token, messages=messages)
            if result.outcome != "invalid_reply_token":
                return self._record_provider(item, result, batch)
            if not item.request.reply_fallback_to_push:
                return self._fail(item.request, item.profile, record, REPLY_TOKEN_INVALID, result.message, "line")
            # An expired or used token delivered nothing: push instead, claimed as a push first.
            record = record.moved(
                "claimed", self._clock.now_ms(), via="push", retry_key=retry_key(record.send_key), cost_units=1
            )
            if not self._ledger.put(record, expect=("claimed",)):
                return SendResult(record.send_key, "in_progress", "line", duplicate=True)
            item.record = record
        result = self._line.push(
            access_token=token, to=record.to or "", messages=messages, retry_key=record.retry_key or ""
        )
        return self._record_provider(item, result, batch)

    def _multicast(self, chunk: list[tuple[int, _Ready]], batch: _Batch) -> dict[int, SendResult]:
        first = chunk[0][1]
        keys = sorted(item.request.send_key for _, item in chunk)
        batch_id = "mc_" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
        claimed: list[tuple[int, _Ready]] = []
        results: dict[int, SendResult] = {}
        for _, item in chunk:
            item.record = item.record.moved(
                "claimed", item.record.at_ms, via="multicast", batch_id=batch_id, retry_key=retry_key(batch_id)
            )
        for (index, item), lost in zip(chunk, self._map(self._claim, [item for _, item in chunk]), strict=True):
            if lost is None:
                claimed.append((index, item))
            else:
                results[index] = lost
        if not claimed:
            return results
        if len(claimed) == 1:  # nobody to share the request with: a push under its own key
            index, item = claimed[0]
            item.record = item.record.moved(
                "claimed", item.record.at_ms, via="push", batch_id=None, retry_key=retry_key(item.request.send_key)
            )
            if self._ledger.put(item.record, expect=("claimed",)):
                results[index] = self._send_line(item, batch)
            else:
                results[index] = SendResult(item.request.send_key, "in_progress", "line", duplicate=True)
            return results
        stored = self._ledger.put_batch(
            MulticastBatch(
                batch_id=batch_id,
                retry_key=retry_key(batch_id),
                line_channel=first.request.line_channel,
                to=tuple(item.record.to or "" for _, item in claimed),
                messages=list((first.record.payload or {})["messages"]),
                at_ms=self._clock.now_ms(),
            )
        )
        answers = self._call_multicast(stored, [item for _, item in claimed], batch)
        results.update({index: answer for (index, _), answer in zip(claimed, answers, strict=True)})
        return results

    def _call_multicast(self, stored: MulticastBatch, items: list[_Ready], batch: _Batch) -> list[SendResult]:
        token = self._line_token(items[0].request)
        if token is None or batch.quota_exhausted:
            reason, detail = (LINE_NOT_CONFIGURED, None) if token is None else (QUOTA_EXHAUSTED, "LINE monthly limit")
            return [self._fail(i.request, i.profile, i.record, reason, detail, "line") for i in items]
        assert self._line is not None
        result = self._line.multicast(
            access_token=token, to=list(stored.to), messages=stored.messages, retry_key=stored.retry_key
        )
        return [self._record_provider(item, result, batch) for item in items]

    def _line_token(self, request: SendRequest) -> str | None:
        if self._line is None or self._line_channels is None:
            return None
        channel = self._line_channels.find(request.line_channel)
        return channel.access_token if channel is not None and channel.access_token else None

    def _call_email(self, item: _Ready) -> ProviderResult:
        if self._email is None:
            return ProviderResult("failed", reason="email_not_configured")
        record, payload = item.record, item.record.payload or {}
        content = EmailContent(subject=payload["subject"], html=payload.get("html"), text=payload.get("text"))
        unsubscribe = None
        if self._unsubscribe_url is not None and item.request.purpose == "marketing":
            unsubscribe = self._unsubscribe_url(record.profile_id, "email", record.to or "")
        # SES hands these back with its delivery, bounce, open and click events (cdp.messaging.feedback).
        tags = {"message_id": message_id(record.send_key), "kind": item.request.kind, **item.request.attribution()}
        return self._email.send_email(to=record.to or "", content=content, unsubscribe_url=unsubscribe, tags=tags)

    def _call_sms(self, item: _Ready) -> ProviderResult:
        if self._sms is None:
            return ProviderResult("failed", reason="sms_not_configured")
        payload = item.record.payload or {}
        return self._sms.send_sms(
            to=item.record.to or "", text=payload["text"], transactional=item.request.purpose == "transactional"
        )

    def _record_provider(self, item: _Ready, result: ProviderResult, batch: _Batch | None = None) -> SendResult:
        record, now = item.record, self._clock.now_ms()
        if result.outcome == "sent":
            sent = record.moved(
                "sent", now, provider_id=result.provider_id, extra={"duplicate_accept": result.duplicate}
            )
            return self._finish(item.request, item.profile, sent, expect=("claimed",))
        if result.outcome == "quota_exhausted":
            if batch is not None:
                batch.quota_exhausted = True
            return self._fail(item.request, item.profile, record, QUOTA_EXHAUSTED, result.message, record.channel)
        if result.reason == SMS_OPTED_OUT and record.to:
            self._suppressions.suppress("sms", record.to, reason="opt_out", at_ms=now)
        if result.outcome == "invalid_reply_token":
            return self._fail(item.request, item.profile, record, REPLY_TOKEN_INVALID, result.message, record.channel)
        return self._fail(
            item.request, item.profile, record, result.reason or "provider_rejected", result.message, record.channel
        )

    # --- outcomes -----------------------------------------------------------------------------

    def _suppress(
        self,
        request: SendRequest,
        profile: Profile | None,
        record: SendRecord | None,
        reason: str,
        detail: str | None,
        *,
        channel: str | None = None,
    ) -> SendResult:
        suppressed = SendRecord(
            send_key=request.send_key,
            state="suppressed",
            profile_id=profile.profile_id if profile else request.profile_id,
            at_ms=self._clock.now_ms(),
            channel=channel,  # type: ignore[arg-type]
            reason=reason,
            detail=detail,
            template_id=request.template_id,
            template_version=request.template_version,
        )
        return self._finish(request, profile, suppressed, expect=(None, "held"))

    def _fail(
        self,
        request: SendRequest,
        profile: Profile | None,
        record: SendRecord | None,
        reason: str,
        detail: str | None,
        channel: str | None,
    ) -> SendResult:
        claimed = record is not None and record.state == "claimed"
        base = (
            record
            if record is not None and claimed
            else SendRecord(
                send_key=request.send_key,
                state="failed",
                profile_id=profile.profile_id if profile else request.profile_id,
                at_ms=self._clock.now_ms(),
                channel=channel,  # type: ignore[arg-type]
                template_id=request.template_id,
                template_version=request.template_version,
            )
        )
        if base.cap_keys:
            self._caps.give_back(base.profile_id, request.send_key, base.cap_keys)
        failed = base.moved("failed", self._clock.now_ms(), reason=reason, detail=detail, cost_units=0, cap_keys=())
        return self._finish(request, profile, failed, expect=("claimed",) if claimed else (None, "held"))

    def _hold(
        self, request: SendRequest, profile: Profile, record: SendRecord | None, until_ms: int, channel: str
    ) -> SendResult:
        held = SendRecord(
            send_key=request.send_key,
            state="held",
            profile_id=profile.profile_id,
            at_ms=self._clock.now_ms(),
            channel=channel,  # type: ignore[arg-type]
            held_until_ms=until_ms,
            template_id=request.template_id,
            template_version=request.template_version,
        )
        release = request.model_copy(update={"release": True}).model_dump(mode="json")
        # The schedule first: a hold without a release would never be sent; a release without a
        # hold record is harmless (the release decides again).
        self._releases.schedule_release(release_schedule_name(request.send_key), until_ms, release)
        if not self._ledger.put(held, expect=(None, "held")):
            current = self._ledger.get(request.send_key)
            return _from_record(current, duplicate=True) if current else SendResult(request.send_key, "in_progress")
        return _from_record(held)

    def _finish(
        self, request: SendRequest, profile: Profile | None, record: SendRecord, *, expect: Sequence[State | None]
    ) -> SendResult:
        """Timeline event first (stored once per send key), then the ledger: a crash in between
        repeats the same event id on the retry, which the raw store keeps once."""
        person = profile
        if person is None:
            try:
                person = current_profile(self._profiles, record.profile_id)
            except NotFound:
                person = None
        if person is not None:
            self._record_event(request, person, record)
        if self._publisher is not None:
            self._publisher.publish([self._domain_event(request, record)])
        if not self._ledger.put(record, expect=expect):
            current = self._ledger.get(record.send_key)
            if current is not None and current.state in TERMINAL:
                return _from_record(current, duplicate=True)
        logger.info(
            "message outcome",
            extra={
                "send_key": record.send_key,
                "state": record.state,
                "reason": record.reason,
                "channel": record.channel,
            },
        )
        return _from_record(record)

    def _domain_event(self, request: SendRequest, record: SendRecord) -> DomainEvent:
        """The outcome on the bus; its id is the send key's and the state's, so a retried
        publish is the same event (consumers dedup on `id`)."""
        name = {"sent": MESSAGE_SENT_EVENT, "suppressed": MESSAGE_SUPPRESSED_EVENT}.get(
            record.state, MESSAGE_FAILED_EVENT
        )
        detail: dict[str, Any] = {
            "profile_id": record.profile_id,
            "message_id": message_id(record.send_key),
            "send_key": record.send_key,
            "channel": record.channel,
            "template_id": record.template_id or request.template_id,
            "template_version": record.template_version,
            "kind": request.kind,
            "purpose": request.purpose,
            **request.attribution(),
        }
        if record.state == "sent":
            detail.update(via=record.via, cost_units=record.cost_units)
        else:
            detail.update(reason=record.reason)
        return DomainEvent(
            name=name,
            id=f"{message_id(record.send_key)}:{record.state}",
            time=iso_from_ms(record.at_ms),
            detail=detail,
        )

    def _record_event(self, request: SendRequest, profile: Profile, record: SendRecord) -> None:
        name = {"sent": names.MESSAGE_SENT, "suppressed": names.MESSAGE_SUPPRESSED}.get(
            record.state, names.MESSAGE_FAILED
        )
        properties: dict[str, Any] = {
            "message_id": message_id(record.send_key),
            "send_key": record.send_key,
            "channel": record.channel,
            "template_id": record.template_id or request.template_id,
            "template_version": record.template_version,
            "kind": request.kind,
            "purpose": request.purpose,
            **request.attribution(),
        }
        if record.state == "sent":
            properties.update(via=record.via, cost_units=record.cost_units, provider_id=record.provider_id)
        else:
            properties.update(reason=record.reason, detail=record.detail)
        try:
            event: RawEvent = admin_event(
                profile,
                source=OUTCOME_SOURCE,
                payload={"type": "track", "event": name, "properties": properties},
                context={"channel": "crm"},
                now_ms=record.at_ms,
                request_key=record.send_key,
                key_suffix="\n" + record.state,
                purpose="record the message outcome",
            )
        except CdpError:  # a person without any identifier has no timeline to write to
            logger.warning("message outcome not recorded on a timeline", extra={"send_key": record.send_key})
            return
        self._events.store_once([event])


def _payload(request: SendRequest, content: RenderedContent) -> tuple[dict[str, Any], Any, int]:
    if content.channel == "line":
        messages = content.line_messages or []
        return {"messages": messages}, ("reply" if request.reply_token else "push"), (0 if request.reply_token else 1)
    if content.channel == "email":
        email = content.email
        if email is None:
            raise RenderError("no_email_content", f"template {content.template_id} has no email content")
        return {"subject": email.subject, "html": email.html, "text": email.text}, "email", 1
    if content.sms_text is None:
        raise RenderError("no_sms_content", f"template {content.template_id} has no SMS text")
    return {"text": content.sms_text, "segments": content.sms_segments}, "sms", max(1, content.sms_segments)


def _retry(item: _Ready, exc: ProviderUnavailable) -> SendResult:
    """The provider's answer is unknown: the claim stays, and a retry of the request resumes it."""
    logger.warning("provider outcome unknown; the send is retried", extra={"send_key": item.request.send_key})
    return SendResult(item.request.send_key, RETRY, item.record.channel, PROVIDER_UNAVAILABLE, str(exc))


def _from_record(record: SendRecord, *, duplicate: bool = False) -> SendResult:
    return SendResult(
        send_key=record.send_key,
        state=record.state,
        channel=record.channel,
        reason=record.reason,
        detail=record.detail,
        held_until=iso_from_ms(record.held_until_ms) if record.held_until_ms is not None else None,
        cost_units=record.cost_units if record.state == "sent" else 0,
        duplicate=duplicate,
    )
