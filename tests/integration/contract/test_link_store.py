"""LinkReader / ClickCounter: FakeLinkStore and DynamoLinkStore behave alike."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cdp.adapters.dynamodb.link_store import DynamoLinkStore
from cdp.errors import StoreUnavailable
from cdp.links.model import ClickCounts, Link

from tests.fakes import FakeLinkStore
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws


@pytest.fixture(params=IMPLEMENTATIONS)
def links(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoLinkStore(moto_stack.dynamodb, moto_stack.core_table)
    return FakeLinkStore()


def link(**changes: Any) -> Link:
    values: dict[str, Any] = {
        "code": uuid.uuid4().hex[:8],
        "url": "https://shop.example.com/新品?utm=line",
        "src": "line",
        "created_at": "2026-05-01T00:00:00.000Z",
        "campaign": "spring",
        "tags": ("sale", "新品"),
    }
    return Link(**{**values, **changes})


def test_create_refuses_a_taken_code_and_get_answers_the_link_with_zero_clicks(links: Any) -> None:
    created = link(clicks=ClickCounts(total=9, known=9, anonymous=0))  # counts are the store's, not the caller's
    assert links.create(created) is True
    assert links.create(link(code=created.code, url="https://other.example")) is False
    assert links.get(created.code, consistent=True) == link(code=created.code)
    assert links.get(uuid.uuid4().hex[:8]) is None
    assert links.create(link(campaign=None, tags=())) is True


def test_a_message_link_keeps_its_attribution(links: Any) -> None:
    attribution = {"campaign_id": "spring", "message_id": "msg-1", "template_version": "2"}
    created = link(attribution=attribution)
    assert links.create(created) is True
    stored = links.get(created.code, consistent=True)
    assert stored == created and dict(stored.attribution) == attribution
    assert stored.as_dict()["attribution"] == attribution and "attribution" not in link().as_dict()


def test_clicks_add_up_by_kind(links: Any) -> None:
    created = link()
    links.create(created)
    for known in (True, False, False):
        links.count_click(created.code, known=known)
    assert links.get(created.code, consistent=True).clicks == ClickCounts(total=3, known=1, anonymous=2)


def test_a_click_on_a_missing_link_is_a_store_failure(links: Any) -> None:
    with pytest.raises(StoreUnavailable):
        links.count_click(uuid.uuid4().hex[:8], known=True)
