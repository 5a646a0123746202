"""Auto-replies configuration: FakeAutoReplies and DynamoAutoReplies behave alike."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.adapters.dynamodb.auto_replies import DynamoAutoReplies
from cdp.errors import Conflict
from cdp.messaging.auto_reply import NO_AUTO_REPLIES, AutoReplies, Reply

from tests.fakes import FakeAutoReplies
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique

REPLIES = AutoReplies.from_dict(
    {"channels": {"main-oa": {"greeting": {"template_id": "welcome"}, "fallback": {"template_id": "menu"}}}}
)


@pytest.fixture(params=IMPLEMENTATIONS)
def store(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoAutoReplies(moto_stack.dynamodb, moto_stack.core_table, workspace=unique("ws"))
    return FakeAutoReplies()


def test_nothing_configured_reads_as_no_replies(store: Any) -> None:
    assert store.get() == NO_AUTO_REPLIES
    assert store.get().of("main-oa").greeting is None


def test_a_write_is_compare_and_set_on_the_version_read(store: Any) -> None:
    stored = store.put(REPLIES, expected_version=0)
    assert stored.version == 1 and store.get() == stored
    assert store.get().of("main-oa").greeting == Reply("welcome")
    with pytest.raises(Conflict) as stale:
        store.put(REPLIES, expected_version=0)
    assert stale.value.code == "rules_version_conflict"
    emptied = store.put(AutoReplies(), expected_version=1)
    assert emptied.version == 2 and store.get().channels == {}
