"""Erase on DynamoDB itself (moto): the person's items gone from both tables, found by a full
scan (deflated documents opened), the merge ledger kept without them, their later events dropped."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from cdp.adapters.dynamodb.erasure import (
    ERASED_MARK,
    DynamoEraseLedger,
    DynamoSuppressions,
    core_stores,
)
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore, read_document
from cdp.adapters.dynamodb.raw_events import DynamoRawEventStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.identity.identifiers import Identifier
from cdp.identity.merge import MergeWorkflow
from cdp.identity.rules import DEFAULT_RULES
from cdp.privacy.erase import STATUS_ERASED, EraseWorkflow
from cdp.privacy.suppression import SuppressionCheck
from cdp.profiles.processor import EventProcessor

from tests.fakes import FakePublisher, FixedClock
from tests.integration.conftest import Stack
from tests.unit.identity_helpers import normalizer_for, person_event

PHONE, EMAIL = "0912345678", "amy@example.com"
PHONE_E164 = "+886912345678"


def never() -> bool:
    return False


def _text(item: dict[str, Any]) -> str:
    """An item as text, its deflated document opened: what a scan for the person reads."""
    text = json.dumps(item, default=str)
    if "docz" in item or "doc" in item:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            text += json.dumps(read_document(item), ensure_ascii=False)
    return text


def test_erase_leaves_no_trace_and_suppresses_later_events(stack: Stack) -> None:
    dynamodb = stack.client("dynamodb")
    store = DynamoProfileStore(dynamodb, stack.core_table)
    raw = DynamoRawEventStore(dynamodb, stack.raw_table, ttl_seconds=86400)
    clock, publisher = FixedClock(), FakePublisher()
    ledger = DynamoEraseLedger(dynamodb, stack.core_table)
    suppressions = DynamoSuppressions(dynamodb, stack.core_table, stack.raw_table)
    processor = EventProcessor(normalizer_for, store, publisher, clock, suppression=SuppressionCheck(suppressions))

    def deliver(event: Any) -> Any:
        raw.store_once([event])
        return processor.process(event)

    # Amy in store (phone) and on the web (email + browser), merged; Bob beside her.
    for i in range(30):
        deliver(person_event(f"pos-{i}", phones=[PHONE], event="Order Completed", properties={"total": 10 + i},
                             timestamp=f"2024-05-01T09:00:{i:02d}.000Z"))  # fmt: skip
    deliver(person_event("web-1", anon="web-amy", emails=[EMAIL], event="Product Viewed"))
    deliver(person_event("bob-1", phones=["0922222222"], event="Product Viewed"))
    amy = store.owner(Identifier("phone", PHONE_E164))
    web = store.owner(Identifier("email", EMAIL))
    bob = store.owner(Identifier("phone", "+886922222222"))
    assert amy and web and bob and len({amy, web, bob}) == 3
    merges = MergeWorkflow(store, publisher, clock, lambda: DEFAULT_RULES)
    merge_id = merges.plan(amy, web, requested_by="test").merge_id
    while not merges.move(merge_id).done:
        pass
    merges.finalize(merge_id)
    segments = DynamoSegmentStore(dynamodb, stack.core_table)
    for profile_id in (amy, bob):
        assert segments.enter("seg-1", profile_id, at="2024-05-01T10:00:00.000Z", rule_version=1)
    assert segments.exit("seg-1", amy, at="2024-05-01T10:05:00.000Z", rule_version=1)
    assert segments.enter("seg-1", amy, at="2024-05-01T10:06:00.000Z", rule_version=1)

    workflow = EraseWorkflow(
        people=store,
        ledger=ledger,
        suppressions=suppressions,
        stores=core_stores(dynamodb, stack.core_table, stack.raw_table),
        clock=clock,
    )
    record, created = workflow.request(web, requested_by="admin")  # the merged-away id: the whole person
    assert created and record.profiles == 2 and record.identifiers == 3
    while not workflow.erase(record.erase_id, deadline=never).done:
        pass
    assert workflow.verify(record.erase_id).clean
    workflow.finish(record.erase_id)

    done = ledger.get(record.erase_id)
    assert done is not None and done.status == STATUS_ERASED
    assert done.removed["timeline_refs"] == 2 * 31  # each event: its raw item and its APPLIED marker
    assert done.removed["profile"] == 2 + 31  # two profiles, 31 timeline entries
    assert done.removed["identifier_claims"] == 3
    assert done.removed["segment_memberships"] == 1 + 3  # the membership and three history rows
    assert done.removed["merge_ledgers"] == 1
    assert set(done.remaining or {}) == {s.name for s in core_stores(dynamodb, stack.core_table, stack.raw_table)}

    traces = (amy, web, PHONE_E164, EMAIL, "web-amy")
    core_items = stack.scan(stack.core_table)
    for item in [*core_items, *stack.scan(stack.raw_table)]:
        text = _text(item)
        assert not any(trace in text for trace in traces), text[:300]
    assert any(bob in _text(item) for item in core_items)  # Bob is untouched
    kept = [item for item in core_items if item["pk"]["S"] == f"MERGE#{merge_id}" and item["sk"]["S"] == "MERGE"]
    assert len(kept) == 1 and kept[0]["status"]["S"] == "merged" and kept[0]["survivor"]["S"] == ERASED_MARK
    assert segments.count_members("seg-1") == 1
    # her leaving is an anonymous exit in the segment's history: a synced LINE audience is replaced
    [exit_change] = [c for c in segments.changes("seg-1", limit=10) if c.profile_id.startswith(ERASED_MARK)]
    assert exit_change.action == "exited" and exit_change.profile_id not in (amy, web)

    # a later POS event with her phone: dropped, counted once, nothing rebuilt
    late = person_event("pos-late", phones=[PHONE], event="Order Completed", properties={"total": 99})
    assert deliver(late).outcome == "suppressed"
    assert processor.process(late).outcome == "suppressed"  # redelivered: not counted again
    assert store.owner(Identifier("phone", PHONE_E164)) is None
    assert "pos-late" not in stack.raw_items()
    assert ledger.get(record.erase_id).suppressed_events == 1  # type: ignore[union-attr]

    # a second erase (by either id) answers the first record; lifting lets her back in
    assert workflow.request(amy, requested_by="other")[0].erase_id == record.erase_id
    assert workflow.lift_suppression(amy)[1] == 3
    assert deliver(person_event("pos-back", phones=[PHONE], event="Order Completed")).outcome == "applied"


def test_exports_and_import_rows_of_the_person_are_erased(stack: Stack) -> None:
    from cdp.adapters.s3_erasure import ExportErasure, ImportRowsErasure
    from cdp.privacy.erase import Person
    from cdp.settings import ENV_IMPORTS_BUCKET

    s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
    bucket = stack.env("admin_api", ENV_IMPORTS_BUCKET)
    amy = Person("p-amy", ("p-amy", "p-amy-web"), ("phone#+886912345678", "email#amy@example.com"))
    for key in ("exports/people/p-amy/job-1/person.json", "exports/people/p-amy-web/job-0/timeline.csv",
                "exports/people/p-bob/job-2/person.json", "exports/segments/seg-1.csv"):  # fmt: skip
        s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    dynamodb.put_item(TableName=stack.core_table, Item={"pk": {"S": "QUERYJOB#job-1"}, "sk": {"S": "EXPORT"}})
    upload = "name,phone,email\nAmy,0912345678,\nBen,0922222222,ben@example.com\n"
    s3.put_object(Bucket=bucket, Key="imports/imp-1/upload.csv", Body=upload.encode())
    s3.put_object(Bucket=bucket, Key="imports/imp-1/rejected.csv", Body=b"row,email,reason\n3,AMY@example.com,dup\n")

    exports, rows = ExportErasure(s3, bucket, dynamodb, stack.core_table), ImportRowsErasure(s3, bucket)
    assert exports.remaining(amy) == 2 and rows.remaining(amy) == 2
    assert exports.erase(amy, limit=100) == (2, False) and exports.erase(amy, limit=100) == (0, True)
    assert rows.erase(amy, limit=100) == (2, True)
    assert exports.remaining(amy) == rows.remaining(amy) == 0
    left = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert left == {
        "exports/people/p-bob/job-2/person.json",
        "exports/segments/seg-1.csv",
        "imports/imp-1/upload.csv",
        "imports/imp-1/rejected.csv",
    }
    body = s3.get_object(Bucket=bucket, Key="imports/imp-1/upload.csv")["Body"].read().decode()
    assert body == "name,phone,email\nBen,0922222222,ben@example.com\n"
    assert "Item" not in dynamodb.get_item(
        TableName=stack.core_table, Key={"pk": {"S": "QUERYJOB#job-1"}, "sk": {"S": "EXPORT"}}
    )


def test_journey_runs_end_as_erased_and_keep_no_trace_of_the_person(stack: Stack) -> None:
    from cdp.adapters.dynamodb.erasure_journeys import JourneyRunsErasure
    from cdp.adapters.dynamodb.journey_runs import DynamoRunStore, DynamoWaitStore
    from cdp.journeys.ports import Wait
    from cdp.journeys.runs import ACTIVE, ERASED, EXITED, Run
    from cdp.privacy.erase import Person

    dynamodb = stack.client("dynamodb")
    runs, waits = DynamoRunStore(dynamodb, stack.core_table), DynamoWaitStore(dynamodb, stack.core_table, FixedClock())
    at = "2026-12-01T00:00:00.000Z"
    for run_id, profile_id in (("r-amy", "p-amy"), ("r-bob", "p-bob")):
        runs.put_new(Run(run_id, "j-cart", 1, profile_id, "C1", at, entry={"event": "Cart", "properties": {"c": 1}}))
        waits.register(Wait(run_id, "j-cart", "wait", profile_id, "Order Completed", None, [], "tok", "2027-01-01T00:00:00.000Z"))  # fmt: skip
    ended: list[str] = []

    def end_person(profile_id: str) -> int:  # what the journey event consumer does, minus the execution
        ended.append(profile_id)
        return sum(runs.finish(run.run_id, ERASED, at) for run in runs.active_for(profile_id))

    store = JourneyRunsErasure(dynamodb, stack.core_table, end_person)
    amy = Person("p-amy", ("p-amy",), ())
    assert store.remaining(amy) == 2  # the lookup and the wait
    removed, done = store.erase(amy, limit=100)
    assert done and removed == 2 and ended == ["p-amy"] and store.remaining(amy) == 0
    kept = runs.get("r-amy")
    assert kept is not None and kept.status == EXITED and kept.exit_reason == ERASED
    assert kept.profile_id == ERASED_MARK and kept.entry == {}
    assert runs.get("r-bob").status == ACTIVE and waits.waiting_for("p-bob", "Order Completed")  # type: ignore[union-attr]
    assert not any("p-amy" in json.dumps(item) for item in stack.scan(stack.core_table))
    assert store.erase(amy, limit=100) == (0, True) and ended == ["p-amy"]  # nothing active: no second ending
