"""Phones and emails masked in answers that carry people's data.

Who sees them masked: viewers always; people signed in as users (marketers, admins) unless they
ask for the answer unmasked with `reveal=true` (the reveal is recorded in the audit log); machines
(service tokens, the bootstrap token) of the marketer or admin role get them as stored, since
integrations need the values.

What is masked, in the answers of the routes in `PII_ROUTES` (never configuration documents,
which a client reads and writes back): identifier objects of type email or phone, values under
keys that name a phone or an email, `email:`/`phone:` identifier keys, and any E.164 number or
email address inside a string. A masked email keeps its first character and its
domain (`a***@example.com`); a masked phone keeps its last three digits (`+*********678`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cdp.access.principal import Principal

# The answers that carry people's identifiers, traits or event documents (route templates).
PII_ROUTES = frozenset(
    {
        "/admin/v1/profiles/lookup",
        "/admin/v1/profiles/{id}",
        "/admin/v1/profiles/{id}/timeline",
        "/admin/v1/profiles/{id}/merges",
        "/admin/v1/profiles/search",
        "/admin/v1/merges/{id}",
        "/admin/v1/segments/{id}/members",
        "/admin/v1/segments/preview",
        "/admin/v1/jobs/{id}",
        "/admin/v1/journeys/{id}/runs",
        "/admin/v1/journeys/{id}/test",
    }
)

PHONE_KEYS = frozenset(
    {"phone", "phone_number", "phonenumber", "mobile", "mobile_phone", "mobilephone", "tel", "telephone", "cell"}
)
EMAIL_KEYS = frozenset({"email", "email_address", "emailaddress", "mail"})

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_E164_IN_TEXT = re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)")
_PHONE_LIKE = re.compile(r"\+?[\d\s\-().]{6,24}")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class MaskingDecision:
    mask: bool
    revealed: bool  # an explicit reveal that the audit log records


def decide(principal: Principal | None, *, reveal: bool) -> MaskingDecision:
    """Whether an answer to `principal` is masked. A viewer asking for `reveal` is refused by
    the caller (`can_reveal`) before this is asked."""
    if principal is None or principal.role == "viewer":
        return MaskingDecision(mask=True, revealed=False)
    if reveal:
        return MaskingDecision(mask=False, revealed=True)
    return MaskingDecision(mask=principal.kind == "user", revealed=False)


def can_reveal(principal: Principal | None) -> bool:
    return principal is not None and principal.can("marketer")


def mask_email(value: str) -> str:
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask_phone(value: str) -> str:
    """Every digit but the last three starred; the plus and the separators kept."""
    digits = len(_DIGIT.findall(value))
    if digits == 0:
        return value
    keep = min(3, digits // 3)
    seen = 0
    out = []
    for char in value:
        if char.isdigit():
            seen += 1
            out.append(char if seen > digits - keep else "*")
        else:
            out.append(char)
    return "".join(out)


def _mask_identifier_text(value: str) -> str:
    """`phone:+886...` / `email:a@b` identifier keys (merge ledgers, rejected identifiers)."""
    kind, _, rest = value.partition(":")
    if kind == "phone" and _PHONE_LIKE.fullmatch(rest):
        return f"phone:{mask_phone(rest)}"
    if kind == "email" and "@" in rest:
        return f"email:{mask_email(rest)}"
    return value  # e.g. a consent key, `email:marketing`


def mask_text(value: str) -> str:
    """A string of unknown meaning: identifier keys, E.164 numbers and emails inside it."""
    if value.startswith(("phone:", "email:")):
        return _mask_identifier_text(value)
    if _E164.fullmatch(value):
        return mask_phone(value)
    if "+" in value:
        value = _E164_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), value)
    if "@" in value:
        value = mask_email(value)
    return value


def _mask_by_key(key: str, value: Any) -> Any | None:
    """The masked value when `key` names a phone or an email, else None (unknown)."""
    name = key.lower().replace("-", "_").rsplit(".", 1)[-1]
    if isinstance(value, str):
        if name in PHONE_KEYS and _PHONE_LIKE.fullmatch(value):
            return mask_phone(value)
        if name in PHONE_KEYS:
            return mask_text(value) if value.startswith("phone:") else "***"
        if name in EMAIL_KEYS:
            return mask_email(value) if "@" in value else "***"
    return None


def mask(value: Any) -> Any:
    """A copy of a JSON answer with phones and emails masked."""
    if isinstance(value, dict):
        kind = value.get("type") if isinstance(value.get("type"), str) else None
        out: dict[str, Any] = {}
        for key, item in value.items():
            masked_key = mask_text(key) if isinstance(key, str) else key
            if kind in ("phone", "email") and key == "value" and isinstance(item, str):
                out[masked_key] = mask_phone(item) if kind == "phone" else mask_email(item)
                continue
            by_key = _mask_by_key(str(key), item)
            out[masked_key] = by_key if by_key is not None else mask(item)
        return out
    if isinstance(value, list):
        return [mask(item) for item in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


# --- log lines --------------------------------------------------------------------------------
# A log line is text of unknown shape: phones and emails are found by their form. LINE message
# texts have no form to find; they are kept out of log lines where they are handled.
_LOG_LOCAL_PHONE = re.compile(r"(?<![\w:./\-])(?:0\d{8,10}|0\d{1,3}-\d{3,4}-\d{3,4})(?![\w\-])")
_LOG_CREDENTIAL = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9+/=._~\-]+")


def scrub_log_text(line: str) -> str:
    """A log line with emails, phones and Authorization credentials masked."""
    if "@" in line:
        line = mask_email(line)
    line = _E164_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), line)
    line = _LOG_LOCAL_PHONE.sub(lambda m: mask_phone(m.group(0)), line)
    return _LOG_CREDENTIAL.sub(lambda m: f"{m.group(1)} ***", line)
