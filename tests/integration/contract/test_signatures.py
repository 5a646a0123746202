"""Every fake and adapter of the contract suite has each port method with the port's parameters."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from cdp.adapters.dynamodb.imports import DynamoImportStore
from cdp.adapters.dynamodb.link_nonces import DynamoLinkNonceStore
from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.adapters.line_api import LineApiClient, LineAudienceApi
from cdp.adapters.s3 import S3ImportFiles
from cdp.adapters.secrets import CachedSecrets
from cdp.identity.account_link import LinkNonceStore
from cdp.identity.line_binding import LineApi
from cdp.identity.merge import MergeStore
from cdp.imports.ports import ImportFiles, ImportStore, RawEventWriter
from cdp.links.redirect import ClickCounter, LinkReader
from cdp.ports import EventPublisher, RawEventStore, SecretSource
from cdp.profiles.processor import ProfileStore
from cdp.profiles.views import ProfileReader
from cdp.segments.audience_sync import SyncStore
from cdp.segments.exports import AudienceApi
from cdp.segments.store import SegmentStore

from tests.fakes import (
    FakeAudienceApi,
    FakeLineApi,
    FakeLinkNonceStore,
    FakeLinkStore,
    FakeProfileStore,
    FakePublisher,
    FakeRawEventStore,
    FakeSecrets,
    FakeSegmentStore,
)
from tests.fakes_imports import FakeImportFiles, FakeImportStore, FakeRawEventWriter

PORTS: list[tuple[type, list[type]]] = [
    (RawEventStore, [FakeRawEventStore, DynamoRawEventStore]),
    (RawEventWriter, [FakeRawEventWriter, DynamoRawEventStore]),
    (SecretSource, [FakeSecrets, CachedSecrets]),
    (EventPublisher, [FakePublisher, EventBridgePublisher]),
    (LinkNonceStore, [FakeLinkNonceStore, DynamoLinkNonceStore]),
    (SegmentStore, [FakeSegmentStore, DynamoSegmentStore]),
    (SyncStore, [FakeSegmentStore, DynamoSegmentStore]),
    (ImportStore, [FakeImportStore, DynamoImportStore]),
    (ImportFiles, [FakeImportFiles, S3ImportFiles]),
    (ProfileStore, [FakeProfileStore, DynamoProfileStore]),
    (ProfileReader, [FakeProfileStore, DynamoProfileStore]),
    (MergeStore, [FakeProfileStore, DynamoProfileStore]),
    (LineApi, [FakeLineApi, LineApiClient]),
    (AudienceApi, [FakeAudienceApi, LineAudienceApi]),
    (LinkReader, [FakeLinkStore, DynamoLinkStore]),
    (ClickCounter, [FakeLinkStore, DynamoLinkStore]),
]


def _methods(protocol: type) -> list[str]:
    names = set()
    for klass in protocol.__mro__:
        names |= {n for n, m in vars(klass).items() if inspect.isfunction(m) and not n.startswith("_")}
    return sorted(names)


def _parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


def _extras_are_optional(function: Any, port_function: Any) -> bool:
    """An implementation may take more than the port asks, if the port's callers need not pass it."""
    wanted = set(inspect.signature(port_function).parameters)
    return all(
        p.default is not inspect.Parameter.empty
        for p in inspect.signature(function).parameters.values()
        if p.name not in wanted
    )


@pytest.mark.parametrize(("port", "implementations"), PORTS, ids=[port.__name__ for port, _ in PORTS])
def test_fake_and_adapter_have_the_ports_methods(port: type, implementations: list[type]) -> None:
    for implementation in implementations:
        for name in _methods(port):
            method, wanted = getattr(implementation, name), getattr(port, name)
            shared = [p for p in _parameters(method) if p[0] in dict(_parameters(wanted))]
            assert shared == _parameters(wanted), (implementation.__name__, name)
            assert _extras_are_optional(method, wanted), (implementation.__name__, name)
