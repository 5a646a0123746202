"""LinkNonceStore: FakeLinkNonceStore and DynamoLinkNonceStore behave alike (one atomic consume)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cdp.adapters.dynamodb.link_nonces import DynamoLinkNonceStore
from cdp.clock import epoch_seconds, iso_from_ms
from cdp.identity.account_link import LinkNonce

from tests.fakes import FakeLinkNonceStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws

CREATED = "2026-05-01T00:00:00.000Z"
EXPIRES = "2026-05-01T00:10:00.000Z"
VALID_AT = epoch_seconds(CREATED) + 60
RETAIN = epoch_seconds(CREATED) + 30 * 86400
USER = "U" + "a" * 32


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoLinkNonceStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeLinkNonceStore()


def nonce(**changes: Any) -> LinkNonce:
    values: dict[str, Any] = {
        "nonce": uuid.uuid4().hex,
        "expires_at": EXPIRES,
        "member_id": "M0001",
        "line_user_id": USER,
        "channel": "default",
        "provider": "prov",
        "created_at": CREATED,
    }
    return LinkNonce(**{**values, **changes})


def test_create_never_overwrites(store: Any) -> None:
    issued = nonce()
    assert store.create(issued) is True
    assert store.create(nonce(nonce=issued.nonce, member_id="M0002")) is False
    ok, found = store.consume(
        issued.nonce, line_user_id=USER, event_id="e1", now_seconds=VALID_AT, retain_until_seconds=RETAIN
    )
    assert ok and found is not None and found.member_id == "M0001"


def test_consume_once_then_a_replay_of_the_same_event_is_still_ok(store: Any) -> None:
    issued = nonce()
    store.create(issued)
    ok, consumed = store.consume(
        issued.nonce, line_user_id=USER, event_id="e1", now_seconds=VALID_AT, retain_until_seconds=RETAIN
    )
    assert ok is True
    assert consumed is not None
    assert (consumed.consumed_by, consumed.expires_at) == ("e1", iso_from_ms(RETAIN * 1000))  # kept for replays
    replay = store.consume(
        issued.nonce, line_user_id=USER, event_id="e1", now_seconds=VALID_AT + 5, retain_until_seconds=RETAIN
    )
    assert replay == (True, consumed)
    other = store.consume(
        issued.nonce, line_user_id=USER, event_id="e2", now_seconds=VALID_AT, retain_until_seconds=RETAIN
    )
    assert other == (False, consumed)


def test_refused_for_another_user_after_expiry_and_when_unknown(store: Any) -> None:
    issued = nonce()
    store.create(issued)
    wrong_user = store.consume(
        issued.nonce, line_user_id="U" + "b" * 32, event_id="e1", now_seconds=VALID_AT, retain_until_seconds=RETAIN
    )
    assert wrong_user == (False, issued)
    expired = store.consume(
        issued.nonce, line_user_id=USER, event_id="e1", now_seconds=epoch_seconds(EXPIRES), retain_until_seconds=RETAIN
    )
    assert expired == (False, issued)
    assert store.consume(
        uuid.uuid4().hex, line_user_id=USER, event_id="e1", now_seconds=VALID_AT, retain_until_seconds=RETAIN
    ) == (False, None)
