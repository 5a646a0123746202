"""Unit suite: pure logic on in-memory fakes, no network.

The fakes implement the domain's ports (cdp.ports, cdp.profiles.processor.ProfileStore,
cdp.profiles.views.ProfileReader) with the same observable semantics as the DynamoDB adapters:
conditional writes, the order in which a cancelled transaction's reasons are read, copies in and
out (a caller mutating what it read never changes the store without a commit).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import IdentifierNormalizer
from cdp.ingestion.channels import LineChannels, WriteKeys
from cdp.profiles.processor import EventProcessor

from tests.fakes import (
    FakeProfileStore,
    FakePublisher,
    FakeRawEventStore,
    FakeRejectionLog,
    FakeSecrets,
    FixedClock,
)
from tests.fixtures.line_events import CHANNEL_SECRET
from tests.unit.builders import (
    LINE_CHANNEL,
    LINE_CHANNELS_SECRET_ID,
    LINE_PROVIDER,
    POS_SOURCE,
    POS_WRITE_KEY,
    SECOND_CHANNEL,
    WRITE_KEY,
    WRITE_KEY_SOURCE,
    WRITE_KEYS_SECRET_ID,
)


# no network ---------------------------------------------------------------------------------
class _NoNetworkSocket(socket.socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unit tests must not open sockets; use a fake or move the test to tests/integration")


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _NoNetworkSocket)


# fakes --------------------------------------------------------------------------------------
# fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def raw_store() -> FakeRawEventStore:
    return FakeRawEventStore()


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def profile_store() -> FakeProfileStore:
    return FakeProfileStore()


@pytest.fixture
def rejection_log() -> FakeRejectionLog:
    return FakeRejectionLog()


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets(
        {
            LINE_CHANNELS_SECRET_ID: {
                LINE_CHANNEL: {
                    "channelSecret": CHANNEL_SECRET,
                    "channelAccessToken": "eyJhbGciOiJIUzI1NiJ9.fake-token",
                    "providerId": LINE_PROVIDER,
                },
                "no-provider-oa": {"channelSecret": "f" * 32, "channelAccessToken": "t"},
                SECOND_CHANNEL: {"channelSecret": "f" * 32, "channelAccessToken": "t", "providerId": "2009"},
            },
            WRITE_KEYS_SECRET_ID: {"keys": {WRITE_KEY: WRITE_KEY_SOURCE, POS_WRITE_KEY: POS_SOURCE}},
        }
    )


@pytest.fixture
def line_channels(secrets: FakeSecrets) -> LineChannels:
    return LineChannels(secrets, LINE_CHANNELS_SECRET_ID)


@pytest.fixture
def write_keys(secrets: FakeSecrets) -> WriteKeys:
    return WriteKeys(secrets, WRITE_KEYS_SECRET_ID)


@pytest.fixture
def identifier_normalizer() -> IdentifierNormalizer:
    return IdentifierNormalizer()


@pytest.fixture
def event_normalizer(identifier_normalizer: IdentifierNormalizer) -> EventNormalizer:
    return EventNormalizer(identifier_normalizer)


@pytest.fixture
def processor(
    event_normalizer: EventNormalizer, profile_store: FakeProfileStore, publisher: FakePublisher, clock: FixedClock
) -> EventProcessor:
    return EventProcessor(event_normalizer, profile_store, publisher, clock)


@pytest.fixture
def make_secrets() -> type[FakeSecrets]:
    """FakeSecrets itself, for tests that need a secret layout of their own."""
    return FakeSecrets


@pytest.fixture
def concurrent_processor(
    event_normalizer: EventNormalizer, profile_store: FakeProfileStore, clock: FixedClock
) -> EventProcessor:
    """A second processor on the same store (another Lambda instance), publishing elsewhere."""
    return EventProcessor(event_normalizer, profile_store, FakePublisher(), clock)
