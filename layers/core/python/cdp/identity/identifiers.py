"""Identifiers of a person and their normalisation.

Phones become E.164 with `phonenumbers` (default region configurable, TW by default); emails
are trimmed and lower-cased after an `email-validator` syntax check (no DNS). Values that fail
normalisation or are known junk are never used as keys: they are reported as rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

MAX_IDENTIFIER_BYTES = 512  # keeps `ID#<type>#<value>` well inside DynamoDB's 2 KB key limit
MAX_IDENTIFIERS_PER_EVENT = 20  # one event names one person; more is a bulk payload, not identity
IDENTIFIER_TYPES = (
    "member_id",
    "line",
    "email",
    "phone",
    "wechat_unionid",
    "wechat_openid",
    "idfa",
    "anonymous_id",
)
# Decides which profile an event belongs to when its identifiers point at different profiles.
DEFAULT_PRIORITY = IDENTIFIER_TYPES

# Junk that forms fill in; as keys they would glue strangers into one profile.
DEFAULT_BLOCKED_VALUES = frozenset(
    {"", "null", "none", "undefined", "n/a", "na", "-", "0", "unknown", "test@test.com", "0000000000", "+886000000000"}
)


@dataclass(frozen=True, slots=True, order=True)
class Identifier:
    type: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.type}#{self.value}"


@dataclass(frozen=True, slots=True)
class RejectedIdentifier:
    type: str
    raw: str
    reason: str


class IdentifierNormalizer:
    def __init__(self, default_region: str = "TW", blocked_values: frozenset[str] = DEFAULT_BLOCKED_VALUES) -> None:
        self._region = default_region
        self._blocked = blocked_values
        # A blocked test number is blocked however it is written: compare numbers, not text.
        self._blocked_phones = frozenset(filter(None, (self._e164(value) for value in blocked_values)))

    def _e164(self, text: str) -> str | None:
        try:
            number = phonenumbers.parse(text, self._region)
        except phonenumbers.NumberParseException:
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def normalize(self, id_type: str, raw: object) -> Identifier | RejectedIdentifier:
        text = str(raw).strip() if raw is not None else ""
        if id_type not in IDENTIFIER_TYPES:
            return RejectedIdentifier(id_type, text, "unknown_type")
        if text.lower() in self._blocked:
            return RejectedIdentifier(id_type, text, "blocked_value")
        if id_type == "email":
            return self._email(text)
        if id_type == "phone":
            return self._phone(text)
        if len(text.encode("utf-8", "replace")) > MAX_IDENTIFIER_BYTES:
            return RejectedIdentifier(id_type, text[:64], "too_long")
        return Identifier(id_type, text)

    def _email(self, text: str) -> Identifier | RejectedIdentifier:
        # Imported on the first email, not at cold start: its RFC patterns compile in about 12 ms,
        # which handlers that never see an email (most admin routes, LINE-only deliveries) skip.
        from email_validator import EmailNotValidError, validate_email

        try:
            normalized = validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError:
            return RejectedIdentifier("email", text, "invalid_email")
        value = normalized.lower()
        if value in self._blocked:
            return RejectedIdentifier("email", text, "blocked_value")
        return Identifier("email", value)

    def _phone(self, text: str) -> Identifier | RejectedIdentifier:
        try:
            number = phonenumbers.parse(text, self._region)
        except phonenumbers.NumberParseException:
            return RejectedIdentifier("phone", text, "invalid_phone")
        if not phonenumbers.is_valid_number(number):
            return RejectedIdentifier("phone", text, "invalid_phone")
        value = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if (
            value in self._blocked
            or value in self._blocked_phones
            or phonenumbers.national_significant_number(number) in self._blocked
        ):
            return RejectedIdentifier("phone", text, "blocked_value")
        return Identifier("phone", value)


LINE_USER_ID = re.compile(r"U[0-9a-f]{32}")  # the Messaging API and LINE Login `sub` format


def is_line_user_id(value: object) -> bool:
    return isinstance(value, str) and LINE_USER_ID.fullmatch(value) is not None


def line_identifier(provider_id: str, user_id: str) -> Identifier:
    """LINE user ids differ per provider, so the provider is part of the value."""
    return Identifier("line", f"{provider_id}:{user_id}")
