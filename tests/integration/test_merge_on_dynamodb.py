"""Merge and unmerge on DynamoDB itself (moto), where a Query page stops at 1 MB.

Timelines larger than one page must be read to the end: an unmerge that stopped at the first
page would leave events on the wrong person and rebuild both profiles from half their history.
"""

from __future__ import annotations

from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import MergeWorkflow
from cdp.identity.rules import DEFAULT_RULES
from cdp.profiles.processor import EventProcessor

from tests.fakes import FakePublisher, FixedClock
from tests.integration.conftest import Stack
from tests.unit.identity_helpers import normalizer_for, person_event

EVENTS_EACH = 60
PAYLOAD = "x" * 18000  # 60 of these are more than one 1 MB Query page


def test_unmerge_reads_whole_timelines_beyond_one_query_page(stack: Stack) -> None:
    store = DynamoProfileStore(stack.client("dynamodb"), stack.core_table)
    clock, publisher = FixedClock(), FakePublisher()
    processor = EventProcessor(normalizer_for, store, publisher, clock)
    for i in range(EVENTS_EACH):
        minute, second = divmod(i, 60)
        processor.process(person_event(f"a{i}", member="M1", event="View", properties={"blob": PAYLOAD},
                                       timestamp=f"2024-05-01T09:{minute:02d}:{second:02d}.000Z"))  # fmt: skip
        processor.process(person_event(f"b{i}", anon="anon-b", event="View", properties={"blob": PAYLOAD},
                                       timestamp=f"2024-05-02T09:{minute:02d}:{second:02d}.000Z"))  # fmt: skip
    member = store.owner(Identifier("member_id", "M1"))
    browser = store.owner(Identifier("anonymous_id", "anon-b"))
    assert member and browser and member != browser
    workflow = MergeWorkflow(store, publisher, clock, lambda: DEFAULT_RULES)

    merge_id = workflow.plan(member, browser, requested_by="test").merge_id
    while not workflow.move(merge_id).done:
        pass
    workflow.finalize(merge_id)
    assert len(store.timeline(member)) == 2 * EVENTS_EACH
    assert store.get(member).event_count == 2 * EVENTS_EACH  # type: ignore[union-attr]

    workflow.begin_unmerge(merge_id)
    while not workflow.move_back(merge_id).done:
        pass
    workflow.finalize_unmerge(merge_id)

    for profile_id, prefix in ((member, "a"), (browser, "b")):
        entries = store.timeline(profile_id)
        assert len(entries) == EVENTS_EACH
        assert {e.document["messageId"][0] for e in entries} == {prefix}
        assert store.get(profile_id).event_count == EVENTS_EACH  # type: ignore[union-attr]
    assert store.get_ledger(merge_id).events_returned == EVENTS_EACH  # type: ignore[union-attr]
