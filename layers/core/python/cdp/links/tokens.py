"""Personal link tokens: an HMAC-SHA256-signed reference to a person and the channel a link was
sent on, so a click on `/r/<code>?u=<token>` is attributed to that person.

Format: `v1.<payload>.<signature>`, both parts base64url without padding; the payload is compact
JSON `{"c": link code, "ch": channel, "t": identifier type, "v": identifier value}` and the
signature is HMAC-SHA256(key, "v1." + payload). The token is bound to its link's code, so it
cannot be moved onto another link. Only opaque identifiers are carried (a LINE user id scoped by
provider, a member id, ...): never an email address or phone number, because URLs are shared and
logged. Verification never raises: a malformed or forged token is None (the click is anonymous).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

VERSION = "v1"
CHANNELS = ("line", "email", "sms", "web", "app")
# Identifier types a token may carry: opaque ids only (no contact data in URLs).
TOKEN_IDENTIFIER_TYPES = ("line", "member_id", "wechat_unionid", "wechat_openid", "anonymous_id")
MAX_TOKEN_LENGTH = 1024
MAX_VALUE_LENGTH = 512


@dataclass(frozen=True, slots=True)
class PersonRef:
    """Who a personal link was sent to, and on which channel."""

    id_type: str
    value: str
    channel: str


def sign_token(key: bytes, code: str, person: PersonRef) -> str:
    if not key:
        raise ValueError("an empty signing key signs nothing")
    if person.id_type not in TOKEN_IDENTIFIER_TYPES or person.channel not in CHANNELS:
        raise ValueError(f"a token cannot carry {person.id_type!r} on {person.channel!r}")
    document = {"c": code, "ch": person.channel, "t": person.id_type, "v": person.value}
    payload = _b64(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return f"{VERSION}.{payload}.{_b64(_mac(key, payload))}"


def verify_token(key: bytes, code: str, token: Any) -> PersonRef | None:
    """The person of a token signed with `key` for link `code`, or None (anything else)."""
    if not key or not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        return None
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != VERSION or not payload or not signature:
        return None
    try:
        given = _unb64(signature)
        document = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not hmac.compare_digest(given, _mac(key, payload)):
        return None
    if not isinstance(document, dict) or document.get("c") != code:
        return None
    channel, id_type, value = document.get("ch"), document.get("t"), document.get("v")
    if channel not in CHANNELS or id_type not in TOKEN_IDENTIFIER_TYPES:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_LENGTH:
        return None
    return PersonRef(id_type=str(id_type), value=value, channel=str(channel))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, f"{VERSION}.{payload}".encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
