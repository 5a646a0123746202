"""Configuration read from secrets: LINE channels and partner write keys."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any

from cdp.errors import CdpError
from cdp.ports import Clock, SecretSource

# After an operator fills in a channel, LINE's Verify must not wait for the secrets cache to
# expire; a stranger probing unknown channels must not turn every request into a Secrets Manager
# read either: at most one forced re-read per interval per container.
REFRESH_INTERVAL_MS = 30_000


class ChannelMisconfigured(CdpError):
    """A channel entry exists but cannot be used as it is; the message names the missing setting."""

    status = 503  # LINE redelivers, and the events are stored once the setting is filled in
    code = "line_channel_misconfigured"


@dataclass(frozen=True, slots=True)
class LineChannel:
    name: str
    secret: str
    access_token: str
    provider_id: str  # LINE user ids are per provider: identifiers are scoped by it
    login_channel_id: str | None = None  # the LINE Login channel (same provider) whose ID tokens bind members


class LineChannels:
    """Secret layout: {"<channel>": {"channelSecret", "channelAccessToken", "providerId", "loginChannelId"?}}.

    `providerId` is required: LINE user ids are per provider, and a guessed provider would split
    one person's identities once the real one is filled in.
    """

    def __init__(self, secrets: SecretSource, secret_id: str, clock: Clock | None = None) -> None:
        self._secrets = secrets
        self._secret_id = secret_id
        self._clock = clock
        self._last_refresh_ms: int | None = None

    def providers(self) -> list[str]:
        """The LINE providers of the usable channels (their user ids are scoped by provider)."""
        document = self._secrets.get_json(self._secret_id)
        if not isinstance(document, dict):
            return []
        return sorted({provider for entry in document.values() if (provider := _provider_id(entry)) is not None})

    def find(self, name: str) -> LineChannel | None:
        """The channel, None when it is not configured; ChannelMisconfigured when it lacks `providerId`."""
        document = self._secrets.get_json(self._secret_id)
        entry = document.get(name) if isinstance(document, dict) else None
        if not isinstance(entry, dict) or not entry.get("channelSecret"):
            return None
        provider_id = _provider_id(entry)
        if provider_id is None:
            raise ChannelMisconfigured(
                f"LINE channel {name!r} has no `providerId` in the channels secret "
                "(LINE Developers Console: the provider's ID on its settings page)",
                details={"channel": name, "missing": "providerId"},
            )
        return LineChannel(
            name=name,
            secret=str(entry["channelSecret"]),
            access_token=str(entry.get("channelAccessToken", "")),
            provider_id=provider_id,
            login_channel_id=str(entry["loginChannelId"]) if entry.get("loginChannelId") else None,
        )

    def refresh(self) -> bool:
        """Drop the cached channels secret so the next read is fresh; rate-limited by the clock.

        Returns whether it refreshed. Without a clock (callers that never refresh) it never does.
        """
        if self._clock is None:
            return False
        now = self._clock.now_ms()
        if self._last_refresh_ms is not None and now - self._last_refresh_ms < REFRESH_INTERVAL_MS:
            return False
        self._last_refresh_ms = now
        self._secrets.refresh(self._secret_id)
        return True


def _provider_id(entry: Any) -> str | None:
    if not isinstance(entry, dict) or not entry.get("channelSecret"):
        return None
    provider = entry.get("providerId")
    if isinstance(provider, bool) or not isinstance(provider, str | int):
        return None
    text = str(provider).strip()
    return text or None


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
