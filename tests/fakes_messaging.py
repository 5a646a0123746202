"""In-memory fakes of the send point's ports (cdp.messaging.ports) and of the Renderer, with the
DynamoDB adapters' conditional semantics and LINE's retry-key behaviour."""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from cdp.messaging.content import Channel, EmailContent, RenderContext, RenderedContent, RenderError
from cdp.messaging.policy import CapCounter, MessagingPolicy
from cdp.messaging.ports import MulticastBatch, ProviderResult, ProviderUnavailable, SendRecord, State


class FakeRenderer:
    """Renderer: one template per id with content per channel; `{name}` reads traits then event data.

    A trait or property a template names that the recipient lacks raises RenderError, as Liquid's
    strict undefined does."""

    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self.rendered: list[tuple[str, str, RenderContext]] = []

    def add(
        self,
        template_id: str,
        *,
        line: str | None = None,
        email: tuple[str, str] | None = None,
        sms: str | None = None,
        version: int = 1,
    ) -> None:
        self.templates[template_id] = {"version": version, "line": line, "email": email, "sms": sms}

    def render(
        self, *, template_id: str, version: int | None, channel: Channel, context: RenderContext
    ) -> RenderedContent:
        template = self.templates.get(template_id)
        if template is None or (version is not None and version != template["version"]):
            raise LookupError(f"no template {template_id} version {version}")
        source = template[channel]
        if source is None:
            raise LookupError(f"template {template_id} has no {channel} content")
        self.rendered.append((template_id, channel, context))
        values = {**dict(context.traits), **dict(context.event or {})}

        def fill(text: str) -> str:
            try:
                return text.format(**values)
            except KeyError as exc:
                raise RenderError("undefined_variable", f"{exc.args[0]} is not defined") from exc

        base = {"template_id": template_id, "template_version": template["version"], "channel": channel}
        if channel == "line":
            return RenderedContent(**base, line_messages=[{"type": "text", "text": fill(source)}])
        if channel == "email":
            subject, body = source
            return RenderedContent(**base, email=EmailContent(subject=fill(subject), html=None, text=fill(body)))
        text = fill(source)
        return RenderedContent(**base, sms_text=text, sms_segments=1 if len(text) <= 70 else 2)


class FakeSendLedger:
    """SendLedger: conditional puts on the stored state, copies in and out. `crash_before_put`
    raises before the nth put of a state (a crash between the provider's answer and the record)."""

    def __init__(self) -> None:
        self.records: dict[str, SendRecord] = {}
        self.batches: dict[str, MulticastBatch] = {}
        self.crash_on: list[State] = []

    def get(self, send_key: str) -> SendRecord | None:
        return copy.deepcopy(self.records.get(send_key))

    def put(self, record: SendRecord, *, expect: Sequence[State | None]) -> bool:
        if self.crash_on and self.crash_on[0] == record.state:
            self.crash_on.pop(0)
            raise RuntimeError(f"crashed before recording {record.state}")
        current = self.records.get(record.send_key)
        if (current.state if current else None) not in expect:
            return False
        self.records[record.send_key] = copy.deepcopy(record)
        return True

    def put_batch(self, batch: MulticastBatch) -> MulticastBatch:
        return copy.deepcopy(self.batches.setdefault(batch.batch_id, copy.deepcopy(batch)))

    def get_batch(self, batch_id: str) -> MulticastBatch | None:
        return copy.deepcopy(self.batches.get(batch_id))


class FakeFrequencyCaps:
    """FrequencyCaps: each counter is a set of send keys, taken all or none."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str], set[str]] = {}

    def take(self, profile_id: str, send_key: str, counters: Sequence[CapCounter]) -> CapCounter | None:
        for counter in counters:
            keys = self.counters.get((profile_id, counter.key), set())
            if send_key not in keys and len(keys) >= counter.limit:
                return counter
        for counter in counters:
            self.counters.setdefault((profile_id, counter.key), set()).add(send_key)
        return None

    def give_back(self, profile_id: str, send_key: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.counters.get((profile_id, key), set()).discard(send_key)

    def count(self, profile_id: str, key: str) -> int:
        return len(self.counters.get((profile_id, key), set()))


class FakeSuppressions:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def suppressed(self, channel: Channel, address: str) -> bool:
        return (channel, address.lower()) in self.entries

    def suppress(self, channel: Channel, address: str, *, reason: str, at_ms: int) -> None:
        self.entries[(channel, address.lower())] = reason


class FakePolicies:
    def __init__(self, policy: MessagingPolicy | None = None) -> None:
        self.current = policy or MessagingPolicy()

    def policy(self) -> MessagingPolicy:
        return self.current


class FakeReleases:
    def __init__(self) -> None:
        self.schedules: dict[str, tuple[int, dict[str, Any]]] = {}

    def schedule_release(self, name: str, at_ms: int, request: dict[str, Any]) -> None:
        self.schedules[name] = (at_ms, copy.deepcopy(request))


@dataclasses.dataclass
class LineCall:
    endpoint: str
    to: list[str]
    messages: list[dict[str, Any]]
    retry_key: str | None
    outcome: str


class FakeLineMessenger:
    """LineMessenger with LINE's retry-key memory: a retry key accepted once answers as a
    duplicate (LINE's 409 with x-line-accepted-request-id), never a second delivery.

    `script` holds what the next calls meet: "500" (the adapter's retries gave up: unavailable),
    "accept_then_500" (accepted, but the answer is lost), "quota" (monthly limit), "400" (rejected)
    or "invalid_reply_token"."""

    def __init__(self) -> None:
        self.calls: list[LineCall] = []
        self.accepted: dict[str, str] = {}  # retry key -> request id
        self.deliveries: list[tuple[str, list[dict[str, Any]]]] = []  # (user id, messages)
        self.script: list[str] = []

    def _send(self, endpoint: str, to: list[str], messages: list[dict[str, Any]], key: str | None) -> ProviderResult:
        step = self.script.pop(0) if self.script else "ok"
        self.calls.append(LineCall(endpoint, list(to), copy.deepcopy(messages), key, step))
        if step == "500":
            raise ProviderUnavailable("LINE answered 500")
        if step == "quota":
            return ProviderResult("quota_exhausted", message="You have reached your monthly limit.")
        if step == "400":
            return ProviderResult("failed", reason="line_rejected", message="The request body has 1 error(s)")
        if step == "invalid_reply_token":
            return ProviderResult("invalid_reply_token", message="Invalid reply token")
        if key is not None and key in self.accepted:
            return ProviderResult("sent", provider_id=self.accepted[key], duplicate=True)
        request_id = str(uuid.uuid4())
        if key is not None:
            self.accepted[key] = request_id
        self.deliveries.extend((user, copy.deepcopy(messages)) for user in to)
        if step == "accept_then_500":
            raise ProviderUnavailable("LINE accepted, then the answer was lost")
        return ProviderResult("sent", provider_id=request_id)

    def push(self, *, access_token: str, to: str, messages: list[dict[str, Any]], retry_key: str) -> ProviderResult:
        return self._send("push", [to], messages, retry_key)

    def multicast(
        self, *, access_token: str, to: Sequence[str], messages: list[dict[str, Any]], retry_key: str
    ) -> ProviderResult:
        return self._send("multicast", list(to), messages, retry_key)

    def reply(self, *, access_token: str, reply_token: str, messages: list[dict[str, Any]]) -> ProviderResult:
        return self._send("reply", [f"reply:{reply_token}"], messages, None)

    def delivered_to(self, user_id: str) -> int:
        return sum(1 for user, _ in self.deliveries if user == user_id)


class FakeEmailSender:
    def __init__(self, fail: Callable[[str], ProviderResult | None] | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail  # to -> an answer instead of sending (or raise), None: send

    def send_email(
        self, *, to: str, content: EmailContent, unsubscribe_url: str | None, tags: dict[str, str]
    ) -> ProviderResult:
        if self.fail is not None and (answer := self.fail(to)) is not None:
            return answer
        self.sent.append({"to": to, "content": content, "unsubscribe_url": unsubscribe_url, "tags": dict(tags)})
        return ProviderResult("sent", provider_id=f"ses-{len(self.sent)}")


class FakeSmsSender:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.opted_out: set[str] = set()  # numbers that replied STOP (SNS's own opt-out list)

    def send_sms(self, *, to: str, text: str, transactional: bool) -> ProviderResult:
        if to in self.opted_out:
            return ProviderResult("failed", reason="sms_opted_out", message="the number opted out")
        self.sent.append({"to": to, "text": text, "transactional": transactional})
        return ProviderResult("sent", provider_id=f"sns-{len(self.sent)}")
