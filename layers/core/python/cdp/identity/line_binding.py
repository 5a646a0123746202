"""Binding a LINE user to a member id, for the brand's servers (DESIGN.md "Identity").

- Account link: the brand's site asks for a link token for a LINE user while the member is logged
  in; it gets LINE's account-link URL with a single-use nonce bound to that member. LINE's
  `accountLink` webhook brings the nonce back and the event processor consumes it
  (`cdp.identity.account_link`).
- LINE Login: the site posts the user's ID token; once LINE has verified it, the binding is stored
  as one raw Segment `identify` (member id + `line` external id), so it flows through the same
  stream, identity resolution and merges as every other event and is recorded exactly once.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, CdpError
from cdp.events.raw import RawEvent, partner_event_id
from cdp.identity.account_link import AccountLinks
from cdp.identity.identifiers import Identifier, IdentifierNormalizer, is_line_user_id, line_identifier
from cdp.ingestion.channels import LineChannel, LineChannels
from cdp.ports import Clock, RawEventStore

ACCOUNT_LINK_URL = "https://access.line.me/dialog/bot/accountLink"
LINE_LOGIN_ISSUER = "https://access.line.me"
LINE_LOGIN_SOURCE = "line-login"  # the raw events' partner source
DEFAULT_CHANNEL = "default"
MAX_ID_TOKEN_LENGTH = 8192  # LINE's ID tokens are around 1 KB; anything far larger is not one


class LineApi(Protocol):
    def issue_link_token(self, *, access_token: str, user_id: str) -> str: ...

    def verify_id_token(self, *, id_token: str, client_id: str) -> dict[str, Any]: ...


class NotConfigured(CdpError):
    """The deployment lacks configuration a route needs: an operator problem, visible as a 5xx."""

    status = 500
    code = "not_configured"


@dataclass(frozen=True, slots=True)
class IssuedAccountLink:
    link_token: str
    nonce: str
    url: str
    expires_at: str

    def as_dict(self) -> dict[str, str]:
        return {"linkToken": self.link_token, "nonce": self.nonce, "url": self.url, "expiresAt": self.expires_at}


@dataclass(frozen=True, slots=True)
class LoginBinding:
    line_user_id: str
    member_id: str
    event_id: str
    stored: bool  # False when the same binding (same token, member) was already recorded

    def as_dict(self) -> dict[str, str]:
        return {"lineUserId": self.line_user_id, "memberId": self.member_id, "eventId": self.event_id}


class LineBinding:
    def __init__(
        self,
        *,
        channels: LineChannels,
        line_api: LineApi,
        links: AccountLinks,
        raw_events: RawEventStore,
        normalizer: IdentifierNormalizer,
        clock: Clock,
    ) -> None:
        self._channels = channels
        self._line_api = line_api
        self._links = links
        self._raw_events = raw_events
        self._normalizer = normalizer
        self._clock = clock

    def start_account_link(self, body: Mapping[str, Any]) -> IssuedAccountLink:
        """`{"lineUserId", "memberId", "channel"?}` -> LINE's account-link URL carrying a fresh nonce."""
        line_user_id = _line_user_id(body.get("lineUserId"))
        member_id = self._member_id(body.get("memberId"))
        channel = self._channel(body.get("channel"))
        if not channel.access_token:
            raise NotConfigured(
                f"LINE channel {channel.name!r} has no channelAccessToken", code="channel_not_configured"
            )
        # LINE first: when it refuses the user, no nonce is left behind.
        link_token = self._line_api.issue_link_token(access_token=channel.access_token, user_id=line_user_id)
        nonce = self._links.issue(
            channel=channel.name, provider=channel.provider_id, line_user_id=line_user_id, member_id=member_id
        )
        query = urllib.parse.urlencode({"linkToken": link_token, "nonce": nonce.nonce})
        return IssuedAccountLink(link_token, nonce.nonce, f"{ACCOUNT_LINK_URL}?{query}", nonce.expires_at)

    def bind_login(self, body: Mapping[str, Any]) -> LoginBinding:
        """`{"idToken", "memberId", "channel"?}` -> the LINE user of the verified token bound to the member."""
        id_token = body.get("idToken")
        if id_token is None or id_token == "":
            raise BadRequest("`idToken` is required", code="missing_id_token")
        if not isinstance(id_token, str) or len(id_token) > MAX_ID_TOKEN_LENGTH:
            raise BadRequest("`idToken` must be a LINE Login ID token", code="invalid_id_token")
        member_id = self._member_id(body.get("memberId"))
        channel = self._channel(body.get("channel"))
        if not channel.login_channel_id:
            raise NotConfigured(
                f"LINE channel {channel.name!r} has no loginChannelId", code="login_channel_not_configured"
            )
        claims = self._line_api.verify_id_token(id_token=id_token, client_id=channel.login_channel_id)
        now_ms = self._clock.now_ms()
        line_user_id, issued_at = verified_subject(
            claims, client_id=channel.login_channel_id, now_seconds=now_ms // 1000
        )
        line = line_identifier(channel.provider_id, line_user_id)
        event = login_identify_event(line, member_id=member_id, issued_at=issued_at, now_ms=now_ms)
        (stored,) = self._raw_events.store_once([event])
        return LoginBinding(line_user_id, member_id, event.event_id, stored)

    # input -------------------------------------------------------------------------------------
    def _member_id(self, value: Any) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise BadRequest("`memberId` is required", code="missing_member_id")
        if not isinstance(value, str):
            raise BadRequest("`memberId` must be a string", code="invalid_member_id")
        result = self._normalizer.normalize("member_id", value)
        if not isinstance(result, Identifier):
            raise BadRequest(f"`memberId` {value!r} is not usable: {result.reason}", code="invalid_member_id")
        return result.value

    def _channel(self, value: Any) -> LineChannel:
        if value is None:
            value = DEFAULT_CHANNEL
        if not isinstance(value, str) or not value.strip():
            raise BadRequest("`channel` must be a LINE channel name", code="invalid_channel")
        channel = self._channels.find(value.strip())
        if channel is None:
            raise BadRequest(f"no LINE channel named {value!r} is configured", code="unknown_channel")
        return channel


def _line_user_id(value: Any) -> str:
    if value is None or value == "":
        raise BadRequest("`lineUserId` is required", code="missing_line_user_id")
    if not is_line_user_id(value):
        raise BadRequest("`lineUserId` must be a LINE user id (U + 32 hex digits)", code="invalid_line_user_id")
    return str(value)


def verified_subject(claims: Mapping[str, Any], *, client_id: str, now_seconds: int) -> tuple[str, int]:
    """The LINE user id and issue time of ID token claims LINE verified, checked again on our side:
    a misconfigured base URL or a proxy must not be able to hand us someone else's identity."""

    def invalid(why: str) -> BadRequest:
        return BadRequest(f"the ID token is not usable: {why}", code="invalid_id_token")

    if claims.get("iss") != LINE_LOGIN_ISSUER:
        raise invalid(f"issuer is {claims.get('iss')!r}, not {LINE_LOGIN_ISSUER}")
    audience = claims.get("aud")
    if audience != client_id and not (isinstance(audience, list) and client_id in audience):
        raise invalid("it was issued for another LINE Login channel")
    expires, issued = _epoch(claims.get("exp")), _epoch(claims.get("iat"))
    if expires is None or expires <= now_seconds:
        raise invalid("it has expired")
    if issued is None:
        raise invalid("it has no issue time")
    subject = claims.get("sub")
    if not is_line_user_id(subject):
        raise invalid("its subject is not a LINE user id")
    return str(subject), issued


def _epoch(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def login_identify_event(line: Identifier, *, member_id: str, issued_at: int, now_ms: int) -> RawEvent:
    """The binding as a Segment identify. Its id comes from the token (user, issue time) and the member,
    so the same login posted twice is stored once."""
    digest = hashlib.sha256(f"{line.value}\n{member_id}\n{issued_at}".encode()).hexdigest()
    message_id = f"line-login-{digest[:40]}"
    received_at = iso_from_ms(now_ms)
    payload = {
        "type": "identify",
        "userId": member_id,
        "messageId": message_id,
        "timestamp": received_at,
        "receivedAt": received_at,
        "context": {
            "channel": "web",
            "externalIds": [{"type": "line", "id": line.value, "collection": "users", "encoding": "none"}],
        },
    }
    return RawEvent(
        event_id=partner_event_id(LINE_LOGIN_SOURCE, message_id),
        origin="partner",
        source=LINE_LOGIN_SOURCE,
        received_at=received_at,
        payload=payload,
    )
