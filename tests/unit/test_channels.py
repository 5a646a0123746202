"""Configuration from secrets: LINE channels, partner write keys, Basic-auth write keys."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest
from cdp.errors import StoreUnavailable
from cdp.ingestion.channels import ChannelMisconfigured, LineChannels, WriteKeys, write_key_from_basic_auth

from tests.fixtures.line_events import CHANNEL_SECRET
from tests.unit.builders import LINE_CHANNEL, LINE_CHANNELS_SECRET_ID, LINE_PROVIDER, WRITE_KEYS_SECRET_ID

if TYPE_CHECKING:
    from tests.unit.conftest import FakeSecrets


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


# write_key_from_basic_auth ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        pytest.param(_basic("wk_live_123:"), "wk_live_123", id="segment-sdk"),
        pytest.param(_basic("wk_live_123:ignored-password"), "wk_live_123", id="with-password"),
        pytest.param(_basic("wk_live_123"), "wk_live_123", id="no-colon"),
        pytest.param("basic " + base64.b64encode(b"wk:").decode(), "wk", id="lowercase-scheme"),
        pytest.param("  BASIC   " + base64.b64encode(b"wk:").decode() + "  ", "wk", id="padded"),
        pytest.param(_basic("金鑰:"), "金鑰", id="utf8-key"),
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("Basic", None, id="scheme-only"),
        pytest.param("Basic ", None, id="scheme-and-space"),
        pytest.param(_basic(":"), None, id="empty-user"),
        pytest.param(_basic(":password"), None, id="password-only"),
        pytest.param("Bearer " + base64.b64encode(b"wk:").decode(), None, id="bearer"),
        pytest.param("Basic not base64!!", None, id="not-base64"),
        pytest.param("Basic d2s", None, id="bad-padding"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:").decode(), None, id="not-utf8"),
    ],
)
def test_write_key_from_basic_auth(authorization: str | None, expected: str | None) -> None:
    # Given an Authorization header as SDKs (and others) send it
    # When the write key is read from it
    # Then it is the Basic user name, or None when there is none to read
    assert write_key_from_basic_auth(authorization) == expected


# WriteKeys ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("document", "key", "expected"),
    [
        pytest.param({"writeKey": "wk_single", "source": "crm"}, "wk_single", "crm", id="single-layout"),
        pytest.param({"writeKey": "wk_single"}, "wk_single", "default", id="single-without-source"),
        pytest.param({"keys": {"wk_a": "web-shop", "wk_b": "pos"}}, "wk_b", "pos", id="map-layout"),
        pytest.param(
            {"writeKey": "wk_single", "source": "crm", "keys": {"wk_b": "pos"}},
            "wk_single",
            "crm",
            id="both-layouts-single",
        ),
        pytest.param(
            {"writeKey": "wk_single", "source": "crm", "keys": {"wk_b": "pos"}}, "wk_b", "pos", id="both-layouts-map"
        ),
        pytest.param({"keys": {"wk_a": "web-shop"}}, "wk_A", None, id="case-sensitive"),
        pytest.param({"keys": {"wk_a": "web-shop"}}, "wk_a ", None, id="no-trimming"),
        pytest.param({"keys": {"wk_a": "web-shop"}}, "wk", None, id="prefix"),
        pytest.param({"keys": {"wk_a": "web-shop"}}, "", None, id="empty"),
        pytest.param({"keys": {"wk_a": "web-shop"}}, None, None, id="none"),
        pytest.param({"writeKey": 123, "keys": ["wk_a"]}, "123", None, id="malformed-secret"),
        pytest.param(["wk_a"], "wk_a", None, id="secret-not-object"),
    ],
)
def test_write_keys_map_a_key_to_its_source(
    document: Any, key: str | None, expected: str | None, make_secrets: type[FakeSecrets]
) -> None:
    # Given a write-keys secret in either layout
    keys = WriteKeys(make_secrets({WRITE_KEYS_SECRET_ID: document}), WRITE_KEYS_SECRET_ID)

    # When a key is looked up
    # Then it maps to its source exactly, or to nothing
    assert keys.source_for(key) == expected


def test_write_keys_are_read_from_the_configured_secret_each_time(secrets: FakeSecrets) -> None:
    # Given write keys backed by a secret (the adapter caches; the domain does not)
    keys = WriteKeys(secrets, WRITE_KEYS_SECRET_ID)

    # When a key is rotated in the secret
    assert keys.source_for("wk_new") is None
    secrets.values[WRITE_KEYS_SECRET_ID] = {"keys": {"wk_new": "app"}}

    # Then the new key is honoured and the old one is gone
    assert keys.source_for("wk_new") == "app"
    assert set(secrets.reads) == {WRITE_KEYS_SECRET_ID}


def test_unreadable_write_key_secret_is_a_store_error(secrets: FakeSecrets) -> None:
    # Given a write-keys secret id that does not exist
    keys = WriteKeys(secrets, "cdp/missing")

    # When a key is checked
    # Then the failure surfaces as retryable (503), not as "wrong key" (401)
    with pytest.raises(StoreUnavailable):
        keys.source_for("wk_live_5f2c9a1e7b3d4c8a")


# LineChannels -------------------------------------------------------------------------------
def test_line_channel_is_found_with_its_secret_token_and_provider(line_channels: LineChannels) -> None:
    # Given the configured channels
    # When a channel is looked up by name
    channel = line_channels.find(LINE_CHANNEL)

    # Then its secret, token and provider come from the secret
    assert channel is not None
    assert (channel.name, channel.secret, channel.provider_id) == (LINE_CHANNEL, CHANNEL_SECRET, LINE_PROVIDER)
    assert channel.access_token.startswith("eyJ")


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({}, id="absent"),
        pytest.param({LINE_CHANNEL: {"channelAccessToken": "t"}}, id="no-secret"),
        pytest.param({LINE_CHANNEL: {"channelSecret": ""}}, id="empty-secret"),
        pytest.param({LINE_CHANNEL: "secret"}, id="entry-not-object"),
        pytest.param([LINE_CHANNEL], id="secret-not-object"),
    ],
)
def test_unusable_line_channel_is_not_found(document: Any, make_secrets: type[FakeSecrets]) -> None:
    # Given a channels secret without a usable entry for the channel
    channels = LineChannels(make_secrets({LINE_CHANNELS_SECRET_ID: document}), LINE_CHANNELS_SECRET_ID)

    # When / Then the channel is unknown
    assert channels.find(LINE_CHANNEL) is None


@pytest.mark.parametrize("provider", [None, "", "  ", True, {"id": "2001"}], ids=repr)
def test_channel_without_a_provider_id_is_refused_not_guessed(provider: Any, make_secrets: type[FakeSecrets]) -> None:
    # Given a channel entry with a secret but no usable `providerId`
    entry: dict[str, Any] = {"channelSecret": "s1", "channelAccessToken": "t"}
    if provider is not None:
        entry["providerId"] = provider
    channels = LineChannels(make_secrets({LINE_CHANNELS_SECRET_ID: {LINE_CHANNEL: entry}}), LINE_CHANNELS_SECRET_ID)

    # When it is looked up
    with pytest.raises(ChannelMisconfigured) as raised:
        channels.find(LINE_CHANNEL)

    # Then the refusal names the channel and the missing setting (the channel name is not a provider)
    assert raised.value.code == "line_channel_misconfigured"
    assert raised.value.details == {"channel": LINE_CHANNEL, "missing": "providerId"}
    assert "providerId" in raised.value.message


def test_numeric_provider_id_is_read_as_text(make_secrets: type[FakeSecrets]) -> None:
    # Given a provider id written as a JSON number
    document = {LINE_CHANNEL: {"channelSecret": "s1", "providerId": 2001234567}}
    channels = LineChannels(make_secrets({LINE_CHANNELS_SECRET_ID: document}), LINE_CHANNELS_SECRET_ID)

    # When / Then it scopes identities like its text form
    channel = channels.find(LINE_CHANNEL)
    assert channel is not None and channel.provider_id == "2001234567"


def test_providers_lists_each_configured_provider_once(make_secrets: type[FakeSecrets]) -> None:
    # Given two channels of one provider, one of another, an unusable entry and one without provider
    document = {
        "tw": {"channelSecret": "s1", "providerId": "2001"},
        "tw-store": {"channelSecret": "s2", "providerId": "2001"},
        "jp": {"channelSecret": "s3", "providerId": "3001"},
        "broken": {"channelAccessToken": "t"},
        "no-provider": {"channelSecret": "s4"},
    }
    channels = LineChannels(make_secrets({LINE_CHANNELS_SECRET_ID: document}), LINE_CHANNELS_SECRET_ID)

    # When / Then lookups by a bare LINE user id try each provider once
    assert channels.providers() == ["2001", "3001"]
