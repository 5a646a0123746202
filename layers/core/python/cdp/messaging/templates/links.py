"""Tracked links in rendered content: every http(s) URL a person can follow becomes their personal
`/r/<code>` link, so a click names the message (campaign, journey, node, message, template version).

Where URLs are found:

- LINE: the `uri` of URI actions (templates, Flex, quick replies, imagemaps: `linkUri`, an imagemap
  video's `externalLink.linkUri`, `altUri.desktop`) and URLs written in a text message's text. Media
  URLs (images, videos, icons) are fetched by LINE, not followed by people: left as they are.
- Email: `href` attributes in the HTML and URLs in the plain text.
- SMS: URLs in the text.

URLs in free text are runs of RFC 3986 characters starting `http://` or `https://` (non-ASCII ends
them: percent-encode a non-ASCII path in text; a URI action's whole value may be an IRI), without
the sentence's closing punctuation.

`TrackedLinkMinter` is the `LinkMinter` the send point uses: one tracked link per message and
destination (its code derived from both, so a retry or another recipient reuses it; created on
first use) and a signed personal token per recipient, as `POST /admin/v1/links/{code}/personal`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, Conflict, NotFound
from cdp.links.model import Link, destination_uri, url_problem
from cdp.links.personal import person_for_profile, redirect_url
from cdp.links.tokens import CHANNELS, PersonRef, sign_token
from cdp.messaging.content import RenderContext, RenderError
from cdp.ports import Clock
from cdp.profiles.views import ProfileReader, current_profile

Mint = Callable[[str], str]

URL_IN_TEXT = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+", re.IGNORECASE)
HREF = re.compile(r"""(\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
TRAILING = ".,;:!?'"
CODE_PREFIX = "m-"
CODE_DIGITS = 20  # base32 characters of the hash: 100 bits
# Attribution ids a message link carries into its click (cdp.links.redirect adds them to the event).
ATTRIBUTION_KEYS = ("campaign_id", "journey_id", "node_id", "message_id", "template_id", "template_version")


def is_web_url(value: str) -> bool:
    return value[:8].lower().startswith(("http://", "https://"))


def _trimmed(url: str) -> str:
    while url and (url[-1] in TRAILING or (url[-1] == ")" and url.count("(") < url.count(")"))):
        url = url[:-1]
    return url


def rewrite_text(text: str, mint: Mint) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each URL minted, and the edits made: (position in the original, length change)."""
    out: list[str] = []
    edits: list[tuple[int, int]] = []
    last = 0
    for match in URL_IN_TEXT.finditer(text):
        url = _trimmed(match.group(0))
        if len(url) <= len("https://"):
            continue
        start, end = match.start(), match.start() + len(url)
        tracked = mint(url)
        out.append(text[last:start])
        out.append(tracked)
        edits.append((start, len(tracked) - len(url)))
        last = end
    if not edits:
        return text, []
    out.append(text[last:])
    return "".join(out), edits


def rewrite_html(document: str, mint: Mint) -> str:
    """`href="http(s)://..."` attributes minted (entities read, the new URL written escaped)."""

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        if not is_web_url(url):
            return match.group(0)
        return f"{match.group(1)}{match.group(2)}{html.escape(mint(url), quote=True)}{match.group(2)}"

    return HREF.sub(replace, document)


def rewrite_line(messages: list[dict[str, Any]], mint: Mint) -> None:
    """Mint the followable URLs of LINE messages, in place."""
    for message in messages:
        if message.get("type") in ("text", "textV2") and isinstance(message.get("text"), str):
            text, edits = rewrite_text(message["text"], mint)
            message["text"] = text
            for emoji in message.get("emojis") or ():
                if isinstance(emoji, dict) and isinstance(emoji.get("index"), int):
                    emoji["index"] += sum(delta for position, delta in edits if position < emoji["index"])
        _rewrite_actions(message, mint)


def _rewrite_actions(node: Any, mint: Mint) -> None:
    if isinstance(node, list):
        for item in node:
            _rewrite_actions(item, mint)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "uri":
        for key in ("uri", "linkUri"):
            if isinstance(node.get(key), str) and is_web_url(node[key]):
                node[key] = mint(node[key])
        alt = node.get("altUri")
        if isinstance(alt, dict) and isinstance(alt.get("desktop"), str) and is_web_url(alt["desktop"]):
            alt["desktop"] = mint(alt["desktop"])
    external = node.get("externalLink")
    if isinstance(external, dict) and isinstance(external.get("linkUri"), str) and is_web_url(external["linkUri"]):
        external["linkUri"] = mint(external["linkUri"])
    for key, value in node.items():
        if key != "externalLink" and isinstance(value, (dict, list)):
            _rewrite_actions(value, mint)


def code_of(tracked_url: str) -> str | None:
    """The link code of a `.../r/<code>?...` URL."""
    match = re.search(r"/r/([A-Za-z0-9][A-Za-z0-9_-]{2,63})(?:[?#]|$)", tracked_url)
    return match.group(1) if match else None


def message_link_code(url: str, attribution: Mapping[str, str]) -> str:
    """The same code for the same destination in the same message, whoever it is rendered for."""
    document = json.dumps([url, sorted(attribution.items())], ensure_ascii=False, separators=(",", ":"))
    digest = base64.b32encode(hashlib.sha256(document.encode("utf-8")).digest()).decode("ascii").lower()
    return CODE_PREFIX + digest[:CODE_DIGITS]


class LinkCreator(Protocol):
    def create(self, link: Link) -> bool: ...


class TrackedLinkMinter:
    """`LinkMinter`: the destination as this recipient's personal tracked link for this message.

    `person_of(profile_id, channel)` names the person a token may carry (an opaque identifier,
    `cdp.links.personal.person_for_profile`), or None: the link is then tracked for the message but
    the click is anonymous. Without a signing key no token is added.
    """

    def __init__(
        self,
        links: LinkCreator,
        *,
        base_url: str,
        clock: Clock,
        signing_key: Callable[[], bytes] | None,
        person_of: Callable[[str, str], PersonRef | None],
    ) -> None:
        self._links = links
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._signing_key = signing_key
        self._person_of = person_of
        self._created: set[str] = set()

    def __call__(self, url: str, context: RenderContext) -> str:
        attribution = {key: str(value) for key, value in context.link_attribution.items() if value is not None}
        channel = attribution.pop("channel", "line")
        if channel not in CHANNELS:
            channel = "web"
        problem = url_problem(url)
        if problem:
            raise RenderError("invalid_link", f"{url[:200]}: {problem}")
        try:
            destination = destination_uri(url)
        except BadRequest as exc:
            raise RenderError("invalid_link", f"{url[:200]}: {exc.message}") from exc
        code = message_link_code(destination, attribution)
        if code not in self._created:
            link = Link(
                code=code,
                url=destination,
                src=channel,
                created_at=iso_from_ms(self._clock.now_ms()),
                campaign=attribution.get("campaign_id"),
                attribution={key: attribution[key] for key in ATTRIBUTION_KEYS if key in attribution},
            )
            self._links.create(link)  # False: made by an earlier render of the same message, as wanted
            self._created.add(code)
        token = None
        if self._signing_key is not None:
            person = self._person_of(context.profile_id, channel)
            key = self._signing_key()
            if person is not None and key:
                token = sign_token(key, code, PersonRef(id_type=person.id_type, value=person.value, channel=channel))
        return redirect_url(self._base, code, token=token)


def people_from_profiles(profiles: ProfileReader) -> Callable[[str, str], PersonRef | None]:
    """`person_of` for `TrackedLinkMinter`: the (merge-followed) profile's most specific opaque
    identifier for that channel, or None when it has none a URL may carry or is not found."""

    def person_of(profile_id: str, channel: str) -> PersonRef | None:
        try:
            return person_for_profile(current_profile(profiles, profile_id), channel)
        except (NotFound, Conflict):
            return None

    return person_of
