"""Binding LINE users to members: the account-link start and LINE Login ID tokens, on fakes."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from cdp import settings as s
from cdp.clock import iso_from_ms
from cdp.errors import BadRequest, CdpError, NotFound
from cdp.events.canonical import EventNormalizer
from cdp.events.raw import partner_event_id
from cdp.identity.account_link import AccountLinks
from cdp.identity.identifiers import IdentifierNormalizer, line_identifier
from cdp.identity.line_binding import LINE_LOGIN_SOURCE, LineBinding, NotConfigured, verified_subject
from cdp.ingestion.channels import LineChannels
from cdp.settings import AdminApiSettings

from tests.fakes import FakeLinkNonceStore, FakeRawEventStore, FakeSecrets, FixedClock
from tests.fixtures.line_events import OTHER_USER_ID, USER_ID
from tests.unit.builders import LINE_CHANNEL, LINE_PROVIDER, NOW_MS

SECRET_ID = "cdp/line-channels"
ACCESS_TOKEN = "channel-access-token"
LOGIN_CHANNEL = "1650000001"
NOW_S = NOW_MS // 1000


class FakeLineApi:
    """LineApi: hands out link tokens and answers verify with the claims registered for a token."""

    def __init__(self) -> None:
        self.link_tokens: list[tuple[str, str]] = []
        self.verified: list[tuple[str, str]] = []
        self.claims: dict[str, dict[str, Any]] = {}
        self.refuse_users: set[str] = set()

    def issue_link_token(self, *, access_token: str, user_id: str) -> str:
        if user_id in self.refuse_users:
            raise NotFound("LINE does not know this user", code="line_user_not_found")
        self.link_tokens.append((access_token, user_id))
        return f"linktoken{len(self.link_tokens)}"

    def verify_id_token(self, *, id_token: str, client_id: str) -> dict[str, Any]:
        self.verified.append((id_token, client_id))
        if id_token not in self.claims:
            raise BadRequest("LINE rejected the ID token: Invalid IdToken.", code="invalid_id_token")
        return self.claims[id_token]

    def login(self, user_id: str = USER_ID, **overrides: Any) -> str:
        token = f"idtoken-{len(self.claims)}"
        self.claims[token] = {
            "iss": "https://access.line.me",
            "sub": user_id,
            "aud": LOGIN_CHANNEL,
            "exp": NOW_S + 3600,
            "iat": NOW_S - 10,
            "amr": ["linesso"],
            **overrides,
        }
        return token


class World:
    def __init__(self) -> None:
        self.secrets = FakeSecrets(
            {
                SECRET_ID: {
                    "default": {
                        "channelSecret": "s" * 32,
                        "channelAccessToken": ACCESS_TOKEN,
                        "providerId": LINE_PROVIDER,
                        "loginChannelId": LOGIN_CHANNEL,
                    },
                    LINE_CHANNEL: {"channelSecret": "t" * 32, "channelAccessToken": "other-token", "providerId": "p2"},
                    "no-token": {"channelSecret": "u" * 32, "providerId": "p3"},
                }
            }
        )
        self.line = FakeLineApi()
        self.nonces = FakeLinkNonceStore()
        self.raw = FakeRawEventStore()
        self.clock = FixedClock()
        self.binding = LineBinding(
            channels=LineChannels(self.secrets, SECRET_ID),
            line_api=self.line,
            links=AccountLinks(self.nonces, self.clock),
            raw_events=self.raw,
            normalizer=IdentifierNormalizer(),
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    return World()


def error_of(call: Any, *args: Any) -> CdpError:
    with pytest.raises(CdpError) as raised:
        call(*args)
    return raised.value


# account link --------------------------------------------------------------------------------------
def test_account_link_answers_lines_url_with_a_nonce_bound_to_the_member(world: World) -> None:
    # When the brand's site asks for a link for a LINE user and the member who is logged in
    issued = world.binding.start_account_link({"lineUserId": USER_ID, "memberId": " M-1001 "})

    # Then LINE was asked for a link token with the default channel's token
    assert world.line.link_tokens == [(ACCESS_TOKEN, USER_ID)]
    assert issued.link_token == "linktoken1"
    # and the URL is LINE's account-link dialog with that token and the nonce
    url = urllib.parse.urlsplit(issued.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "access.line.me", "/dialog/bot/accountLink")
    assert urllib.parse.parse_qs(url.query) == {"linkToken": ["linktoken1"], "nonce": [issued.nonce]}
    # and the nonce is stored for that member and LINE user, expiring with LINE's link token
    stored = world.nonces.nonces[issued.nonce]
    assert (stored.member_id, stored.line_user_id, stored.channel, stored.provider) == (
        "M-1001",
        USER_ID,
        "default",
        LINE_PROVIDER,
    )
    assert issued.expires_at == stored.expires_at == iso_from_ms(NOW_MS + 600_000)
    assert issued.as_dict() == {
        "linkToken": "linktoken1",
        "nonce": issued.nonce,
        "url": issued.url,
        "expiresAt": issued.expires_at,
    }


def test_account_link_on_a_named_channel_uses_its_token_and_provider(world: World) -> None:
    issued = world.binding.start_account_link({"lineUserId": USER_ID, "memberId": "M1", "channel": LINE_CHANNEL})
    assert world.line.link_tokens == [("other-token", USER_ID)]
    assert world.nonces.nonces[issued.nonce].provider == "p2"


def test_each_link_gets_its_own_nonce(world: World) -> None:
    first = world.binding.start_account_link({"lineUserId": USER_ID, "memberId": "M1"})
    second = world.binding.start_account_link({"lineUserId": USER_ID, "memberId": "M1"})
    assert first.nonce != second.nonce
    assert len(world.nonces.nonces) == 2


def test_when_line_refuses_the_user_no_nonce_is_stored(world: World) -> None:
    world.line.refuse_users.add(OTHER_USER_ID)
    error = error_of(world.binding.start_account_link, {"lineUserId": OTHER_USER_ID, "memberId": "M1"})
    assert error.code == "line_user_not_found"
    assert world.nonces.nonces == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"memberId": "M1"}, "missing_line_user_id"),
        ({"lineUserId": "", "memberId": "M1"}, "missing_line_user_id"),
        ({"lineUserId": "U123", "memberId": "M1"}, "invalid_line_user_id"),
        ({"lineUserId": USER_ID.upper(), "memberId": "M1"}, "invalid_line_user_id"),
        ({"lineUserId": 42, "memberId": "M1"}, "invalid_line_user_id"),
        ({"lineUserId": "C" + USER_ID[1:], "memberId": "M1"}, "invalid_line_user_id"),
        ({"lineUserId": USER_ID}, "missing_member_id"),
        ({"lineUserId": USER_ID, "memberId": "   "}, "missing_member_id"),
        ({"lineUserId": USER_ID, "memberId": 1001}, "invalid_member_id"),
        ({"lineUserId": USER_ID, "memberId": "undefined"}, "invalid_member_id"),
        ({"lineUserId": USER_ID, "memberId": "M" * 600}, "invalid_member_id"),
        ({"lineUserId": USER_ID, "memberId": "M1", "channel": "nope"}, "unknown_channel"),
        ({"lineUserId": USER_ID, "memberId": "M1", "channel": ""}, "invalid_channel"),
        ({"lineUserId": USER_ID, "memberId": "M1", "channel": ["default"]}, "invalid_channel"),
    ],
)
def test_account_link_input_errors_are_400_with_a_code(world: World, body: dict[str, Any], code: str) -> None:
    error = error_of(world.binding.start_account_link, body)
    assert (error.status, error.code) == (400, code)
    assert world.line.link_tokens == []
    assert world.nonces.nonces == {}


def test_a_channel_without_an_access_token_is_a_configuration_error(world: World) -> None:
    error = error_of(world.binding.start_account_link, {"lineUserId": USER_ID, "memberId": "M1", "channel": "no-token"})
    assert isinstance(error, NotConfigured)
    assert (error.status, error.code) == (500, "channel_not_configured")


# LINE Login ----------------------------------------------------------------------------------------
def test_login_stores_one_identify_binding_the_verified_line_user_to_the_member(world: World) -> None:
    token = world.line.login()

    binding = world.binding.bind_login({"idToken": token, "memberId": "M-1001"})

    # LINE verified the token for the channel's LINE Login channel
    assert world.line.verified == [(token, LOGIN_CHANNEL)]
    assert (binding.line_user_id, binding.member_id, binding.stored) == (USER_ID, "M-1001", True)
    # and one raw partner event is stored: a Segment identify with the line external id
    (event,) = world.raw.events.values()
    assert event.event_id == binding.event_id == partner_event_id(LINE_LOGIN_SOURCE, event.payload["messageId"])
    assert (event.origin, event.source, event.received_at) == ("partner", "line-login", iso_from_ms(NOW_MS))
    assert event.payload == {
        "type": "identify",
        "userId": "M-1001",
        "messageId": event.payload["messageId"],
        "timestamp": iso_from_ms(NOW_MS),
        "receivedAt": iso_from_ms(NOW_MS),
        "context": {
            "channel": "web",
            "externalIds": [
                {"type": "line", "id": f"{LINE_PROVIDER}:{USER_ID}", "collection": "users", "encoding": "none"}
            ],
        },
    }
    assert binding.as_dict() == {"lineUserId": USER_ID, "memberId": "M-1001", "eventId": binding.event_id}


def test_the_stored_binding_normalises_to_the_member_and_the_provider_scoped_line_identifier(world: World) -> None:
    world.binding.bind_login({"idToken": world.line.login(), "memberId": "M-1001"})
    (raw,) = world.raw.events.values()

    canonical = EventNormalizer(IdentifierNormalizer()).normalize(raw)

    assert canonical.type == "identify"
    assert canonical.channel == "web"
    assert [(i.type, i.value) for i in canonical.identifiers] == [
        ("member_id", "M-1001"),
        ("line", line_identifier(LINE_PROVIDER, USER_ID).value),
    ]
    assert canonical.rejected_identifiers == []


def test_the_same_login_posted_twice_is_stored_once(world: World) -> None:
    token = world.line.login()
    first = world.binding.bind_login({"idToken": token, "memberId": "M-1001"})
    world.clock.advance(5_000)
    again = world.binding.bind_login({"idToken": token, "memberId": "M-1001"})

    assert again.event_id == first.event_id
    assert (first.stored, again.stored) == (True, False)
    assert len(world.raw.events) == 1


def test_another_login_or_member_is_another_event(world: World) -> None:
    first = world.binding.bind_login({"idToken": world.line.login(), "memberId": "M-1001"})
    later = world.binding.bind_login({"idToken": world.line.login(iat=NOW_S), "memberId": "M-1001"})
    other_member = world.binding.bind_login({"idToken": world.line.login(), "memberId": "M-2002"})
    assert len({first.event_id, later.event_id, other_member.event_id}) == 3


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "1659999999"}, "another LINE Login channel"),
        ({"aud": ["1659999999"]}, "another LINE Login channel"),
        ({"exp": NOW_S}, "expired"),
        ({"exp": "later"}, "expired"),
        ({"exp": True}, "expired"),
        ({"iat": None}, "issue time"),
        ({"sub": "U123"}, "subject"),
        ({"sub": None}, "subject"),
    ],
)
def test_claims_are_checked_again_on_our_side(world: World, claims: dict[str, Any], why: str) -> None:
    token = world.line.login(**claims)

    error = error_of(world.binding.bind_login, {"idToken": token, "memberId": "M1"})

    assert (error.status, error.code) == (400, "invalid_id_token")
    assert why in error.message
    assert world.raw.events == {}


def test_an_audience_list_containing_our_channel_is_accepted() -> None:
    claims = {"iss": "https://access.line.me", "sub": USER_ID, "aud": ["x", LOGIN_CHANNEL], "exp": NOW_S + 1, "iat": 1}
    assert verified_subject(claims, client_id=LOGIN_CHANNEL, now_seconds=NOW_S) == (USER_ID, 1)


def test_a_token_line_rejects_is_invalid_and_nothing_is_stored(world: World) -> None:
    error = error_of(world.binding.bind_login, {"idToken": "forged.jwt.value", "memberId": "M1"})
    assert (error.status, error.code) == (400, "invalid_id_token")
    assert "Invalid IdToken." in error.message
    assert world.raw.events == {}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"memberId": "M1"}, "missing_id_token"),
        ({"idToken": "", "memberId": "M1"}, "missing_id_token"),
        ({"idToken": 7, "memberId": "M1"}, "invalid_id_token"),
        ({"idToken": "x" * 9000, "memberId": "M1"}, "invalid_id_token"),
        ({"idToken": "t"}, "missing_member_id"),
        ({"idToken": "t", "memberId": "null"}, "invalid_member_id"),
        ({"idToken": "t", "memberId": "M1", "channel": "elsewhere"}, "unknown_channel"),
    ],
)
def test_login_input_errors_are_400_before_line_is_called(world: World, body: dict[str, Any], code: str) -> None:
    error = error_of(world.binding.bind_login, body)
    assert (error.status, error.code) == (400, code)
    assert world.line.verified == []


def test_a_channel_without_a_login_channel_is_a_configuration_error(world: World) -> None:
    error = error_of(world.binding.bind_login, {"idToken": "t", "memberId": "M1", "channel": LINE_CHANNEL})
    assert (error.status, error.code) == (500, "login_channel_not_configured")
    assert world.line.verified == []


# settings ------------------------------------------------------------------------------------------
def test_admin_settings_read_the_line_binding_configuration() -> None:
    base = {s.ENV_CORE_TABLE: "cdp-core", s.ENV_ADMIN_TOKEN_SECRET: "cdp/admin-token"}

    defaults = AdminApiSettings.from_env(base)
    configured = AdminApiSettings.from_env(
        {
            **base,
            s.ENV_RAW_EVENTS_TABLE: "cdp-raw",
            s.ENV_RAW_EVENT_TTL_DAYS: "7",
            s.ENV_LINE_CHANNELS_SECRET: "cdp/line-channels",
            s.ENV_LINE_API_BASE_URL: "http://127.0.0.1:8091",
            s.ENV_LINK_NONCE_TTL_SECONDS: "300",
        }
    )

    assert (defaults.raw_events_table, defaults.line_channels_secret_id) == ("", "")
    assert (defaults.line_api_base_url, defaults.link_nonce_ttl_seconds) == ("https://api.line.me", 600)
    assert (configured.raw_events_table, configured.raw_event_ttl_days) == ("cdp-raw", 7)
    assert configured.line_channels_secret_id == "cdp/line-channels"
    assert (configured.line_api_base_url, configured.link_nonce_ttl_seconds) == ("http://127.0.0.1:8091", 300)
