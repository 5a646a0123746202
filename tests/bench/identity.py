"""Identity benchmarks (part of `make bench`): merges under load, their DynamoDB / Step Functions
cost, and how long a big merge takes.

1. identify events/s through EventProcessor on the in-memory fakes, merges run in process,
   with 0 %, 10 % and 50 % of the events proving two existing profiles are one person;
2. DynamoDB calls per resolved event on moto (known person, new person, merge-causing event),
   and Step Functions StartExecution calls per merge-causing event;
3. state transitions and Lambda invocations per merge and per unmerge on the local stack
   (real HTTP ingest and admin routes, Step Functions executed by moto);
4. MergeWorkflow time for a loser with a long timeline, on the fake and on moto DynamoDB.

Wall-clock numbers are this machine's, with the fakes' or moto's own cost per call included;
call, transaction and transition counts are exact.
"""

from __future__ import annotations

import base64
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.bench.run import CallCounter, moto_stack

THROUGHPUT_EVENTS = 5000
MERGE_SHARES = (0.0, 0.1, 0.5)
KNOWN_MEMBERS = 1000
MOTO_SAMPLE = 20  # events per scenario on moto
BIG_TIMELINE = 10_000  # timeline events on the loser, merged on the fake
MOTO_BIG_TIMELINE = 6 * 49  # six full move transactions on moto (see big_merge_on_moto: not 10,000)
MOTO_TIME_BUDGET_SECONDS = 120.0  # the move hands back after this; reported as not finished


# in-memory wiring ------------------------------------------------------------------------------
def _fake_identity(*, merges: bool = True) -> tuple[Any, Any, Any, Any]:
    """(store, processor, workflow, merges): EventProcessor and MergeWorkflow on one FakeProfileStore,
    merges requested by the processor run to the end at once, in process (plan, move, finalize)."""
    from cdp.events.canonical import EventNormalizer
    from cdp.identity.identifiers import IdentifierNormalizer
    from cdp.identity.merge import MergeWorkflow
    from cdp.identity.rules import DEFAULT_RULES
    from cdp.profiles.processor import EventProcessor

    from tests.fakes import FakeProfileStore, FakePublisher, FixedClock, SynchronousMerges

    store, publisher, clock = FakeProfileStore(), FakePublisher(), FixedClock()
    workflow = MergeWorkflow(store, publisher, clock, lambda: DEFAULT_RULES)
    requester = SynchronousMerges(workflow, eager=True) if merges else None
    processor = EventProcessor(EventNormalizer(IdentifierNormalizer("TW")), store, publisher, clock, merges=requester)
    return store, processor, workflow, requester


def _raw(call: dict[str, Any]) -> Any:
    from tests.unit.builders import partner_raw

    return partner_raw({**call, "messageId": str(uuid.uuid4())})


def _identify(member: str, *, anonymous: str | None = None, **traits: Any) -> Any:
    call: dict[str, Any] = {"type": "identify", "userId": member, "traits": traits}
    if anonymous:
        call["anonymousId"] = anonymous
    return _raw(call)


def _browse(anonymous: str, sku: str = "DRESS-7") -> Any:
    return _raw({"type": "track", "anonymousId": anonymous, "event": "Product Viewed", "properties": {"sku": sku}})


# 1. throughput with merges ------------------------------------------------------------------------
def merge_throughput() -> dict[str, Any]:
    """Known members re-identify; a merge-causing event logs a member (own profile) in with the
    anonymous id of another profile, i.e. names identifiers of two existing profiles. Those
    profiles (one timeline entry each) are made beforehand, outside the timing."""
    from cdp.identity.merge import STATUS_MERGED

    results: dict[str, Any] = {}
    for share in MERGE_SHARES:
        store, processor, _workflow, _merges = _fake_identity()
        for j in range(KNOWN_MEMBERS):
            processor.process(_identify(f"K{j}", email=f"k{j}@example.com"))
        merging = [i for i in range(THROUGHPUT_EVENTS) if math.floor((i + 1) * share) > math.floor(i * share)]
        for k in range(len(merging)):
            processor.process(_identify(f"U{k}", email=f"u{k}@example.com"))
            processor.process(_browse(f"A{k}"))
        pairs = iter(range(len(merging)))
        merge_at, workload = set(merging), []
        for i in range(THROUGHPUT_EVENTS):
            if i in merge_at:
                k = next(pairs)
                workload.append(_identify(f"U{k}", anonymous=f"A{k}", email=f"u{k}@example.com"))
            else:
                j = i % KNOWN_MEMBERS
                workload.append(_identify(f"K{j}", email=f"k{j}@example.com", plan="gold"))
        merged_before = sum(1 for ledger in store.ledgers.values() if ledger.status == STATUS_MERGED)
        transactions_before = store.transactions
        start = time.perf_counter()
        for raw in workload:
            processor.process(raw)
        elapsed = time.perf_counter() - start
        merged = sum(1 for ledger in store.ledgers.values() if ledger.status == STATUS_MERGED) - merged_before
        results[f"merge_share_{round(share * 100)}pct"] = {
            "identify_events": THROUGHPUT_EVENTS,
            "merge_causing_events": len(merging),
            "merges_completed": merged,
            "events_per_s": round(THROUGHPUT_EVENTS / elapsed, 1),
            "seconds": round(elapsed, 2),
            "merge_store_transactions": store.transactions - transactions_before,
        }
    results["note"] = (
        "events/s include the merges, run to the end inside process(); merge_store_transactions counts the "
        "merge workflow's transactions only (each merged profile had 1 timeline entry)"
    )
    return results


# 2. DynamoDB calls per resolved event on moto -----------------------------------------------------
def moto_calls_per_event() -> dict[str, Any]:
    from cdp.adapters import aws

    from infra.local.lambda_runtime import LambdaRuntime

    results: dict[str, Any] = {"events_per_scenario": MOTO_SAMPLE}
    with moto_stack():
        processor = LambdaRuntime().module("event_processor").build()
        counter = CallCounter()
        for service in ("dynamodb", "stepfunctions", "events"):
            counter.attach(aws.client(service), service)
        tag = uuid.uuid4().hex[:8]
        processor.process(_identify(f"warm-{tag}"))  # rules read and cached, clients warm

        def scenario(raws: list[Any]) -> dict[str, Any]:
            counter.calls.clear()
            outcomes = Counter(processor.process(raw).outcome for raw in raws)
            calls = counter.calls
            return {
                "outcomes": dict(outcomes),
                "dynamodb_calls_per_event": round(counter.total("dynamodb") / len(raws), 2),
                "dynamodb_by_operation_per_event": {
                    name.split(".", 1)[1]: round(count / len(raws), 2)
                    for name, count in sorted(calls.items())
                    if name.startswith("dynamodb.")
                },
                "stepfunctions_start_execution_per_event": round(calls["stepfunctions.StartExecution"] / len(raws), 2),
                "eventbridge_put_events_per_event": round(calls["events.PutEvents"] / len(raws), 2),
            }

        members = [f"M-{tag}-{i}" for i in range(MOTO_SAMPLE)]
        results["new_person"] = scenario([_identify(m, email=f"{m.lower()}@example.com") for m in members])
        results["known_person"] = scenario(
            [_identify(m, email=f"{m.lower()}@example.com", plan="gold") for m in members]
        )
        anonymous = [f"anon-{tag}-{i}" for i in range(MOTO_SAMPLE)]
        for anon in anonymous:  # the other profile of each person (not counted)
            processor.process(_browse(anon))
        results["merge_causing"] = scenario(
            [
                _identify(m, anonymous=a, email=f"{m.lower()}@example.com")
                for m, a in zip(members, anonymous, strict=True)
            ]
        )
        results["note"] = (
            "processor only (one EventProcessor.process per event); the merge itself runs later in the "
            "Step Functions workflow, see local_stack_per_merge and big_merge"
        )
    return results


# 4. one big merge ------------------------------------------------------------------------------
def _long_timeline(events: int) -> tuple[Any, str, str]:
    """A fake store with member M (1 event) and an anonymous browser with `events` timeline events:
    merging them moves the browser's whole timeline (the member survives)."""
    store, processor, _workflow, _merges = _fake_identity(merges=False)
    survivor = processor.process(_identify("M-big", email="big@example.com")).profile_id
    loser = ""
    for i in range(events):
        loser = processor.process(_browse("anon-big", sku=f"SKU-{i}")).profile_id
    return store, survivor, loser


class _Counting:
    """A MergeStore in front of another, counting calls per method."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return target(*args, **kwargs)

        return counted


def _run_steps(steps: list[tuple[str, Callable[[], Any]]]) -> dict[str, float]:
    """Each step once (a move step until it says done); seconds per step."""
    seconds = {}
    for name, step in steps:
        start = time.perf_counter()
        result = step()
        while name in ("move", "move_back") and not result.done:
            result = step()
        seconds[name] = round(time.perf_counter() - start, 3)
    return seconds


def big_merge_on_fake() -> dict[str, Any]:
    from cdp.identity.merge import TIMELINE_CHUNK, MergeWorkflow, merge_id_for
    from cdp.identity.rules import DEFAULT_RULES

    from tests.fakes import FakePublisher, FixedClock

    start = time.perf_counter()
    store, survivor, loser = _long_timeline(BIG_TIMELINE)
    setup = time.perf_counter() - start
    counting = _Counting(store)
    workflow = MergeWorkflow(counting, FakePublisher(), FixedClock(), lambda: DEFAULT_RULES)
    merge_id = merge_id_for(survivor, loser)
    before = store.transactions
    start = time.perf_counter()
    merge_steps = _run_steps(
        [
            ("plan", lambda: workflow.plan(survivor, loser, requested_by="bench")),
            ("move", lambda: workflow.move(merge_id)),
            ("finalize", lambda: workflow.finalize(merge_id)),
        ]
    )
    merge_seconds = time.perf_counter() - start
    ledger = store.ledgers[merge_id]
    merge_moves = counting.calls["move_timeline"]
    merge = {
        "timeline_events_on_loser": BIG_TIMELINE,
        "status": ledger.status,
        "events_moved": ledger.events_moved,
        "seconds": round(merge_seconds, 3),
        "seconds_by_step": merge_steps,
        "transactions": store.transactions - before,
        "transactions_note": "plan (1) + claims (1) + timeline moves + finalize (1)",
        "move_timeline_transactions": merge_moves,
        "expected_move_timeline_transactions": math.ceil(BIG_TIMELINE / TIMELINE_CHUNK),
        "entries_per_move_transaction": round(ledger.events_moved / merge_moves, 1),
        "survivor_timeline_after": len(store.timelines.get(survivor, {})),
    }
    before = store.transactions
    counting.calls.clear()
    start = time.perf_counter()
    unmerge_steps = _run_steps(
        [
            ("begin_unmerge", lambda: workflow.begin_unmerge(merge_id)),
            ("move_back", lambda: workflow.move_back(merge_id)),
            ("finalize_unmerge", lambda: workflow.finalize_unmerge(merge_id)),
        ],
    )
    unmerge_seconds = time.perf_counter() - start
    ledger = store.ledgers[merge_id]
    unmerge = {
        "status": ledger.status,
        "events_returned": ledger.events_returned,
        "seconds": round(unmerge_seconds, 3),
        "seconds_by_step": unmerge_steps,
        "transactions": store.transactions - before,
        "move_timeline_transactions": counting.calls["move_timeline"],
        "timeline_pages_read": counting.calls["timeline_page"],
        "loser_timeline_after": len(store.timelines.get(loser, {})),
        "survivor_timeline_after": len(store.timelines.get(survivor, {})),
    }
    return {"setup_seconds": round(setup, 1), "merge": merge, "unmerge": unmerge}


def big_merge_on_moto() -> dict[str, Any]:
    """The same merge through DynamoProfileStore on in-process moto, with a shorter timeline.

    moto (5.2) backs up the whole table, items and stream records, with a deep copy once per
    *item* of a TransactWriteItems: a 99-item move costs 99 copies of a table that grows with
    every move. Its time per transaction says nothing about DynamoDB; 10,000 (or 1,000) entries
    would take far more than the bench's budget, so MOTO_BIG_TIMELINE entries are merged and
    reported as such. The TransactWriteItems count is exact."""
    from cdp.adapters import aws
    from cdp.adapters.dynamodb.profile_store import DynamoProfileStore, _timeline_item
    from cdp.identity.merge import TIMELINE_CHUNK, MergeWorkflow
    from cdp.identity.rules import DEFAULT_RULES
    from cdp.settings import ENV_CORE_TABLE

    from tests.fakes import FakePublisher, FixedClock

    fake, survivor, loser = _long_timeline(MOTO_BIG_TIMELINE)
    with moto_stack():
        dynamodb = aws.client("dynamodb")
        table = os.environ[ENV_CORE_TABLE]
        store = DynamoProfileStore(dynamodb, table)
        items = [store._profile_put(profile, 0)["Item"] for profile in fake.profiles.values()]
        items += [
            {"pk": {"S": f"ID#{key}"}, "sk": {"S": "ID"}, "profile_id": {"S": owner}}
            for key, owner in fake.claims.items()
        ]
        items += [
            _timeline_item(profile_id, entry, entry.moved_by)
            for profile_id, entries in fake.timelines.items()
            for entry in entries.values()
        ]
        for index in range(0, len(items), 25):  # seeded directly: committing them one by one is the slow part
            dynamodb.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[index : index + 25]]}
            )
        counter = CallCounter()
        counter.attach(dynamodb, "dynamodb")
        started: list[float] = []
        transaction_seconds: list[float] = []
        events = dynamodb.meta.events
        events.register("before-call.dynamodb.TransactWriteItems", lambda **_: started.append(time.perf_counter()))
        events.register(
            "after-call.dynamodb.TransactWriteItems",
            lambda **_: transaction_seconds.append(round(time.perf_counter() - started[-1], 2)),
        )
        workflow = MergeWorkflow(store, FakePublisher(), FixedClock(), lambda: DEFAULT_RULES)
        deadline = time.monotonic() + MOTO_TIME_BUDGET_SECONDS
        start = time.perf_counter()
        merge_id = workflow.plan(survivor, loser, requested_by="bench").merge_id
        result = workflow.move(merge_id, deadline=lambda: time.monotonic() > deadline)
        finished = result.done
        if finished:
            workflow.finalize(merge_id)
        elapsed = time.perf_counter() - start
        ledger = store.get_ledger(merge_id)
        assert ledger is not None
        return {
            "timeline_events_on_loser": MOTO_BIG_TIMELINE,
            "why_not_10000": "moto deep-copies the whole table (items + stream records) once per item of a "
            "TransactWriteItems, 99 copies per move; 10,000 or 1,000 entries do not fit the bench's time",
            "core_table_items_at_start": len(items),
            "finished_within_budget": finished,
            "status": ledger.status,
            "events_moved": ledger.events_moved,
            "seconds_plan_move_finalize": round(elapsed, 1),
            "transact_write_items": counter.calls["dynamodb.TransactWriteItems"],
            "expected_transact_write_items": math.ceil(MOTO_BIG_TIMELINE / TIMELINE_CHUNK) + 3,
            "expected_note": "moves ceil(n/49) + plan + claims + finalize",
            "transact_write_items_seconds_on_moto": transaction_seconds,
            "dynamodb_calls_by_operation": {k.split(".", 1)[1]: v for k, v in sorted(counter.calls.items())},
        }


# 3. Step Functions on the local stack ----------------------------------------------------------
@contextmanager
def _restored_environment() -> Iterator[None]:
    """LocalStack points the process at its moto server; put the environment and clients back after."""
    from cdp.adapters import aws

    saved = dict(os.environ)
    os.environ.setdefault("CDP_PORT", "0")
    os.environ.setdefault("CDP_LOCAL_LOG_LEVEL", "ERROR")
    aws.client.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        aws.client.cache_clear()


def _execution_cost(stack: Any, arn: str, name: str) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{name}"
    described = sfn.describe_execution(executionArn=execution_arn)
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = sfn.get_execution_history(
            executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    return {
        "execution_status": described["status"],
        "states_entered": len(entered),
        "state_path": [e["stateEnteredEventDetails"]["name"] for e in entered],
        "history_events": len(events),
        "execution_seconds": round((described["stopDate"] - described["startDate"]).total_seconds(), 2)
        if described.get("stopDate")
        else None,
    }


def local_stack_per_merge() -> dict[str, Any]:
    import requests
    from cdp.identity.merge import merge_id_for
    from cdp.settings import ENV_MERGE_STATE_MACHINE, ENV_UNMERGE_STATE_MACHINE

    from infra.cdp_infra.routes import ADMIN_API, EVENT_PROCESSOR
    from infra.local.stack import LocalStack

    with _restored_environment(), LocalStack() as stack:
        assert stack.resources is not None
        env = stack.resources.function_env
        merge_arn, unmerge_arn = (
            env[EVENT_PROCESSOR][ENV_MERGE_STATE_MACHINE],
            env[ADMIN_API][ENV_UNMERGE_STATE_MACHINE],
        )
        http = requests.Session()
        write = {"Authorization": "Basic " + base64.b64encode(f"{stack.config.write_key}:".encode()).decode()}
        admin = {"Authorization": f"Bearer {stack.config.admin_token}"}
        tag = uuid.uuid4().hex[:8]
        member, browser = f"M-{tag}", f"anon-{tag}"

        def post(path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
            response = http.post(f"{stack.base_url}{path}", json=body, headers=headers, timeout=30)
            assert response.status_code in (200, 202), (path, response.status_code, response.text)
            result: dict[str, Any] = response.json()
            return result

        def lookup(id_type: str, value: str) -> str:
            response = http.get(
                f"{stack.base_url}/admin/v1/profiles/lookup", params={"type": id_type, "value": value}, headers=admin
            )
            response.raise_for_status()
            return str(response.json()["profile_id"])

        post("/v1/identify", {"userId": member, "traits": {"email": f"{tag}@example.com"}}, write)
        for sku in ("DRESS-7", "COAT-01"):
            post("/v1/track", {"anonymousId": browser, "event": "Product Viewed", "properties": {"sku": sku}}, write)
        assert stack.drain(60), "local stack did not drain"
        survivor, loser = lookup("member_id", member), lookup("anonymous_id", browser)
        merge_id = merge_id_for(survivor, loser)

        def measured(action: Callable[[], Any]) -> tuple[Counter[str], float]:
            invocations = len(stack.lambda_service.invocations)
            start = time.perf_counter()
            action()
            assert stack.drain(120), "local stack did not drain"
            elapsed = time.perf_counter() - start
            calls = Counter(f"{folder}:{action}" for folder, action in stack.lambda_service.invocations[invocations:])
            return calls, elapsed

        calls, elapsed = measured(lambda: post("/v1/identify", {"userId": member, "anonymousId": browser}, write))
        merge = {
            **_execution_cost(stack, merge_arn, merge_id),
            "lambda_invocations": sum(calls.values()),
            "lambda_invocations_by_action": dict(calls),
            "seconds_post_to_drained": round(elapsed, 2),
        }
        merges = http.get(f"{stack.base_url}/admin/v1/profiles/{survivor}/merges", headers=admin).json()["merges"]
        ledger = next(m for m in merges if m["merge_id"] == merge_id)
        merge["ledger_status"], merge["events_moved"] = ledger["status"], ledger["events_moved"]
        calls, elapsed = measured(lambda: post(f"/admin/v1/profiles/{survivor}/unmerge", {"mergeId": merge_id}, admin))
        unmerge = {
            **_execution_cost(stack, unmerge_arn, f"undo-{merge_id}"),
            "lambda_invocations": sum(calls.values()),
            "lambda_invocations_by_action": dict(calls),
            "seconds_post_to_drained": round(elapsed, 2),
            "ledger_status": http.get(f"{stack.base_url}/admin/v1/merges/{merge_id}", headers=admin).json()["status"],
        }
        return {
            "path": "POST /v1/identify (Basic write key) -> stream -> processor -> StartExecution; "
            "POST /admin/v1/profiles/{id}/unmerge",
            "merge": merge,
            "unmerge": unmerge,
            "note": "lambda_invocations count the identity workflow's task invocations (Step Functions -> Lambda);"
            " the stream-triggered processor invocations are not in it",
        }


def run_all() -> dict[str, Any]:
    """All identity benchmarks, with each part's wall time."""
    results: dict[str, Any] = {}
    for name, bench in (
        ("throughput_in_memory", merge_throughput),
        ("moto_calls_per_event", moto_calls_per_event),
        ("big_merge_on_fake", big_merge_on_fake),
        ("big_merge_on_moto", big_merge_on_moto),
        ("local_stack_per_merge", local_stack_per_merge),
    ):
        start = time.perf_counter()
        results[name] = bench()
        results[name]["bench_seconds"] = round(time.perf_counter() - start, 1)
    return results


def summary(results: dict[str, Any]) -> list[str]:
    lines = ["identity:"]
    for name, row in results["throughput_in_memory"].items():
        if isinstance(row, dict):
            lines.append(
                f"  {name}: {row['events_per_s']} identify events/s in memory, "
                f"{row['merges_completed']}/{row['merge_causing_events']} merges completed"
            )
    moto = results["moto_calls_per_event"]
    for scenario in ("known_person", "new_person", "merge_causing"):
        row = moto[scenario]
        lines.append(
            f"  {scenario}: {row['dynamodb_calls_per_event']} DynamoDB calls/event, "
            f"{row['stepfunctions_start_execution_per_event']} StartExecution/event (moto)"
        )
    stack = results["local_stack_per_merge"]
    for kind in ("merge", "unmerge"):
        row = stack[kind]
        lines.append(
            f"  {kind} on the local stack: {row['states_entered']} states entered, "
            f"{row['lambda_invocations']} Lambda invocations ({row['execution_status']})"
        )
    fake = results["big_merge_on_fake"]
    lines.append(
        f"  merge of {fake['merge']['timeline_events_on_loser']} timeline events (fake): "
        f"{fake['merge']['seconds']} s, {fake['merge']['transactions']} "
        f"transactions, {fake['merge']['entries_per_move_transaction']} entries/move; "
        f"unmerge {fake['unmerge']['seconds']} s"
    )
    moto_big = results["big_merge_on_moto"]
    lines.append(
        f"  merge of {moto_big['timeline_events_on_loser']} timeline events (moto DynamoDB): "
        f"{moto_big['seconds_plan_move_finalize']} s, {moto_big['transact_write_items']} TransactWriteItems"
    )
    return lines
