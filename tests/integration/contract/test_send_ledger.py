"""The send point's stores: each fake (tests/fakes_messaging.py) and its DynamoDB adapter behave
alike: conditional record writes, batches stored once, caps counted once per send key and all or
none, suppressions per channel and address."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.adapters.dynamodb.send_ledger import (
    DynamoFrequencyCaps,
    DynamoPolicySource,
    DynamoSendLedger,
    DynamoSuppressionList,
)
from cdp.messaging.policy import CapCounter
from cdp.messaging.ports import MulticastBatch, SendRecord

from tests.fakes_messaging import FakeFrequencyCaps, FakeSendLedger, FakeSuppressions
from tests.integration.contract.conftest import ADAPTER, IMPLEMENTATIONS, Aws, unique

EXPIRES = 1_900_000_000


@pytest.fixture(params=IMPLEMENTATIONS)
def ledger(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    return (
        DynamoSendLedger(moto_stack.dynamodb, moto_stack.core_table) if request.param == ADAPTER else FakeSendLedger()
    )


@pytest.fixture(params=IMPLEMENTATIONS)
def caps(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoFrequencyCaps(moto_stack.dynamodb, moto_stack.core_table)
    return FakeFrequencyCaps()


@pytest.fixture(params=IMPLEMENTATIONS)
def suppressions(request: pytest.FixtureRequest, moto_stack: Aws) -> Any:
    if request.param == ADAPTER:
        return DynamoSuppressionList(moto_stack.dynamodb, moto_stack.core_table)
    return FakeSuppressions()


def claim(key: str, **changes: Any) -> SendRecord:
    values: dict[str, Any] = {
        "send_key": key,
        "state": "claimed",
        "profile_id": "p_amy",
        "at_ms": 1,
        "channel": "line",
        "to": "U" + "a" * 32,
        "via": "push",
        "retry_key": "5b1f0e5e-1111-5222-8333-944455556666",
        "payload": {"messages": [{"type": "text", "text": "哈囉"}]},
        "template_id": "coupon",
        "template_version": 2,
        "cap_keys": ("line#day#2026-05-04",),
        "cost_units": 1,
    }
    return SendRecord(**{**values, **changes})


def test_a_record_is_written_only_over_the_state_it_expects(ledger: Any) -> None:
    key = unique("c1:amy")
    assert ledger.get(key) is None
    first = claim(key)
    assert ledger.put(first, expect=(None, "held")) is True
    assert ledger.put(claim(key, to="someone else"), expect=(None, "held")) is False  # a second claim loses
    assert ledger.get(key) == first
    sent = first.moved("sent", 2, provider_id="req-1", extra={"duplicate_accept": True})
    assert ledger.put(sent, expect=("claimed",)) is True
    assert ledger.put(first.moved("failed", 3, reason="x"), expect=("claimed",)) is False
    assert ledger.get(key) == sent


def test_a_held_record_is_taken_over_by_its_release(ledger: Any) -> None:
    key = unique("c1:ben")
    held = SendRecord(send_key=key, state="held", profile_id="p_ben", at_ms=1, channel="email", held_until_ms=99)
    assert ledger.put(held, expect=(None, "held")) is True
    assert ledger.get(key) == held
    assert ledger.put(claim(key), expect=(None, "held")) is True
    assert ledger.get(key).state == "claimed"  # type: ignore[union-attr]


def test_a_batch_is_stored_once_and_the_first_one_wins(ledger: Any) -> None:
    batch_id = unique("mc")
    first = MulticastBatch(
        batch_id, "5b1f0e5e-1111-5222-8333-944455556666", "default", ("U1", "U2"), [{"type": "text", "text": "a"}]
    )
    assert ledger.get_batch(batch_id) is None
    assert ledger.put_batch(first) == first
    assert ledger.put_batch(MulticastBatch(batch_id, "other", "default", ("U3",), [])) == first
    assert ledger.get_batch(batch_id) == first


def test_caps_count_a_send_key_once_and_refuse_all_or_nothing(caps: Any) -> None:
    person = unique("p")
    day = CapCounter("line#day#2026-05-04", 2, "capped_day", EXPIRES)
    week = CapCounter("line#week#2026-W19", 3, "capped_week", EXPIRES)
    assert caps.take(person, "k1", [day, week]) is None
    assert caps.take(person, "k1", [day, week]) is None  # a retry of the same send
    assert caps.take(person, "k2", [day, week]) is None
    assert caps.take(person, "k3", [day, week]) == day  # the day is full: the week is not touched
    tomorrow = CapCounter("line#day#2026-05-05", 2, "capped_day", EXPIRES)
    assert caps.take(person, "k3", [tomorrow, week]) is None
    assert caps.take(person, "k4", [tomorrow, week]) == week
    caps.give_back(person, "k3", [tomorrow.key, week.key])  # k3 then failed
    assert caps.take(person, "k4", [tomorrow, week]) is None
    assert caps.take(person, "k1", [day]) is None  # already counted: still fits
    caps.give_back(person, "never", ["line#day#2000-01-01"])  # nothing to give back is fine
    assert caps.take(person, "k5", []) is None


def test_caps_are_per_person(caps: Any) -> None:
    one, two = unique("p"), unique("p")
    counter = CapCounter("campaign#c1", 1, "capped_campaign", EXPIRES)
    assert caps.take(one, "c1:one", [counter]) is None
    assert caps.take(two, "c1:two", [counter]) is None
    assert caps.take(one, "c1:again", [counter]) == counter


def test_suppressions_are_per_channel_and_address_in_any_case(suppressions: Any) -> None:
    address = f"{unique('amy')}@Example.com"
    assert suppressions.suppressed("email", address) is False
    suppressions.suppress("email", address, reason="bounce", at_ms=1)
    assert suppressions.suppressed("email", address.lower()) is True
    assert suppressions.suppressed("sms", address) is False


def test_the_policy_source_reads_the_stored_document_over_the_defaults(moto_stack: Aws) -> None:
    workspace = unique("ws")
    source = DynamoPolicySource(moto_stack.dynamodb, moto_stack.core_table, workspace=workspace, cache_seconds=1)
    assert source.policy().quiet_hours == ("22:00", "09:00")
    moto_stack.dynamodb.put_item(
        TableName=moto_stack.core_table,
        Item={
            "pk": {"S": f"MSGPOLICY#{workspace}"},
            "sk": {"S": "CONFIG"},
            "version": {"N": "1"},
            "doc": {"S": '{"quiet_hours": {"start": "21:00", "end": "08:00"}, "caps": {"line": {"day": 4}}}'},
        },
    )
    fresh = DynamoPolicySource(moto_stack.dynamodb, moto_stack.core_table, workspace=workspace)
    assert fresh.policy().quiet_hours == ("21:00", "08:00")
    assert dict(fresh.policy().caps["line"]) == {"day": 4, "week": 6}
