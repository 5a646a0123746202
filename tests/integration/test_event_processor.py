"""event_processor handler on records read from the raw table's real (moto) stream.

Raw events enter through the real ingest and webhook handlers, the stream is read with
dynamodbstreams GetRecords and wrapped the way a Lambda event source mapping delivers it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import DynamoProfileStore
from cdp.identity.identifiers import Identifier
from cdp.profiles.model import Profile

from tests.fixtures import line_events
from tests.fixtures.line_events import BASE_TIMESTAMP_MS, CHANNEL_SECRET, signed_delivery
from tests.integration.conftest import LINE_CHANNEL, WRITE_KEY, BusObserver, RawStream, Stack, api_event

PHONE = Identifier("phone", "+886912345678")
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()}
LINE_USER = line_events.user_id("chen")


def ingest(stack: Stack, batch: list[dict[str, Any]]) -> None:
    body = json.dumps({"batch": batch}, ensure_ascii=False).encode()
    response = stack.invoke("ingest", api_event("POST", "/v1/batch", body=body, headers=AUTH))
    assert response["statusCode"] == 200 and json.loads(response["body"])["success"], response


def webhook(stack: Stack, events: list[dict[str, Any]]) -> None:
    body, signature = signed_delivery(CHANNEL_SECRET, events)
    request = api_event(
        "POST",
        f"/line/webhook/{LINE_CHANNEL}",
        resource="/line/webhook/{channel}",
        body=body,
        headers={"x-line-signature": signature},
        path_parameters={"channel": LINE_CHANNEL},
    )
    assert stack.invoke("line_webhook", request)["statusCode"] == 200


def process(stack: Stack, records: list[dict[str, Any]]) -> list[str]:
    """Invoke the processor with one stream batch; the sequence numbers it reported as failed."""
    response = stack.invoke("event_processor", {"Records": records})
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def profiles(stack: Stack) -> dict[str, Profile]:
    store = DynamoProfileStore(stack.client("dynamodb"), stack.core_table)
    found = {}
    for item in stack.scan(stack.core_table):
        if item["sk"]["S"] == "PROFILE":
            profile = store.get(item["pk"]["S"].removeprefix("PROFILE#"))
            assert profile is not None
            found[profile.profile_id] = profile
    return found


def timeline(stack: Stack, profile_id: str) -> list[dict[str, Any]]:
    return DynamoProfileStore(stack.client("dynamodb"), stack.core_table).latest_events(profile_id, 100)


@pytest.fixture
def seeded(stack: Stack, raw_stream: RawStream) -> list[dict[str, Any]]:
    """One person seen by the POS, the web shop and a LINE chat's owner; returns the stream batch.

    The three partner events are sent one request each: a batch is written in parallel, so its
    stream order would vary, and without the merge workflow (not run here) the order decides
    whether Amy is one profile or two.
    """
    for event in [
        {
            "type": "identify",
            "userId": "M-1001",
            "messageId": "pos-identify-1",
            "timestamp": "2024-05-01T09:00:00Z",
            "traits": {"phone": "0912-345-678", "name": "林小美"},
            "context": {"channel": "pos"},
        },
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "M-1001",
            "messageId": "pos-order-1",
            "timestamp": "2024-05-01T09:05:00Z",
            "properties": {"revenue": 5000, "currency": "TWD", "store_id": "XY-01"},
            "context": {"channel": "pos"},
        },
        {
            "type": "identify",
            "anonymousId": "anon-7f3a",
            "messageId": "web-identify-1",
            "timestamp": "2024-05-01T09:30:00Z",
            "traits": {"phone": "+886 912 345 678", "email": "Amy.Lin@Example.com"},
        },
    ]:
        ingest(stack, [event])
    webhook(
        stack,
        [
            line_events.follow(source=line_events.user_source(LINE_USER), timestamp=BASE_TIMESTAMP_MS),
            line_events.join(),  # a group join: no person to attach to
        ],
    )
    webhook(
        stack,
        [line_events.unfollow(source=line_events.user_source(LINE_USER), timestamp=BASE_TIMESTAMP_MS + 60_000)],
    )
    records = raw_stream.new_records()
    assert len(records) == 6
    return records


def test_profiles_are_built_and_a_shared_phone_joins_the_same_profile(
    stack: Stack, seeded: list[dict[str, Any]]
) -> None:
    assert process(stack, seeded) == []

    found = profiles(stack)
    assert len(found) == 2
    (amy,) = [p for p in found.values() if PHONE.key in p.identifiers]
    assert sorted(amy.identifiers) == [
        "anonymous_id#anon-7f3a",
        "email#amy.lin@example.com",
        "member_id#M-1001",
        "phone#+886912345678",
    ]
    assert amy.event_count == 3
    assert amy.traits["name"].value == "林小美"
    assert amy.traits["phone"].value == "+886912345678"
    assert amy.channel_mix() == "omnichannel"
    assert {entry["messageId"] for entry in timeline(stack, amy.profile_id)} == {
        "pos-identify-1",
        "pos-order-1",
        "web-identify-1",
    }
    (chen,) = [p for p in found.values() if p is not amy]
    assert list(chen.identifiers) == [f"line#{LINE_CHANNEL}:{LINE_USER}"]
    assert chen.line_status == "blocked"  # followed, then blocked a minute later
    assert chen.event_count == 2


def test_replaying_the_whole_batch_changes_nothing(stack: Stack, seeded: list[dict[str, Any]]) -> None:
    assert process(stack, seeded) == []
    before = stack.scan(stack.core_table)

    assert process(stack, seeded) == []  # Lambda retried the batch after a timeout, say
    assert process(stack, list(reversed(seeded))) == []

    assert stack.scan(stack.core_table) == before
    assert sorted(p.event_count for p in profiles(stack).values()) == [2, 3]


def test_a_failing_record_is_reported_and_the_others_succeed(
    stack: Stack, raw_stream: RawStream, seeded: list[dict[str, Any]]
) -> None:
    # Someone wrote a broken item into the raw table (the payload is not JSON).
    stack.client("dynamodb").put_item(
        TableName=stack.raw_table,
        Item={
            "pk": {"S": "partner#default#broken-1"},
            "origin": {"S": "partner"},
            "source": {"S": "default"},
            "received_at": {"S": "2024-05-01T10:00:00.000Z"},
            "payload": {"S": "{not json"},
        },
    )
    (broken,) = raw_stream.new_records()
    batch = [*seeded[:3], broken, *seeded[3:]]

    failed = process(stack, batch)

    assert failed == [broken["dynamodb"]["SequenceNumber"]]
    assert sorted(p.event_count for p in profiles(stack).values()) == [2, 3]  # records after it were processed


def test_domain_events_reach_the_bus(stack: Stack, bus: BusObserver, seeded: list[dict[str, Any]]) -> None:
    assert process(stack, seeded) == []

    received = bus.of_type("event.received")
    assert len(received) == 6
    assert {event["source"] for event in received} == {"cdp"}
    details = [event["detail"] for event in received]
    assert {d["data"]["messageId"] for d in details} >= {"pos-identify-1", "pos-order-1", "web-identify-1"}
    assert all(d["version"] == "1" and d["id"].endswith(":received") for d in details)
    join_event = next(d for d in details if d["data"]["event"] == "LINE Bot Joined")
    assert join_event["data"]["profileId"] is None

    updated = [event["detail"] for event in bus.of_type("profile.updated")]
    amy = next(p for p in profiles(stack).values() if PHONE.key in p.identifiers)
    amy_changes = [
        change for d in updated if d["data"]["profileId"] == amy.profile_id for change in d["data"]["changes"]
    ]
    assert {"identifier:phone", "identifier:email", "identifier:anonymous_id", "trait:name"} <= set(amy_changes)
    assert "line_status" in [change for d in updated for change in d["data"]["changes"]]

    # A replay republishes exactly what the first run committed, with the same ids (consumers dedup on id).
    first_run = bus.drain()
    before = len(first_run)
    assert process(stack, seeded) == []
    replayed = bus.drain()[before:]
    assert {event["detail-type"] for event in replayed} == {"event.received", "profile.updated"}
    assert {event["detail"]["id"] for event in replayed} == {event["detail"]["id"] for event in first_run}


def test_remove_records_from_ttl_expiry_are_ignored(stack: Stack, seeded: list[dict[str, Any]]) -> None:
    expired = {**seeded[0], "eventName": "REMOVE", "dynamodb": {**seeded[0]["dynamodb"]}}
    expired["dynamodb"].pop("NewImage")
    expired["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

    assert process(stack, [expired]) == []
    assert profiles(stack) == {}


class _Throttled:
    status_code = 400


def test_profile_updated_survives_a_failed_publish(
    stack: Stack, bus: BusObserver, seeded: list[dict[str, Any]]
) -> None:
    from cdp.adapters import aws as aws_clients

    failures = {"left": 1}

    def throttle_once(**_: Any) -> tuple[Any, dict[str, Any]] | None:
        if failures["left"] == 0:
            return None
        failures["left"] -= 1
        return _Throttled(), {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}

    # The processor's own (cached) EventBridge client: its first PutEvents is throttled.
    aws_clients.client("events").meta.events.register("before-call.events.PutEvents", throttle_once)
    first = seeded[0]

    assert process(stack, seeded[:2]) == [first["dynamodb"]["SequenceNumber"]]  # committed, not published
    assert process(stack, [first]) == []  # Lambda's retry from the failed record

    first_id = first["dynamodb"]["NewImage"]["pk"]["S"]
    assert first_id in [d["detail"]["data"]["eventId"] for d in bus.of_type("profile.updated")]
