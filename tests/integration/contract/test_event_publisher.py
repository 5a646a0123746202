"""EventPublisher: FakePublisher and EventBridgePublisher deliver the same events, every one."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from cdp.adapters.eventbridge import EventBridgePublisher
from cdp.domain_events import SOURCE, DomainEvent

from infra.local.config import REGION
from tests.fakes import FakePublisher
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws

NOW = "2026-05-01T00:00:00.000Z"


class Bus:
    """The adapter on a bus with a rule that copies everything from the product to a queue."""

    def __init__(self) -> None:
        name = f"contract-bus-{uuid.uuid4().hex[:8]}"
        events, self._sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name=name)
        self._url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName=name, EventPattern=json.dumps({"source": [SOURCE]}))
        events.put_targets(Rule="all", EventBusName=name, Targets=[{"Id": "queue", "Arn": arn}])
        self.publisher = EventBridgePublisher(events, name)

    def delivered(self) -> list[tuple[str, str, dict[str, Any]]]:
        found = []
        while messages := self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                body = json.loads(message["Body"])
                found.append((body["detail-type"], body["detail"]["id"], body["detail"]["data"]))
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(found, key=lambda event: event[1])


class Fake:
    def __init__(self) -> None:
        self.publisher = FakePublisher()

    def delivered(self) -> list[tuple[str, str, dict[str, Any]]]:
        found = [(e.name, e.id, e.envelope()["data"]) for e in self.publisher.published]
        return sorted(found, key=lambda event: event[1])


@pytest.fixture(params=IMPLEMENTATIONS)
def bus(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    return Bus() if request.param == ADAPTER else Fake()


def test_every_event_is_delivered_once_across_put_events_chunks(bus: Any) -> None:
    events = [
        DomainEvent(name="segment.entered", id=f"d-{n:03d}", time=NOW, detail={"segmentId": "gold", "n": n, "名": "金"})
        for n in range(23)  # three PutEvents calls of at most 10
    ]
    bus.publisher.publish(events)
    bus.publisher.publish([])
    assert bus.delivered() == [(e.name, e.id, e.envelope()["data"]) for e in events]
