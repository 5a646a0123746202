"""Journey runs, waits, admissions and handled-event marks on moto (the core table as deployed)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from cdp.adapters.dynamodb.journey_runs import (
    DynamoAdmissions,
    DynamoEventMarks,
    DynamoRunStore,
    DynamoWaitStore,
)
from cdp.journeys.admission import KEY_SEEN, NEVER_AGAIN, READMITTED, STILL_RUNNING, TOO_MANY_RUNS, Decision
from cdp.journeys.definition import Reentry
from cdp.journeys.ports import EntryRequest, Wait
from cdp.journeys.runs import ACTIVE, EXITED, MAX_PATH, Run, Step, run_id_for

from tests.fakes import FixedClock
from tests.integration.conftest import Stack

AT = "2026-03-01T10:00:00.000Z"


@pytest.fixture
def runs(stack: Stack) -> DynamoRunStore:
    return DynamoRunStore(stack.client("dynamodb"), stack.core_table)


def a_run(run_id: str = "jr-1", profile_id: str = "p1", journey_id: str = "cart", **fields: object) -> Run:
    return Run(
        run_id=run_id,
        journey_id=journey_id,
        version=1,
        profile_id=profile_id,
        entry_key="C1",
        entered_at=fields.pop("entered_at", AT),  # type: ignore[arg-type]
        entry={"event": "Product Added", "properties": {"cart_id": "C1", "price": 12.5}},
        **fields,  # type: ignore[arg-type]
    )


def test_a_run_is_created_once_and_round_trips(runs: DynamoRunStore) -> None:
    run = a_run()
    assert runs.put_new(run)
    assert not runs.put_new(run)
    assert runs.get("jr-1") == run
    assert runs.get("nope") is None


def test_reach_appends_each_step_once_and_keeps_the_newest(runs: DynamoRunStore) -> None:
    runs.put_new(a_run())
    assert runs.reach("jr-1", Step("wait_order", AT), waiting={"kind": "event", "event": "Order Completed"})
    assert not runs.reach("jr-1", Step("wait_order", AT, "retried"))  # a retried task
    run = runs.get("jr-1")
    assert run is not None and run.node == "wait_order" and run.waiting == {"kind": "event", "event": "Order Completed"}
    assert runs.reach("jr-1", Step("remind", "2026-03-01T10:30:00.000Z", "sent"))
    run = runs.get("jr-1")
    assert run is not None and run.waiting is None and [s.node for s in run.path] == ["wait_order", "remind"]
    for minute in range(MAX_PATH + 5):
        runs.reach("jr-1", Step("loop", f"2026-03-02T10:{minute:02d}:00.000Z"))
    run = runs.get("jr-1")
    assert run is not None and len(run.path) == MAX_PATH and run.path[-1].at == "2026-03-02T10:54:00.000Z"


def test_field_level_writes_do_not_overwrite_each_other(runs: DynamoRunStore) -> None:
    runs.put_new(a_run())
    runs.set_execution("jr-1", "arn:aws:states:ap-northeast-1:1:execution:m:jr-1")
    runs.record_branch("jr-1", "split", "a")
    runs.record_send("jr-1", "welcome", "sent")
    runs.record_send("jr-1", "nudge", "suppressed:quiet_hours")
    assert runs.record_click("jr-1", "welcome", AT)
    assert not runs.record_click("jr-1", "welcome", "2026-03-01T11:00:00.000Z")
    assert runs.record_conversion("jr-1", AT, 42.0)
    assert not runs.record_conversion("jr-1", AT, 1.0)
    run = runs.get("jr-1")
    assert run is not None
    assert run.branches == {"split": "a"} and run.sent == {"welcome": "sent", "nudge": "suppressed:quiet_hours"}
    assert run.clicked == {"welcome": AT} and run.converted_at == AT and run.conversion_value == 42.0
    assert run.execution_arn and run.execution_arn.endswith(":jr-1")


def test_finish_once_and_the_person_lookups(runs: DynamoRunStore) -> None:
    runs.put_new(a_run("jr-1"))
    runs.put_new(a_run("jr-2", entered_at="2026-03-02T10:00:00.000Z"))
    runs.put_new(a_run("jr-3", journey_id="welcome"))
    assert [r.run_id for r in runs.active_for("p1")] == ["jr-2", "jr-3", "jr-1"]  # newest first
    assert runs.finish("jr-1", "exit_event", "2026-03-01T10:20:00.000Z")
    assert not runs.finish("jr-1", "completed", "2026-03-01T10:30:00.000Z")
    ended = runs.get("jr-1")
    assert ended is not None and ended.status == EXITED and ended.exit_reason == "exit_event"
    assert [r.run_id for r in runs.active_for("p1", "cart")] == ["jr-2"]
    assert [r.run_id for r in runs.recent_for("p1", "cart")] == ["jr-2", "jr-1"]
    assert [r.run_id for r in runs.of_journey("cart")] == ["jr-2", "jr-1"]
    assert [r.run_id for r in runs.of_journey("cart", limit=1)] == ["jr-2"]


def test_concurrent_finishes_tell_the_exit_once(runs: DynamoRunStore) -> None:
    runs.put_new(a_run())
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda reason: runs.finish("jr-1", reason, AT), ["a", "b", "c", "d"]))
    assert answers.count(True) == 1


def test_reassign_moves_runs_to_the_survivor(runs: DynamoRunStore) -> None:
    runs.put_new(a_run("jr-1", profile_id="loser"))
    runs.put_new(a_run("jr-2", profile_id="survivor"))
    moved = runs.reassign("loser", "survivor")
    assert [r.run_id for r in moved] == ["jr-1"] and moved[0].profile_id == "survivor"
    assert {r.run_id for r in runs.active_for("survivor")} == {"jr-1", "jr-2"}
    assert runs.active_for("loser") == [] and runs.reassign("loser", "survivor") == []
    assert runs.finish("jr-1", "merged", AT)
    assert [r.run_id for r in runs.active_for("survivor")] == ["jr-2"]


def test_waits_are_found_by_person_and_event_replaced_and_moved(stack: Stack) -> None:
    waits = DynamoWaitStore(stack.client("dynamodb"), stack.core_table)
    wait = Wait(
        run_id="jr-1",
        journey_id="cart",
        node="wait_order",
        profile_id="p1",
        event="Order Completed",
        correlation="cart_id=C1",
        where=[{"property": "total", "op": "gt", "value": 0}],
        task_token="token-1",
        expires_at="2026-03-01T10:30:00.000Z",
    )
    waits.register(wait)
    assert waits.waiting_for("p1", "Order Completed") == [wait]
    assert waits.waiting_for("p1", "Product Added") == []
    retried = replace(wait, task_token="token-2")
    waits.register(retried)
    waits.remove(wait)  # the old token: the new registration stays
    assert waits.waiting_for("p1", "Order Completed") == [retried]
    item = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": "JWAIT#p1#Order Completed"}, "sk": {"S": "cart_id=C1#jr-1"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > 1772359800  # TTL after the timeout
    moved = waits.reassign("p1", "p9")
    assert [w.profile_id for w in moved] == ["p9"]
    assert waits.waiting_for("p1", "Order Completed") == []
    assert [w.task_token for w in waits.waiting_for("p9", "Order Completed")] == ["token-2"]
    waits.remove(moved[0])
    assert waits.waiting_for("p9", "Order Completed") == []


def entry(cause: str, key: str | None = "C1", at: str = AT, profile_id: str = "p1") -> EntryRequest:
    return EntryRequest(
        journey_id="cart",
        version=1,
        profile_id=profile_id,
        entry_key=key,
        cause_id=cause,
        entered_at=at,
        entry={"event": "Product Added"},
    )


def admit(
    admissions: DynamoAdmissions, runs: DynamoRunStore, request: EntryRequest, reentry: Reentry, most: int = 1
) -> Decision:
    def name(occurrence: int) -> str:
        return run_id_for(request.journey_id, request.version, request.profile_id, request.entry_key, occurrence)

    decision = admissions.admit(request, reentry, most, name)
    if decision.admitted:
        runs.put_new(
            Run(
                run_id=name(decision.occurrence),
                journey_id=request.journey_id,
                version=request.version,
                profile_id=request.profile_id,
                entry_key=request.entry_key or "-",
                entered_at=request.entered_at,
            )
        )
    return decision


@pytest.fixture
def admissions(stack: Stack, runs: DynamoRunStore) -> DynamoAdmissions:
    return DynamoAdmissions(stack.client("dynamodb"), stack.core_table, runs, FixedClock())


def test_per_key_admits_each_key_once_and_the_same_cause_again(
    admissions: DynamoAdmissions, runs: DynamoRunStore
) -> None:
    per_key = Reentry(mode="per_key")
    first = admit(admissions, runs, entry("e1"), per_key, 5)
    assert first.admitted and first.occurrence == 1
    again = admit(admissions, runs, entry("e1"), per_key, 5)
    assert again.admitted and again.reason == READMITTED and again.occurrence == 1
    assert admit(admissions, runs, entry("e2"), per_key, 5).reason == KEY_SEEN
    other = admit(admissions, runs, entry("e3", key="C2"), per_key, 5)
    assert other.admitted and other.occurrence == 1


def test_max_concurrent_runs_counts_admitted_runs_until_they_end(
    admissions: DynamoAdmissions, runs: DynamoRunStore
) -> None:
    per_key = Reentry(mode="per_key")
    assert admit(admissions, runs, entry("e1", key="C1"), per_key, 1).admitted
    assert admit(admissions, runs, entry("e2", key="C2"), per_key, 1).reason == TOO_MANY_RUNS
    (run,) = runs.active_for("p1", "cart")
    runs.finish(run.run_id, "completed", AT)
    assert admit(admissions, runs, entry("e3", key="C2"), per_key, 1).admitted


def test_never_and_after_exit(admissions: DynamoAdmissions, runs: DynamoRunStore) -> None:
    assert admit(admissions, runs, entry("n1", profile_id="pn"), Reentry(mode="never")).admitted
    assert admit(admissions, runs, entry("n2", profile_id="pn"), Reentry(mode="never")).reason == NEVER_AGAIN
    after_exit = Reentry(mode="after_exit")
    first = admit(admissions, runs, entry("a1", profile_id="pa"), after_exit, 3)
    assert first.admitted
    assert admit(admissions, runs, entry("a2", profile_id="pa"), after_exit, 3).reason == STILL_RUNNING
    (run,) = runs.active_for("pa")
    runs.finish(run.run_id, "completed", AT)
    second = admit(admissions, runs, entry("a3", profile_id="pa"), after_exit, 3)
    assert second.admitted and second.occurrence == 2


def test_concurrent_admissions_of_one_key_admit_one(admissions: DynamoAdmissions, runs: DynamoRunStore) -> None:
    per_key = Reentry(mode="per_key")
    with ThreadPoolExecutor(4) as pool:
        decisions = list(pool.map(lambda n: admit(admissions, runs, entry(f"c{n}"), per_key, 10), range(4)))
    assert sum(1 for d in decisions if d.admitted) == 1
    assert len(runs.active_for("p1", "cart")) == 1


def test_handled_events_are_marked(stack: Stack) -> None:
    marks = DynamoEventMarks(stack.client("dynamodb"), stack.core_table, FixedClock())
    assert not marks.seen("evt-1:received")
    marks.mark("evt-1:received")
    assert marks.seen("evt-1:received")


def test_run_status_defaults(runs: DynamoRunStore) -> None:
    runs.put_new(a_run())
    run = runs.get("jr-1")
    assert run is not None and run.status == ACTIVE and run.entry["properties"]["price"] == 12.5
    assert runs.statuses(["jr-1", "jr-x"]) == {"jr-1": ACTIVE}


def test_a_merge_folds_the_merged_away_persons_admissions_into_the_survivors_once(
    admissions: DynamoAdmissions, runs: DynamoRunStore
) -> None:
    per_key = Reentry(mode="per_key")
    assert admit(admissions, runs, entry("l1", key="C1", profile_id="loser"), per_key, 2).admitted
    assert admit(admissions, runs, entry("s1", key="C2", profile_id="survivor"), per_key, 2).admitted
    runs.reassign("loser", "survivor")
    assert admissions.merge("cart", "loser", "survivor") == 2  # the person record and the C1 record
    assert admissions.merge("cart", "loser", "survivor") == 0  # a retried merge changes nothing
    assert admit(admissions, runs, entry("s2", key="C1", profile_id="survivor"), per_key, 5).reason == KEY_SEEN
    # The moved run holds a slot of the survivor's concurrent runs (2 of 2 now).
    assert admit(admissions, runs, entry("s3", key="C3", profile_id="survivor"), per_key, 2).reason == TOO_MANY_RUNS
