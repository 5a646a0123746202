"""Configuration read from secrets: LINE channels and partner write keys."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any

from cdp.ports import SecretSource


@dataclass(frozen=True, slots=True)
class LineChannel:
    name: str
    secret: str
    access_token: str
    provider_id: str  # LINE user ids are per provider: identifiers are scoped by it
    login_channel_id: str | None = None  # the LINE Login channel (same provider) whose ID tokens bind members


class LineChannels:
    """Secret layout: {"<channel>": {"channelSecret", "channelAccessToken", "providerId", "loginChannelId"?}}."""

    def __init__(self, secrets: SecretSource, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id

    def providers(self) -> list[str]:
        """The LINE providers of the configured channels (their user ids are scoped by provider)."""
        document = self._secrets.get_json(self._secret_id)
        if not isinstance(document, dict):
            return []
        return sorted({channel.provider_id for channel in map(self.find, document) if channel is not None})

    def find(self, name: str) -> LineChannel | None:
        document = self._secrets.get_json(self._secret_id)
        entry = document.get(name) if isinstance(document, dict) else None
        if not isinstance(entry, dict) or not entry.get("channelSecret"):
            return None
        return LineChannel(
            name=name,
            secret=str(entry["channelSecret"]),
            access_token=str(entry.get("channelAccessToken", "")),
            provider_id=str(entry.get("providerId") or name),
            login_channel_id=str(entry["loginChannelId"]) if entry.get("loginChannelId") else None,
        )


class WriteKeys:
    """Secret layout: {"writeKey": "...", "source": "..."} or {"keys": {"<writeKey>": "<source>"}}."""

    def __init__(self, secrets: SecretSource, secret_id: str) -> None:
        self._secrets = secrets
        self._secret_id = secret_id

    def _known(self) -> dict[str, str]:
        document: Any = self._secrets.get_json(self._secret_id)
        known: dict[str, str] = {}
        if isinstance(document, dict):
            if isinstance(document.get("writeKey"), str):
                known[document["writeKey"]] = str(document.get("source") or "default")
            if isinstance(document.get("keys"), dict):
                known.update({str(k): str(v) for k, v in document["keys"].items()})
        return known

    def source_for(self, write_key: str | None) -> str | None:
        if not write_key:
            return None
        match = None
        for known_key, source in self._known().items():
            # Compare every key in constant time; do not stop early on a match.
            if hmac.compare_digest(known_key.encode(), write_key.encode()):
                match = source
        return match


def write_key_from_basic_auth(authorization: str | None) -> str | None:
    """Segment SDKs send `Authorization: Basic base64(writeKey + ":")`."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, _, _password = decoded.partition(":")
    return user or None
