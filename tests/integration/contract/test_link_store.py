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


def test_recent_lists_links_newest_first_a_page_at_a_time(links: Any) -> None:
    # Far-future creation times put this test's links ahead of the shared table's others
    tag = uuid.uuid4().hex[:6]
    made = [link(code=f"r{tag}{n}", created_at=f"2999-01-0{n}T00:00:00.000Z") for n in range(1, 6)]
    for each in made:
        assert links.create(each) is True
    first, cursor = links.recent(limit=2)
    assert [each.code for each in first] == [f"r{tag}5", f"r{tag}4"]
    assert first[0] == made[4]
    second, cursor = links.recent(limit=2, before=cursor)
    assert [each.code for each in second] == [f"r{tag}3", f"r{tag}2"]
    third, _ = links.recent(limit=1, before=cursor)
    assert [each.code for each in third] == [f"r{tag}1"]
    everything: list[str] = []
    cursor = None
    while True:  # pages to the end: every link once, and a last page without a cursor
        page, cursor = links.recent(limit=3, before=cursor)
        everything.extend(each.code for each in page)
        if cursor is None:
            break
    assert len(everything) == len(set(everything))
    assert {each.code for each in made} <= set(everything)
