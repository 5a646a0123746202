"""The public redirect: `/r/<code>` -> 302 to the destination, each click recorded once as a raw event.

Stdlib only (plus the raw event shape): the redirect function must start fast and never import
the QR library. What a click becomes:

- a Segment-style `track` "Link Clicked" with properties {link_code, src, campaign, url, tags} and,
  for a link minted for a message, its ids (campaign_id, journey_id, node_id, message_id,
  template_id, template_version),
  stored through the raw events table (source `tracked-links`) so the event processor applies it
  like any other event and derives `source:<src>` plus the link's tags (cdp.profiles.tag_rules);
- `context.channel` "line" when a valid personal token says the link was sent on LINE (LINE
  engagement counts it, cdp.profiles.computed.is_line_click), else "web";
- the person: from a valid token (a LINE identifier, member id, ...) for a known click, else the
  browser's anonymous id (`cdp_aid` cookie, or a new one) for an anonymous click, which identity
  resolution joins to the member when that anonymous id later identifies;
- the destination gets `cdp_aid=<anonymous id>` so a web SDK on the brand's site can adopt it;
- a client retry of the same request (same `Idempotency-Key` / `X-Request-Id`) is the same event,
  stored once and counted once; counts on the link item are incremented atomically after the
  event is stored.

Link-preview crawlers (LINE fetches a URL in a message to show its preview, and so do Facebook,
Slack, ...) are redirected too, but their requests are not clicks: nothing is recorded or counted,
or every personal link pushed on LINE would count as clicked.

A bad or forged token, an unreadable signing key, a failed write: the visitor is still sent on
(the click is recorded anonymously, or not at all, and the outcome says so). Only an unknown code
is a 404 (`link_not_found`), and a link that cannot be read at all a 503.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from cdp.clock import iso_from_ms
from cdp.errors import CdpError
from cdp.events.raw import RawEvent, partner_event_id
from cdp.links.model import URI_SAFE, Link, iri_to_uri, valid_code, valid_src
from cdp.links.tokens import PersonRef, verify_token
from cdp.ports import Clock, RawEventStore
from cdp.profiles.tag_rules import LINK_CLICK_EVENT, LINK_CLICK_SOURCE

ANONYMOUS_ID_PARAM = "cdp_aid"
ANONYMOUS_ID_COOKIE = "cdp_aid"
TOKEN_PARAM = "u"  # noqa: S105 (a query parameter name)
SRC_PARAM = "src"
ANONYMOUS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{7,63}")
MAX_REQUEST_KEY_LENGTH = 256
MAX_USER_AGENT_LENGTH = 512
NEGATIVE_CACHE_SECONDS = 5.0  # an unknown code is re-read soon: the link may have just been created
LIBRARY = {"name": "cdp-link-redirect", "version": "1"}
# User agents of link-preview crawlers and search bots (lower case, matched as substrings).
PREVIEW_BOTS = (
    "line-poker",  # LINE's URL preview ("facebookexternalhit/1.1;line-poker/1.0")
    "facebookexternalhit",
    "facebookcatalog",
    "slackbot",
    "twitterbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "linkedinbot",
    "skypeuripreview",
    "googlebot",
    "bingbot",
    "applebot",
    "pinterestbot",
    "redditbot",
    "embedly",
)


class LinkReader(Protocol):
    def get(self, code: str) -> Link | None: ...


class ClickCounter(Protocol):
    def count_click(self, code: str, *, known: bool) -> None:
        """Add one click to the link's total and to its known or anonymous count, atomically."""
        ...


class CachedLinks:
    """Links kept per warm container for `ttl_seconds` (unknown codes for at most 5 s), so a
    burst of clicks on one QR code reads DynamoDB once."""

    def __init__(self, reader: LinkReader, ttl_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._reader = reader
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, Link | None]] = {}
        self._lock = threading.Lock()

    def get(self, code: str) -> Link | None:
        now = self._monotonic()
        with self._lock:
            cached = self._entries.get(code)
        if cached is not None and now < cached[0]:
            return cached[1]
        link = self._reader.get(code)
        ttl = self._ttl if link is not None else min(self._ttl, NEGATIVE_CACHE_SECONDS)
        with self._lock:
            self._entries[code] = (now + ttl, link)
        return link


@dataclass(frozen=True, slots=True)
class ClickRequest:
    code: str
    query: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    request_key: str | None = None  # Idempotency-Key / X-Request-Id sent by the client, if any
    user_agent: str | None = None


@dataclass(slots=True)
class ClickOutcome:
    status: int  # 302, or 404 for an unknown code
    location: str | None = None
    anonymous_id: str | None = None  # the browser's id, to set as the first-party cookie
    person: PersonRef | None = None
    event: RawEvent | None = None
    recorded: bool = False  # stored now (False for a retry, a preview crawler, or a failed write)
    duplicate: bool = False
    preview: bool = False  # a link-preview crawler: redirected, not a click
    problems: list[str] = field(default_factory=list)  # what went wrong but did not stop the visitor

    @property
    def known(self) -> bool:
        return self.person is not None


def destination_with_anonymous_id(url: str, anonymous_id: str) -> str:
    """`url` with `cdp_aid=<id>` in its query (replacing one already there), the rest untouched.

    The answer is always ASCII (a Location header must be): links stored before destinations
    were kept in URI form are converted here."""
    parts = urlsplit(ascii_location(url))
    kept = [pair for pair in parts.query.split("&") if pair and pair.split("=", 1)[0] != ANONYMOUS_ID_PARAM]
    kept.append(f"{ANONYMOUS_ID_PARAM}={quote(anonymous_id, safe='')}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


def ascii_location(url: str) -> str:
    if url.isascii():
        return url
    try:
        return iri_to_uri(url)
    except (UnicodeError, ValueError):  # a host IDNA refuses: still never send raw non-ASCII bytes
        return quote(url, safe=URI_SAFE)


def is_preview_bot(user_agent: str | None) -> bool:
    agent = (user_agent or "").lower()
    return any(bot in agent for bot in PREVIEW_BOTS)


def anonymous_id_for(cookies: Mapping[str, str], new_id: Callable[[], str]) -> str:
    current = cookies.get(ANONYMOUS_ID_COOKIE)
    return current if isinstance(current, str) and ANONYMOUS_ID.fullmatch(current) else new_id()


def click_message_id(code: str, request_key: str | None) -> str:
    """Unique per click; the same for a client's retry of one request (same request key)."""
    if request_key and len(request_key) <= MAX_REQUEST_KEY_LENGTH:
        return "click-" + hashlib.sha256(f"{code}\n{request_key}".encode()).hexdigest()[:40]
    return "click-" + uuid.uuid4().hex


def click_event(
    link: Link,
    request: ClickRequest,
    *,
    person: PersonRef | None,
    anonymous_id: str,
    now_ms: int,
) -> RawEvent:
    """The click as a raw partner event of source `tracked-links` (see the module docstring)."""
    src = request.query.get(SRC_PARAM)
    at = iso_from_ms(now_ms)
    properties: dict[str, Any] = {
        "link_code": link.code,
        "src": src if valid_src(src) else link.src,
        "campaign": link.campaign,
        "url": link.url,
        "tags": list(link.tags),
        **dict(link.attribution),  # the message a minted link was sent in: campaign_id, message_id, ...
    }
    context: dict[str, Any] = {
        "channel": "line" if person is not None and person.channel == "line" else "web",
        "library": dict(LIBRARY),
    }
    if request.user_agent:
        context["userAgent"] = request.user_agent[:MAX_USER_AGENT_LENGTH]
    message_id = click_message_id(link.code, request.request_key)
    payload: dict[str, Any] = {
        "type": "track",
        "event": LINK_CLICK_EVENT,
        "messageId": message_id,
        "timestamp": at,
        "receivedAt": at,
        "properties": properties,
    }
    if person is None:
        payload["anonymousId"] = anonymous_id
    else:
        properties["send_channel"] = person.channel
        if person.id_type == "member_id":
            payload["userId"] = person.value
        elif person.id_type == "anonymous_id":
            payload["anonymousId"] = person.value
        else:
            context["externalIds"] = [
                {"type": person.id_type, "id": person.value, "collection": "users", "encoding": "none"}
            ]
    payload["context"] = context
    return RawEvent(
        event_id=partner_event_id(LINK_CLICK_SOURCE, message_id),
        origin="partner",
        source=LINK_CLICK_SOURCE,
        received_at=at,
        payload=payload,
    )


class LinkRedirector:
    def __init__(
        self,
        *,
        links: LinkReader,
        events: RawEventStore,
        counter: ClickCounter,
        signing_key: Callable[[], bytes],
        clock: Clock,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._links = links
        self._events = events
        self._counter = counter
        self._signing_key = signing_key
        self._clock = clock
        self._new_id = new_id

    def click(self, request: ClickRequest) -> ClickOutcome:
        """Raises StoreUnavailable only when the link itself cannot be read."""
        link = self._links.get(request.code) if valid_code(request.code) else None
        if link is None:
            return ClickOutcome(status=404)
        outcome = ClickOutcome(status=302, anonymous_id=anonymous_id_for(request.cookies, self._new_id))
        assert outcome.anonymous_id is not None
        outcome.location = destination_with_anonymous_id(link.url, outcome.anonymous_id)
        if is_preview_bot(request.user_agent):
            outcome.preview = True
            return outcome
        outcome.person = self._person(request, outcome)
        outcome.event = click_event(
            link, request, person=outcome.person, anonymous_id=outcome.anonymous_id, now_ms=self._clock.now_ms()
        )
        try:
            (outcome.recorded,) = self._events.store_once([outcome.event])
        except CdpError:
            outcome.problems.append("click_not_recorded")
            return outcome
        outcome.duplicate = not outcome.recorded
        if outcome.recorded:
            try:
                self._counter.count_click(link.code, known=outcome.known)
            except CdpError:
                outcome.problems.append("click_not_counted")
        return outcome

    def _person(self, request: ClickRequest, outcome: ClickOutcome) -> PersonRef | None:
        token = request.query.get(TOKEN_PARAM)
        if not token:
            return None
        try:
            key = self._signing_key()
        except CdpError:
            outcome.problems.append("signing_key_unavailable")
            return None
        person = verify_token(key, request.code, token)
        if person is None:
            outcome.problems.append("invalid_token")
        return person
