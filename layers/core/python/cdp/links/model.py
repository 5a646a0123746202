"""A tracked link: its code, destination, acquisition source, campaign and tags, validated."""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import idna

from cdp.errors import BadRequest
from cdp.profiles.tags import tag_problem

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,63}")
SRC = re.compile(r"[a-z0-9][a-z0-9._-]{0,55}")  # `source:<src>` stays within a tag's 64 characters
GENERATED_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from print
GENERATED_CODE_LENGTH = 8
MAX_URL_LENGTH = 2048
MAX_CAMPAIGN_LENGTH = 128
MAX_LINK_TAGS = 20
LINK_FIELDS = frozenset({"code", "url", "src", "campaign", "tags"})


@dataclass(frozen=True, slots=True)
class ClickCounts:
    total: int = 0
    known: int = 0  # clicks a valid personal token attributed to a person
    anonymous: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "known": self.known, "anonymous": self.anonymous}


@dataclass(frozen=True, slots=True)
class Link:
    code: str
    url: str
    src: str
    created_at: str
    campaign: str | None = None
    tags: tuple[str, ...] = ()
    clicks: ClickCounts = field(default_factory=ClickCounts)
    # Ids of the message a link was minted for (campaign_id, journey_id, node_id, message_id,
    # template_id, template_version: cdp.messaging.templates.links); its clicks carry them.
    attribution: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "url": self.url,
            "src": self.src,
            "campaign": self.campaign,
            "tags": list(self.tags),
            "created_at": self.created_at,
            "clicks": self.clicks.as_dict(),
        }
        if self.attribution:
            out["attribution"] = dict(self.attribution)
        return out


def generate_code() -> str:
    return "".join(secrets.choice(GENERATED_CODE_ALPHABET) for _ in range(GENERATED_CODE_LENGTH))


def valid_code(code: Any) -> bool:
    return isinstance(code, str) and CODE.fullmatch(code) is not None


def valid_src(src: Any) -> bool:
    return isinstance(src, str) and SRC.fullmatch(src) is not None


def url_problem(url: Any) -> str | None:
    """Why `url` cannot be a destination, or None: absolute http(s) with a host, no credentials,
    no spaces or control characters, at most 2,048 characters."""
    if not isinstance(url, str) or not url:
        return "`url` must be an absolute http or https URL"
    if len(url) > MAX_URL_LENGTH:
        return f"`url` is at most {MAX_URL_LENGTH} characters"
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in url):
        return "`url` has no spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "`url` is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "`url` must be an absolute http or https URL"
    if parts.username is not None or parts.password is not None:
        return "`url` may not carry a user name or password"
    if port == 0:
        return "`url` has an invalid port"
    return None


# RFC 3986: what a URI may hold as it is (unreserved, reserved, and `%` of an existing escape).
URI_SAFE = "!#$&'()*+,/:;=?@[]~-._%"


def iri_to_uri(url: str) -> str:
    """The ASCII URI form of an IRI (RFC 3987 section 3.1): an IDNA (UTS #46) host, and UTF-8
    percent-escapes for every other character a URI may not hold. ASCII URIs come back unchanged,
    existing escapes are kept, so converting twice changes nothing. Raises ValueError when the
    host is not a valid internationalized domain name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host.isascii():
        host = idna.encode(host, uts46=True).decode("ascii")
    netloc = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            quote(parts.path, safe=URI_SAFE),
            quote(parts.query, safe=URI_SAFE),
            quote(parts.fragment, safe=URI_SAFE),
        )
    )


def destination_uri(body_url: str) -> str:
    """`url` of a create request as stored: its URI form, refused (400) if the host is not IDNA."""
    try:
        uri = iri_to_uri(body_url)
    except ValueError as exc:  # idna.IDNAError is a UnicodeError
        raise BadRequest(
            "`url` has a host that is not a valid internationalized domain name",
            code="invalid_link_url",
            details={"field": "url"},
        ) from exc
    if len(uri) > MAX_URL_LENGTH:
        raise BadRequest(
            f"`url` is at most {MAX_URL_LENGTH} characters once percent-encoded",
            code="invalid_link_url",
            details={"field": "url"},
        )
    return uri


def new_link(body: Mapping[str, Any], *, created_at: str, code: str | None = None) -> Link:
    """Validate a create request; 400 with a machine-readable code naming what is wrong.

    `code` is used when the request names none (a generated one)."""
    if not isinstance(body, Mapping):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    unknown = sorted(set(body) - LINK_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field `{unknown[0]}`", code="unknown_link_field", details={"field": unknown[0]})
    requested = body.get("code")
    if requested is not None and not valid_code(requested):
        raise BadRequest(
            "`code` is 3-64 letters, digits, '-' or '_', starting with a letter or digit",
            code="invalid_link_code",
            details={"field": "code"},
        )
    problem = url_problem(body.get("url"))
    if problem:
        raise BadRequest(problem, code="invalid_link_url", details={"field": "url"})
    src = body.get("src")
    if not valid_src(src):
        raise BadRequest(
            "`src` is a lower-case slug of at most 56 characters (a-z, 0-9, '.', '_', '-'), e.g. store-taipei-101",
            code="invalid_link_src",
            details={"field": "src"},
        )
    campaign = body.get("campaign")
    if campaign is not None and (
        not isinstance(campaign, str)
        or not campaign.strip()
        or len(campaign) > MAX_CAMPAIGN_LENGTH
        or any(unicodedata.category(char).startswith("C") for char in campaign)
    ):
        raise BadRequest(
            f"`campaign` is a non-empty string of at most {MAX_CAMPAIGN_LENGTH} characters without control characters",
            code="invalid_link_campaign",
            details={"field": "campaign"},
        )
    tags = body.get("tags", [])
    if not isinstance(tags, list):
        raise BadRequest("`tags` must be a list of tag names", code="invalid_tag_list", details={"field": "tags"})
    if len(tags) > MAX_LINK_TAGS:
        raise BadRequest(f"at most {MAX_LINK_TAGS} tags per link", code="too_many_tags", details={"field": "tags"})
    for index, tag in enumerate(tags):
        problem = tag_problem(tag)
        if problem:
            raise BadRequest(f"`tags[{index}]`: {problem}", code="invalid_tag", details={"field": f"tags[{index}]"})
    final_code = requested if requested is not None else code
    if final_code is None:
        raise ValueError("a link needs a code: pass a generated one")
    return Link(
        code=final_code,
        url=destination_uri(str(body["url"])),
        src=str(src),
        created_at=created_at,
        campaign=campaign,
        tags=tuple(dict.fromkeys(tags)),
    )
