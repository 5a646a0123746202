"""A template: per channel content (LINE messages, an email, an SMS), versioned and immutable per version.

Stored content is validated here, once, when it is saved: LINE messages against LINE's schemas
(`line.py`), every text field's Liquid (`personalise.py`), and each channel's limits. What is wrong
is answered as 400 `invalid_template` with the JSON pointer into the request body
(`details.pointer`, e.g. `/line/messages/0/text`) and a `details.reason`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cdp.errors import BadRequest
from cdp.messaging.content import CHANNELS, Channel
from cdp.messaging.templates import personalise
from cdp.messaging.templates.line import line_problem
from cdp.messaging.templates.sms import MAX_SMS_SEGMENTS, sms_size

ERROR_CODE = "invalid_template"
TEMPLATE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_CONTENT_BYTES = 300 * 1024  # one version is one DynamoDB item (400 KB)
# RFC 5322 section 2.1.1: a header line is at most 998 characters.
MAX_SUBJECT_LENGTH = 998
MAX_EMAIL_BODY = 256 * 1024  # characters of one email body (this product's bound, well under SES's 40 MB)
STATUS_ACTIVE, STATUS_ARCHIVED = "active", "archived"


class InvalidTemplate(BadRequest):
    code = ERROR_CODE

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}", details={"pointer": pointer, "reason": reason})
        self.pointer = pointer
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    subject: str
    html: str | None = None
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"subject": self.subject}
        if self.html is not None:
            out["html"] = self.html
        if self.text is not None:
            out["text"] = self.text
        return out


@dataclass(frozen=True, slots=True)
class TemplateContent:
    line: list[dict[str, Any]] | None = None  # 1 to 5 LINE message objects
    email: EmailTemplate | None = None
    sms: str | None = None

    @property
    def channels(self) -> list[Channel]:
        present = {"line": self.line is not None, "email": self.email is not None, "sms": self.sms is not None}
        return [channel for channel in CHANNELS if present[channel]]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.line is not None:
            out["line"] = {"messages": self.line}
        if self.email is not None:
            out["email"] = self.email.as_dict()
        if self.sms is not None:
            out["sms"] = {"text": self.sms}
        return out


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    template_id: str
    version: int
    content: TemplateContent
    created_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "created_at": self.created_at,
            "channels": self.content.channels,
            "content": self.content.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Template:
    """The template's record; its content lives in its versions (1, 2, ...), never changed once written."""

    template_id: str
    name: str
    latest_version: int
    channels: tuple[Channel, ...]
    created_at: str
    updated_at: str
    status: str = STATUS_ACTIVE
    description: str = ""
    archived_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.template_id,
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "latest_version": self.latest_version,
            "channels": list(self.channels),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "archived_at": self.archived_at,
        }


def valid_template_id(value: Any) -> bool:
    return isinstance(value, str) and TEMPLATE_ID.fullmatch(value) is not None


def parse_content(document: Mapping[str, Any], *, prefix: str = "") -> TemplateContent:
    """Validate `{"line"?, "email"?, "sms"?}` (at least one); raises InvalidTemplate naming the pointer."""
    line = _line(document["line"], f"{prefix}/line") if document.get("line") is not None else None
    email = _email(document["email"], f"{prefix}/email") if document.get("email") is not None else None
    sms = _sms(document["sms"], f"{prefix}/sms") if document.get("sms") is not None else None
    content = TemplateContent(line=line, email=email, sms=sms)
    if not content.channels:
        raise InvalidTemplate(prefix, "a template has content for at least one channel: line, email or sms")
    size = len(json.dumps(content.as_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_CONTENT_BYTES:
        raise InvalidTemplate(prefix, f"a template's content is at most {MAX_CONTENT_BYTES} bytes of JSON")
    return content


def content_from_dict(document: Mapping[str, Any]) -> TemplateContent:
    """Stored content, already validated when it was saved."""
    email = document.get("email")
    sms = document.get("sms")
    return TemplateContent(
        line=list(document["line"]["messages"]) if document.get("line") else None,
        email=EmailTemplate(email["subject"], email.get("html"), email.get("text")) if email else None,
        sms=str(sms["text"]) if sms else None,
    )


def _object(value: Any, pointer: str, keys: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidTemplate(pointer, "must be an object")
    unknown = sorted(str(key) for key in value if key not in keys)
    if unknown:
        raise InvalidTemplate(f"{pointer}/{_escape(unknown[0])}", "unknown field")
    return value


def _line(value: Any, pointer: str) -> list[dict[str, Any]]:
    messages = _object(value, pointer, {"messages"}).get("messages")
    if not isinstance(messages, list):
        raise InvalidTemplate(f"{pointer}/messages", "`messages` is a list of 1 to 5 LINE message objects")
    problem = line_problem(messages, mode="template")
    if problem is not None:
        raise InvalidTemplate(f"{pointer}/messages{problem.pointer}", problem.reason)
    for path, text in _strings(messages, f"{pointer}/messages"):
        _liquid(text, path)
    for index, message in enumerate(messages):
        if message.get("emojis") and personalise.has_markup(str(message.get("text", ""))):
            # LINE emojis sit at fixed character positions that personalised text would move.
            raise InvalidTemplate(
                f"{pointer}/messages/{index}/text", "a text message with LINE emojis cannot hold Liquid (use textV2)"
            )
    return messages


def _email(value: Any, pointer: str) -> EmailTemplate:
    email = _object(value, pointer, {"subject", "html", "text"})
    subject, html, text = email.get("subject"), email.get("html"), email.get("text")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidTemplate(f"{pointer}/subject", "an email has a subject")
    if len(subject) > MAX_SUBJECT_LENGTH or "\n" in subject or "\r" in subject:
        raise InvalidTemplate(f"{pointer}/subject", f"one line of at most {MAX_SUBJECT_LENGTH} characters")
    for name, body in (("html", html), ("text", text)):
        if body is not None and (not isinstance(body, str) or not body.strip()):
            raise InvalidTemplate(f"{pointer}/{name}", "must be non-empty text when present")
        if isinstance(body, str) and len(body) > MAX_EMAIL_BODY:
            raise InvalidTemplate(f"{pointer}/{name}", f"at most {MAX_EMAIL_BODY} characters")
    if html is None and text is None:
        raise InvalidTemplate(pointer, "an email has an `html` or a `text` body (or both)")
    _liquid(subject, f"{pointer}/subject")
    if html is not None:
        _liquid(html, f"{pointer}/html", autoescape=True)
    if text is not None:
        _liquid(text, f"{pointer}/text")
    return EmailTemplate(subject=subject, html=html, text=text)


def _sms(value: Any, pointer: str) -> str:
    text = _object(value, pointer, {"text"}).get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidTemplate(f"{pointer}/text", "an SMS has a non-empty `text`")
    _liquid(text, f"{pointer}/text")
    if sms_size(text).segments > MAX_SMS_SEGMENTS:
        raise InvalidTemplate(f"{pointer}/text", f"an SMS is at most {MAX_SMS_SEGMENTS} segments")
    return text


def _liquid(text: str, pointer: str, *, autoescape: bool = False) -> None:
    problem = personalise.check(text, autoescape=autoescape)
    if problem is not None:
        raise InvalidTemplate(pointer, problem.message)


def _strings(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield pointer, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _strings(value, f"{pointer}/{_escape(str(key))}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{pointer}/{index}")


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
