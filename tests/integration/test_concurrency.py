"""Concurrent processing of one new person's events: one profile, every event on it, no lost update.

Eight Lambda invocations (different shards, or a retry overlapping a new batch) process eight
different events that all carry the same phone number of a person nobody has seen yet. Each
one first resolves the phone as unowned and tries to create its own profile; the conditional
claim lets one win, and the others must retry onto the winner's profile.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from cdp.adapters import aws as aws_clients
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.clock import iso_from_ms
from cdp.events.raw import RawEvent, partner_event_id
from cdp.events.segment import validate_event
from cdp.identity.identifiers import Identifier
from cdp.identity.rules import IdentityRules
from cdp.profiles.processor import ProcessingConflict, ProcessResult

from tests.integration.conftest import Stack

THREADS = 8
NOW_MS = 1_714_561_200_000
PHONE = Identifier("phone", "+886912345678")
PHONE_SPELLINGS = ("0912-345-678", "0912345678", "+886 912 345 678", "+886-912-345-678", "(09)12345678")
STREAM_RETRIES = 10  # the stack's MaximumRetryAttempts: a lost race fails the record and it is retried


def raw(n: int) -> RawEvent:
    item = {
        "type": "track" if n % 2 else "identify",
        "event": "Product Viewed" if n % 2 else None,
        "anonymousId": f"device-{n}",
        "messageId": f"race-{n}",
        "timestamp": f"2024-05-01T10:00:0{n}Z",
        "context": {"traits": {"phone": PHONE_SPELLINGS[n % len(PHONE_SPELLINGS)]}},
        "traits": {"visits": n} if n % 2 == 0 else None,
    }
    payload = validate_event(
        {k: v for k, v in item.items() if v is not None}, single_call=None, shared={}, received_at_ms=NOW_MS
    )
    return RawEvent(partner_event_id("web-shop", f"race-{n}"), "partner", "web-shop", iso_from_ms(NOW_MS), payload)


def test_eight_threads_one_new_person_end_with_one_profile(stack: Stack) -> None:
    processor = stack.runtime.module("event_processor").build()
    events = [raw(n) for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    conflicts: list[str] = []
    commits: list[int] = []
    # The processor's own DynamoDB client (the cached one build() used): count its transactions.
    aws_clients.client("dynamodb").meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems", lambda **_: commits.append(1)
    )

    def run(event: RawEvent) -> ProcessResult:
        start.wait()
        for _attempt in range(STREAM_RETRIES + 1):
            try:
                return processor.process(event)
            except ProcessingConflict as exc:  # the record fails; Lambda retries it
                conflicts.append(str(exc))
        raise AssertionError(f"{event.event_id} never committed")

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(run, events))

    assert {result.outcome for result in results} == {"applied"}
    assert len(commits) > THREADS, "the events never raced; the test proves nothing"
    owners = {result.profile_id for result in results}
    assert len(owners) == 1
    (profile_id,) = owners
    store = DynamoProfileStore(stack.client("dynamodb"), stack.core_table)
    assert store.owner(PHONE) == profile_id
    profile = store.get(profile_id)
    assert profile is not None
    assert profile.event_count == THREADS
    assert profile.version == THREADS  # every commit was one version step: no lost update
    assert sorted(profile.identifiers) == sorted([PHONE.key] + [f"anonymous_id#device-{n}" for n in range(THREADS)])
    assert {entry["messageId"] for entry in store.latest_events(profile_id, 100)} == {
        f"race-{n}" for n in range(THREADS)
    }

    items = stack.scan(stack.core_table)
    assert [item["pk"]["S"] for item in items if item["sk"]["S"] == "PROFILE"] == [f"PROFILE#{profile_id}"]
    assert sum(item["sk"]["S"].startswith("EVENT#") for item in items) == THREADS  # no orphan timelines
    assert sum(item["sk"]["S"] == "APPLIED" for item in items) == THREADS

    # Replaying all eight concurrently is a no-op.
    before = stack.scan(stack.core_table)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        start.reset()
        replays = list(pool.map(run, events))
    assert {(result.outcome, result.profile_id) for result in replays} == {("already_applied", profile_id)}
    assert stack.scan(stack.core_table) == before


# Merges under concurrency ----------------------------------------------------------------------
RULES = IdentityRules.from_dict({"max_per_type": {"email": 20}})  # nine addresses for one person here


class RecordingMerges:
    """The processor's merge port: collects requests; the test runs them like Step Functions would."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def request(self, survivor_id: str, loser_id: str, *, requested_by: str, merge_id: str | None = None) -> None:
        with self._lock:
            self.requests.append((survivor_id, loser_id, requested_by))


def _partner(message_id: str, body: dict[str, object]) -> RawEvent:
    payload = validate_event(
        {**body, "messageId": message_id, "timestamp": "2024-05-01T10:00:00Z"},
        single_call=None,
        shared={},
        received_at_ms=NOW_MS,
    )
    return RawEvent(partner_event_id("web-shop", message_id), "partner", "web-shop", iso_from_ms(NOW_MS), payload)


def browsing(n: int) -> RawEvent:
    """Browser n signs up for the newsletter with address n: one profile each."""
    return _partner(
        f"browse-{n}", {"type": "identify", "anonymousId": f"chain-{n}", "traits": {"email": f"c{n}@example.com"}}
    )


def connecting(n: int) -> RawEvent:
    """Browser n uses address n+1: the two profiles are one person."""
    return _partner(
        f"link-{n}",
        {
            "type": "track",
            "event": "Signed In",
            "anonymousId": f"chain-{n}",
            "context": {"traits": {"email": f"c{n + 1}@example.com"}},
        },
    )


def root_of(store: DynamoProfileStore, profile_id: str | None) -> str:
    assert profile_id is not None
    for _hop in range(10):
        profile = store.get(profile_id)
        assert profile is not None
        if not profile.merged_into:
            return profile_id
        profile_id = profile.merged_into
    raise AssertionError("merge pointers loop")


def test_concurrent_events_that_connect_profiles_end_as_one_person_after_the_merges(stack: Stack) -> None:
    from cdp.adapters.eventbridge import EventBridgePublisher
    from cdp.clock import SystemClock
    from cdp.identity.merge import MergeBusy, MergeRace, MergeWorkflow
    from cdp.profiles.processor import EventProcessor

    # Given the real processor wiring, with merges recorded instead of started on Step Functions
    built = stack.runtime.module("event_processor").build()
    merges = RecordingMerges()
    processor = EventProcessor(
        built._normalizer_for or built._fixed_normalizer,
        built._store,
        built._publisher,
        SystemClock(),
        rules=lambda: RULES,
        merges=merges,
    )
    store = DynamoProfileStore(stack.client("dynamodb"), stack.core_table)
    # Nine browsers, each seen once: nine profiles
    singles = [browsing(n) for n in range(THREADS + 1)]
    for event in singles:
        processor.process(event)
    start = threading.Barrier(THREADS)

    def run(event: RawEvent) -> ProcessResult:
        start.wait()
        for _attempt in range(STREAM_RETRIES + 1):
            try:
                return processor.process(event)
            except ProcessingConflict:
                continue
        raise AssertionError(f"{event.event_id} never committed")

    # When eight events, each naming two neighbouring browsers, are processed at once
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(run, [connecting(n) for n in range(THREADS)]))
    # and the requested merges run concurrently too, each retried like the state machine retries a step
    workflow = MergeWorkflow(
        store,
        EventBridgePublisher(stack.client("events"), stack.env("event_processor", "CDP_EVENT_BUS_NAME")),
        SystemClock(),
        lambda: RULES,
    )

    def merge(request: tuple[str, str, str]) -> str:
        survivor, loser, requested_by = request
        for _attempt in range(60):
            try:
                planned = workflow.plan(survivor, loser, requested_by=requested_by)
                if planned.status == "merging":
                    while not workflow.move(planned.merge_id).done:
                        pass
                    workflow.finalize(planned.merge_id)
                return planned.status
            except (MergeBusy, MergeRace):
                time.sleep(0.05)
        raise AssertionError(f"merge {request} never ran")

    assert merges.requests, "no event connected two profiles; the test proves nothing"
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(merge, merges.requests))
    assert set(statuses) <= {"merging", "merged", "noop"}

    # Then every browser belongs to one root profile, holding every event exactly once
    roots = {root_of(store, store.owner(Identifier("anonymous_id", f"chain-{n}"))) for n in range(THREADS + 1)}
    assert len(roots) == 1, roots
    (root,) = roots
    profile = store.get(root)
    assert profile is not None and profile.merged_into is None
    assert sorted(i["value"] for i in profile.identifiers.values() if i["type"] == "anonymous_id") == sorted(
        f"chain-{n}" for n in range(THREADS + 1)
    )
    assert profile.event_count == len(singles) + THREADS
    assert len(store.latest_events(root, 100)) == len(singles) + THREADS
