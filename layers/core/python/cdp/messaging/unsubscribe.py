"""One-click unsubscribe (RFC 8058): `<base>/u/<token>`, the token naming the channel and the address
the message went to, signed with the tracked-link key so nobody can unsubscribe someone else.

Unsubscribing records the opt-out as consent: an identify naming the person by that address with
`context.consent {"<channel>:marketing": false}`, stored as a raw event like every consent change
(cdp.profiles.consent), so it is on the timeline and the send point reads it from the profile.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest
from cdp.events.raw import RawEvent, partner_event_id
from cdp.ports import Clock, RawEventStore
from cdp.profiles.consent import CONSENT_SOURCE

SIGNATURE_BYTES = 16
IDENTIFIER_OF_CHANNEL = {"email": "email", "sms": "phone"}
INVALID = "invalid_unsubscribe_token"


def unsubscribe_token(key: bytes, channel: str, address: str) -> str:
    body = _b64(f"{channel}\n{address}".encode())
    return f"{body}.{_b64(_sign(key, body))}"


def read_unsubscribe_token(key: bytes, token: str) -> tuple[str, str]:
    """(channel, address) of a token this key signed; 400 `invalid_unsubscribe_token` otherwise."""
    body, _, signature = token.partition(".")
    try:
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        channel, _, address = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().partition("\n")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("this unsubscribe link is not valid", code=INVALID) from exc
    if not body or not hmac.compare_digest(given, _sign(key, body)):
        raise BadRequest("this unsubscribe link is not valid", code=INVALID)
    if channel not in IDENTIFIER_OF_CHANNEL or not address:
        raise BadRequest("this unsubscribe link is not valid", code=INVALID)
    return channel, address


def unsubscribe_url(base_url: str, key: bytes, channel: str, address: str) -> str:
    return f"{base_url.rstrip('/')}/u/{unsubscribe_token(key, channel, address)}"


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    channel: str
    recorded: bool  # False: the same opt-out was already recorded today (a repeated click or POST)


class Unsubscriber:
    def __init__(self, *, events: RawEventStore, signing_key: Callable[[], bytes], clock: Clock) -> None:
        self._events = events
        self._key = signing_key
        self._clock = clock

    def check(self, token: str) -> str:
        """The channel the token unsubscribes from (400 when the token is not ours)."""
        return read_unsubscribe_token(self._key(), token)[0]

    def unsubscribe(self, token: str) -> Unsubscribed:
        channel, address = read_unsubscribe_token(self._key(), token)
        now_ms = self._clock.now_ms()
        at = iso_from_ms(now_ms)
        # One event per link per day: mail clients repeat the one-click POST; a later opt-out after
        # a re-subscription is a new day's event.
        message_id = "unsubscribe-" + hashlib.sha256(f"{token}\n{at[:10]}".encode()).hexdigest()[:40]
        payload = {
            "type": "identify",
            "messageId": message_id,
            "timestamp": at,
            "receivedAt": at,
            "context": {
                "channel": "crm",
                "consent": {f"{channel}:marketing": False},
                "externalIds": [
                    {"type": IDENTIFIER_OF_CHANNEL[channel], "id": address, "collection": "users", "encoding": "none"}
                ],
            },
        }
        event = RawEvent(
            event_id=partner_event_id(CONSENT_SOURCE, message_id),
            origin="partner",
            source=CONSENT_SOURCE,
            received_at=at,
            payload=payload,
        )
        (recorded,) = self._events.store_once([event])
        return Unsubscribed(channel, recorded)


def _sign(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
