"""A cart journey through the deployed functions on moto, nothing patched: the processor publishes
the events the live listing names, the journey event consumer queues the entry, the starter
starts the version's machine, and the order ends the run mid-wait (exit rule), on the bus and on
the person's timeline. The stack's IAM policies are checked on every call."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdp import settings
from cdp.adapters.dynamodb.journey_runs import DynamoRunStore
from cdp.adapters.dynamodb.journeys import DynamoJourneyStore
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.adapters.dynamodb.segment_store import DynamoSegmentStore
from cdp.journeys.model import PUBLISHED, Journey
from cdp.journeys.runs import EXITED, run_id_for
from cdp.journeys.service import LiveChange, live_entry

from tests.integration.conftest import BusObserver, RawStream, Stack
from tests.integration.test_event_processor import ingest, process
from tests.unit.journey_flow_helpers import CART, COHORT, version

AT = "2026-03-01T10:00:00.000Z"


def publish_cart(stack: Stack) -> str:
    machine = stack.client("stepfunctions").create_state_machine(
        name="LineCdp-journey-cart-v1",
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/journeys",
    )["stateMachineArn"]
    store = DynamoJourneyStore(stack.client("dynamodb"), stack.core_table)
    published = version("cart", CART)
    published = type(published).from_dict({**published.as_dict(), "state_machine_arn": machine})
    draft = Journey("cart", "draft", published.document, AT, AT)
    assert store.create(draft)
    live = Journey("cart", PUBLISHED, published.document, AT, AT, live_version=1, versions=(1,), revision=2)
    assert store.replace(live, expected_revision=1, version=published, live=LiveChange("cart", live_entry(published)))
    return machine


def track(event: str, message_id: str, cart: str) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "userId": "M-3001",
        "messageId": message_id,
        "timestamp": "2026-03-01T10:00:00Z",
        "properties": {"cart_id": cart, "revenue": 990},
    }


def deliver(stack: Stack, bus: BusObserver, seen: set[str]) -> list[Any]:
    """What EventBridge's rule would hand the consumer: each new bus event, once."""
    answers = []
    for event in bus.drain():
        if event["detail"]["id"] in seen or event["detail-type"] not in ("event.received", "profile.merged"):
            continue
        seen.add(event["detail"]["id"])
        answers.append(stack.invoke("journey_events", event))
    return answers


def test_a_cart_entry_starts_once_and_the_order_ends_the_run_mid_wait(
    stack: Stack, raw_stream: RawStream, bus: BusObserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_PUBLISH_EVENT_RECEIVED, "none")  # only what journeys listen to
    machine = publish_cart(stack)
    sqs, sfn = stack.client("sqs"), stack.client("stepfunctions")
    queue = stack.env("journey_events", settings.ENV_JOURNEY_STARTS_QUEUE_URL)
    seen: set[str] = set()

    # Product Added twice for cart C1 (the second a separate event): one entry each, one run.
    ingest(stack, [track("Product Added", "add-1", "C1")])
    ingest(stack, [track("Product Added", "add-2", "C1")])
    ingest(stack, [track("Page Viewed", "view-1", "C1")])  # no journey listens: not on the bus
    assert process(stack, raw_stream.new_records()) == []
    answers = deliver(stack, bus, seen)
    assert [a.get("entries") for a in answers] == [1, 1]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
    assert stack.invoke("journey_starter", {"Records": records}) == {"batchItemFailures": []}
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    profile_id = json.loads(messages[0]["Body"])["profile_id"]
    run_id = run_id_for("cart", 1, profile_id, "C1", 1)
    assert execution["name"] == run_id

    # The order for C1: the exit rule ends the run, its execution stops, the exit is told.
    ingest(stack, [track("Order Completed", "order-1", "C1")])
    assert process(stack, raw_stream.new_records()) == []
    (answer,) = deliver(stack, bus, seen)
    assert answer["exited"] == 1 and answer["conversions"] == 1
    run = DynamoRunStore(stack.client("dynamodb"), stack.core_table).get(run_id)
    assert run is not None and run.status == EXITED and run.exit_reason == "exit_event"
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "ABORTED"
    (exited,) = [e for e in bus.drain() if e["detail-type"] == "journey.exited"]
    assert exited["detail"]["data"]["run_id"] == run_id and exited["detail"]["data"]["reason"] == "exit_event"
    # On the person's timeline directly (not through the event pipeline).
    entries = DynamoProfileStore(stack.client("dynamodb"), stack.core_table).timeline_page(profile_id, limit=50)
    journey = [e.document["event"] for e in entries if str(e.document.get("event", "")).startswith("Journey")]
    assert journey == ["Journey Exited"]
    assert not [item for item in stack.raw_items().values() if "Journey Exited" in str(item.get("payload", ""))]


def test_a_merge_moves_the_run_and_its_admission_to_the_survivor_and_an_unmerge_back(
    stack: Stack, raw_stream: RawStream, bus: BusObserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_PUBLISH_EVENT_RECEIVED, "none")
    publish_cart(stack)
    queue = stack.env("journey_events", settings.ENV_JOURNEY_STARTS_QUEUE_URL)
    sqs = stack.client("sqs")
    ingest(stack, [track("Product Added", "add-1", "C1")])
    assert process(stack, raw_stream.new_records()) == []
    deliver(stack, bus, set())
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
    assert stack.invoke("journey_starter", {"Records": records}) == {"batchItemFailures": []}
    loser = json.loads(messages[0]["Body"])["profile_id"]

    merged = {
        "id": "m-1:merged",
        "name": "profile.merged",
        "data": {"profileId": "p-survivor", "mergedProfileId": loser},
    }
    answer = stack.invoke("journey_events", {"detail-type": "profile.merged", "source": "cdp", "detail": merged})

    assert answer["moved_runs"] == 1
    (run,) = DynamoRunStore(stack.client("dynamodb"), stack.core_table).active_for("p-survivor")
    assert run.journey_id == "cart" and run.entry_key == "C1"
    admission = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": "JENTRY#cart#p-survivor"}, "sk": {"S": "C1"}}
    )["Item"]
    assert admission["occurrences"]["N"] == "1" and admission["merged_from"]["SS"] == [loser]

    # The merge undone: the run goes back to the person who entered it, the admission with it.
    unmerged = {
        "id": "m-1:unmerged",
        "name": "profile.unmerged",
        "data": {"profileId": "p-survivor", "restoredProfileId": loser},
    }
    answer = stack.invoke("journey_events", {"detail-type": "profile.unmerged", "source": "cdp", "detail": unmerged})
    assert answer["moved_runs"] == 1
    runs = DynamoRunStore(stack.client("dynamodb"), stack.core_table)
    assert runs.active_for("p-survivor") == [] and [r.run_id for r in runs.active_for(loser)] == [run.run_id]
    admission = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": "JENTRY#cart#p-survivor"}, "sk": {"S": "C1"}}
    )["Item"]
    assert admission["occurrences"]["N"] == "0" and "merged_from" not in admission


def test_archive_ends_the_runs_and_a_cohort_firing_queues_the_segment(
    stack: Stack, raw_stream: RawStream, bus: BusObserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.ENV_PUBLISH_EVENT_RECEIVED, "none")
    machine = publish_cart(stack)
    queue = stack.env("journey_events", settings.ENV_JOURNEY_STARTS_QUEUE_URL)
    sqs, sfn = stack.client("sqs"), stack.client("stepfunctions")
    ingest(stack, [track("Product Added", "add-1", "C1")])
    assert process(stack, raw_stream.new_records()) == []
    deliver(stack, bus, set())
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    for message in messages:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    records = [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]
    assert stack.invoke("journey_starter", {"Records": records}) == {"batchItemFailures": []}

    # Archive: the admin API hands the ending to the consumer.
    assert stack.invoke("journey_events", {"end_runs": {"journey_id": "cart", "reason": "archived"}}) == {"ended": 1}
    (execution,) = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "ABORTED"
    assert [e["detail"]["data"]["reason"] for e in bus.drain() if e["detail-type"] == "journey.exited"] == ["archived"]

    # A scheduled cohort: the segment's members, into the starts queue.
    store = DynamoJourneyStore(stack.client("dynamodb"), stack.core_table)
    cohort = version("vip", COHORT)
    draft = Journey("vip", "draft", cohort.document, AT, AT)
    assert store.create(draft)
    live = Journey("vip", PUBLISHED, cohort.document, AT, AT, live_version=1, versions=(1,), revision=2)
    assert store.replace(live, expected_revision=1, version=cohort, live=LiveChange("vip", live_entry(cohort)))
    segments = DynamoSegmentStore(stack.client("dynamodb"), stack.core_table)
    for person in ("p-1", "p-2", "p-3"):
        segments.enter("vip", person, at=AT, rule_version=1)
    fired = {"cohort": {"journey_id": "vip", "version": 1, "scheduled_time": "2026-04-01T02:00:00Z"}}
    assert stack.invoke("journey_events", fired) == {"entries": 3}
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(body["profile_id"] for body in bodies) == ["p-1", "p-2", "p-3"]
    assert {body["cause_id"] for body in bodies} == {"cohort:vip:2026-04-01T02:00:00Z"}


def test_the_daily_sweep_retires_a_superseded_versions_machine(stack: Stack) -> None:
    sfn = stack.client("stepfunctions")
    store = DynamoJourneyStore(stack.client("dynamodb"), stack.core_table)
    waiting = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    machines = {
        number: sfn.create_state_machine(
            name=f"LineCdp-journey-sweep-v{number}",
            definition=waiting,
            roleArn="arn:aws:iam::123456789012:role/journeys",
        )["stateMachineArn"]
        for number in (1, 2)
    }
    draft = Journey("sweep", "draft", version("sweep", CART).document, AT, AT)
    assert store.create(draft)
    revision = 1
    for number, published_at in ((1, "2026-03-01T00:00:00.000Z"), (2, "2026-03-02T00:00:00.000Z")):
        published = type(version("sweep", CART)).from_dict(
            {
                **version("sweep", CART, number).as_dict(),
                "state_machine_arn": machines[number],
                "published_at": published_at,
            }
        )
        live = Journey(
            "sweep",
            PUBLISHED,
            published.document,
            AT,
            AT,
            live_version=number,
            versions=tuple(range(1, number + 1)),
            revision=revision + 1,
        )
        assert store.replace(
            live, expected_revision=revision, version=published, live=LiveChange("sweep", live_entry(published))
        )
        revision += 1

    assert stack.invoke("journey_events", {"retire_versions": {}}) == {"retired": 1}
    remaining = {machine["stateMachineArn"] for machine in sfn.list_state_machines()["stateMachines"]}
    assert machines[1] not in remaining and machines[2] in remaining
    journey = store.get("sweep")
    assert journey is not None and journey.extra["retired_versions"] == [1]
    assert stack.invoke("journey_events", {"retire_versions": {}}) == {"retired": 0}
