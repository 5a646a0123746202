"""DynamoProfileStore on the stack's core table: commit outcomes, owners paging, timeline order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from cdp.adapters.dynamodb.profile_store import APPLIED_MARKER_TTL_SECONDS, DynamoProfileStore
from cdp.clock import epoch_seconds, iso_from_ms
from cdp.events.canonical import CanonicalEvent, EventNormalizer
from cdp.events.raw import RawEvent, partner_event_id
from cdp.events.segment import validate_event
from cdp.identity.identifiers import Identifier, IdentifierNormalizer
from cdp.profiles.model import Profile, apply_event
from cdp.profiles.processor import CommitOutcome

from tests.integration.conftest import Stack

NOW_MS = 1_714_561_200_000  # 2024-05-01T11:00:00Z
NOW = iso_from_ms(NOW_MS)
PHONE = Identifier("phone", "+886912345678")
NORMALIZER = EventNormalizer(IdentifierNormalizer("TW"))


def partner_event(message_id: str, *, timestamp: str = "2024-05-01T10:00:00Z", **fields: Any) -> CanonicalEvent:
    item = {"type": "identify", "messageId": message_id, "timestamp": timestamp, **fields}
    payload = validate_event(item, single_call=None, shared={}, received_at_ms=NOW_MS)
    raw = RawEvent(partner_event_id("web-shop", message_id), "partner", "web-shop", NOW, payload)
    return NORMALIZER.normalize(raw)


def commit(
    store: DynamoProfileStore, event: CanonicalEvent, profile: Profile, claims: Sequence[Identifier]
) -> CommitOutcome:
    """What the processor does: fold the event into the profile it read, bump the version, commit."""
    expected = profile.version
    apply_event(profile, event, list(claims), NOW)
    profile.version = expected + 1
    profile.remember_applied(event.event_id)
    return store.commit(event=event, profile=profile, expected_version=expected, claims=claims)


@pytest.fixture
def store(stack: Stack) -> DynamoProfileStore:
    return DynamoProfileStore(stack.client("dynamodb"), stack.core_table)


@pytest.fixture
def amy(store: DynamoProfileStore) -> tuple[str, CanonicalEvent]:
    """A profile created by an identify with member id, phone and email."""
    event = partner_event("m-amy-1", userId="M-1001", traits={"phone": "0912-345-678", "email": "Amy@Example.com"})
    assert commit(store, event, Profile.new("p_amy", NOW), event.identifiers) is CommitOutcome.APPLIED
    return "p_amy", event


def test_applied_writes_profile_claims_timeline_and_marker(
    stack: Stack, store: DynamoProfileStore, amy: tuple[str, CanonicalEvent]
) -> None:
    profile_id, event = amy

    profile = store.get(profile_id)
    assert profile is not None
    assert profile.version == 1
    assert profile.event_count == 1
    assert sorted(profile.identifiers) == ["email#amy@example.com", "member_id#M-1001", "phone#+886912345678"]
    assert store.owners(event.identifiers) == {i.key: profile_id for i in event.identifiers}
    assert store.was_applied(event.event_id) == profile_id
    assert [entry["eventId"] for entry in store.latest_events(profile_id, 10)] == [event.event_id]

    marker = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": f"APPLIED#{event.event_id}"}, "sk": {"S": "APPLIED"}}
    )["Item"]
    assert int(marker["expires_at"]["N"]) == epoch_seconds(event.received_at) + APPLIED_MARKER_TTL_SECONDS


def test_computed_traits_state_is_stored_with_the_profile(
    store: DynamoProfileStore, amy: tuple[str, CanonicalEvent]
) -> None:
    profile_id, _ = amy
    order = partner_event(
        "m-amy-2",
        type="track",
        event="Order Completed",
        userId="M-1001",
        properties={"revenue": 5000, "store_id": "TPE-101"},
        context={"channel": "pos"},
    )
    current = store.get(profile_id)
    assert current is not None
    assert commit(store, order, current, []) is CommitOutcome.APPLIED

    stored = store.get(profile_id)
    assert stored is not None
    assert stored.computed == current.computed
    assert stored.computed.daily == {"2024-05-01": (1, 5000.0)}
    assert stored.computed.stores["TPE-101"].orders == 1


def test_replaying_the_same_event_is_already_applied_and_changes_nothing(
    stack: Stack, store: DynamoProfileStore, amy: tuple[str, CanonicalEvent]
) -> None:
    profile_id, event = amy
    before = stack.scan(stack.core_table)
    current = store.get(profile_id)
    assert current is not None

    assert commit(store, event, current, []) is CommitOutcome.ALREADY_APPLIED
    # A replay of the creating event that does not find the profile (is_new again) too.
    assert commit(store, event, Profile.new(profile_id, NOW), event.identifiers) is CommitOutcome.ALREADY_APPLIED

    assert stack.scan(stack.core_table) == before


def test_a_stale_expected_version_is_profile_changed(
    stack: Stack, store: DynamoProfileStore, amy: tuple[str, CanonicalEvent]
) -> None:
    profile_id, _ = amy
    read_by_a = store.get(profile_id)
    read_by_b = store.get(profile_id)
    assert read_by_a is not None and read_by_b is not None
    first = partner_event("m-amy-2", userId="M-1001", traits={"tier": "gold"})
    second = partner_event("m-amy-3", userId="M-1001", traits={"tier": "silver"})

    assert commit(store, first, read_by_a, []) is CommitOutcome.APPLIED
    before = stack.scan(stack.core_table)
    assert commit(store, second, read_by_b, []) is CommitOutcome.PROFILE_CHANGED
    # "Create" over an existing profile is a lost race as well.
    assert commit(store, second, Profile.new(profile_id, NOW), []) is CommitOutcome.PROFILE_CHANGED

    # Only the lost single-write commit's marker is left, for its retry to take over; no timeline
    # entry, no profile change.
    left = [item for item in stack.scan(stack.core_table) if item not in before]
    assert [(item["pk"]["S"], item["base_version"]["N"]) for item in left] == [(f"APPLIED#{second.event_id}", "1")]
    profile = store.get(profile_id)
    assert profile is not None
    assert (profile.version, profile.traits["tier"].value) == (2, "gold")
    assert store.was_applied(second.event_id) is None


def test_an_identifier_claimed_in_between_is_claim_lost(stack: Stack, store: DynamoProfileStore) -> None:
    by_pos = partner_event("m-pos-1", userId="M-2002", traits={"phone": "0912345678"})
    by_web = partner_event("m-web-1", anonymousId="anon-9c1d", traits={"phone": "+886 912 345 678"})
    assert PHONE in by_pos.identifiers and PHONE in by_web.identifiers
    assert store.owners(by_web.identifiers) == {}  # the web event resolves: nobody owns anything yet

    assert commit(store, by_pos, Profile.new("p_pos", NOW), by_pos.identifiers) is CommitOutcome.APPLIED
    before = stack.scan(stack.core_table)
    assert commit(store, by_web, Profile.new("p_web", NOW), by_web.identifiers) is CommitOutcome.CLAIM_LOST

    assert stack.scan(stack.core_table) == before
    assert store.get("p_web") is None
    assert store.owners(by_web.identifiers) == {PHONE.key: "p_pos"}  # anon-9c1d was not claimed either
    assert store.was_applied(by_web.event_id) is None


def test_owners_pages_batch_get_over_100_identifiers(stack: Stack, store: DynamoProfileStore) -> None:
    owned: dict[str, str] = {}
    for n in range(3):
        ids = [Identifier("anonymous_id", f"device-{n}-{k:03d}") for k in range(50)]
        event = partner_event(f"m-devices-{n}", anonymousId=ids[0].value)
        assert commit(store, event, Profile.new(f"p_{n}", NOW), ids) is CommitOutcome.APPLIED  # 53-item transactions
        owned.update({i.key: f"p_{n}" for i in ids})
    unknown = [Identifier("email", f"nobody{k}@example.com") for k in range(30)]
    asked = [Identifier(*key.split("#", 1)) for key in owned] + unknown
    random.Random(7).shuffle(asked)
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(sum(len(table["Keys"]) for table in params["RequestItems"].values()))

    stack.client("dynamodb").meta.events.register("provide-client-params.dynamodb.BatchGetItem", count)

    assert store.owners(asked) == owned
    assert calls == [100, 80]


def test_latest_events_are_newest_first_and_limited(store: DynamoProfileStore) -> None:
    timestamps = [f"2024-05-0{day}T0{hour}:00:00Z" for day, hour in ((3, 9), (1, 8), (5, 1), (2, 7), (4, 2))]
    profile = Profile.new("p_timeline", NOW)
    for n, timestamp in enumerate(timestamps):
        event = partner_event(f"m-tl-{n}", timestamp=timestamp, anonymousId="anon-tl")
        claims = event.identifiers if n == 0 else []
        assert commit(store, event, profile, claims) is CommitOutcome.APPLIED

    latest = store.latest_events("p_timeline", 3)

    assert [entry["timestamp"] for entry in latest] == [
        "2024-05-05T01:00:00.000Z",
        "2024-05-04T02:00:00.000Z",
        "2024-05-03T09:00:00.000Z",
    ]
    assert len(store.latest_events("p_timeline", 20)) == 5
    assert store.latest_events("p_nobody", 20) == []


def test_a_profile_read_from_a_lambda_stream_record_keeps_its_listed_folds(
    store: DynamoProfileStore, amy: tuple[str, CanonicalEvent], stack: Stack
) -> None:
    import base64

    from cdp.adapters.dynamodb.profile_store import profile_from_item

    profile_id, event = amy
    item = stack.client("dynamodb").get_item(
        TableName=stack.core_table, Key={"pk": {"S": f"PROFILE#{profile_id}"}, "sk": {"S": "PROFILE"}}
    )["Item"]
    # Lambda's JSON event carries binary attributes base64-encoded; boto3 gives bytes.
    as_delivered = {**item, "recent": {"B": base64.b64encode(item["recent"]["B"]).decode()}}
    assert profile_from_item(as_delivered).applied_recent == profile_from_item(item).applied_recent
    assert profile_from_item(as_delivered).has_applied(event.event_id)


def test_items_written_before_documents_were_deflated_are_read_and_rewritten_deflated(
    stack: Stack, store: DynamoProfileStore
) -> None:
    import json

    from cdp.adapters.dynamodb.profile_store import profile_to_document

    # Given a profile and a timeline entry as they were stored before: the JSON as text in `doc`
    event = partner_event("m-old-1", userId="M-OLD", traits={"tier": "gold"})
    old = Profile.new("p_old", NOW)
    apply_event(old, event, list(event.identifiers), NOW)
    old.version = 1
    client = stack.client("dynamodb")
    text = json.dumps(profile_to_document(old), ensure_ascii=False, separators=(",", ":"))
    client.put_item(
        TableName=stack.core_table,
        Item={"pk": {"S": "PROFILE#p_old"}, "sk": {"S": "PROFILE"}, "version": {"N": "1"},
              "updated_at": {"S": NOW}, "doc": {"S": text}},
    )  # fmt: skip
    client.put_item(
        TableName=stack.core_table,
        Item={"pk": {"S": "PROFILE#p_old"}, "sk": {"S": f"EVENT#{event.timestamp}#{event.event_id}"},
              "event_name": {"S": "identify"}, "channel": {"S": "web"}, "doc": {"S": json.dumps(event.as_dict())},
              "applied_at": {"S": NOW}, "claimed": {"S": "[]"}, "attached": {"S": "[]"}},
    )  # fmt: skip

    # Then they read as before
    stored = store.get("p_old")
    assert stored is not None and stored.traits["tier"].value == "gold" and stored.event_count == 1
    assert [entry.document["eventId"] for entry in store.timeline("p_old")] == [event.event_id]

    # and the next event rewrites the profile deflated, without the text copy
    second = partner_event("m-old-2", userId="M-OLD", traits={"tier": "silver"})
    assert commit(store, second, stored, []) is CommitOutcome.APPLIED
    item = client.get_item(TableName=stack.core_table, Key={"pk": {"S": "PROFILE#p_old"}, "sk": {"S": "PROFILE"}})[
        "Item"
    ]
    assert "doc" not in item and len(item["docz"]["B"]) < len(text)
    after = store.get("p_old")
    assert after is not None and after.traits["tier"].value == "silver" and after.event_count == 2
