"""One-click unsubscribe links (RFC 8058): `<base>/u/<token>`, the token naming the person and the
channel, signed with the tracked-link key so nobody can unsubscribe someone else by guessing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cdp.errors import BadRequest

SIGNATURE_BYTES = 16


def unsubscribe_token(key: bytes, profile_id: str, channel: str) -> str:
    body = _b64(f"{profile_id}\n{channel}".encode())
    return f"{body}.{_b64(_sign(key, body))}"


def read_unsubscribe_token(key: bytes, token: str) -> tuple[str, str]:
    """(profile id, channel) of a token this key signed; 400 `invalid_unsubscribe_token` otherwise."""
    body, _, signature = token.partition(".")
    try:
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        profile_id, _, channel = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().partition("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("this unsubscribe link is not valid", code="invalid_unsubscribe_token") from exc
    if not body or not hmac.compare_digest(given, _sign(key, body)) or not profile_id or not channel:
        raise BadRequest("this unsubscribe link is not valid", code="invalid_unsubscribe_token")
    return profile_id, channel


def unsubscribe_url(base_url: str, key: bytes, profile_id: str, channel: str) -> str:
    return f"{base_url.rstrip('/')}/u/{unsubscribe_token(key, profile_id, channel)}"


def _sign(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
