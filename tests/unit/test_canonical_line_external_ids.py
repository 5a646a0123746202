"""Segment `context.externalIds` of type `line`: accepted only as `<provider>:<userId>`."""

from __future__ import annotations

from typing import Any

import pytest
from cdp.events.canonical import EventNormalizer
from cdp.identity.identifiers import Identifier, RejectedIdentifier, line_identifier

from tests.fixtures.line_events import OTHER_USER_ID, USER_ID
from tests.unit.builders import LINE_PROVIDER, partner_raw


def identify(*external_ids: Any, **fields: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": "M-1001", "context": {"externalIds": list(external_ids)}, **fields}


def line_id(value: Any) -> dict[str, Any]:
    return {"type": "line", "id": value, "collection": "users", "encoding": "none"}


def test_a_provider_scoped_line_user_becomes_a_line_identifier(event_normalizer: EventNormalizer) -> None:
    event = event_normalizer.normalize(partner_raw(identify(line_id(f"{LINE_PROVIDER}:{USER_ID}"))))

    assert event.identifiers == [Identifier("member_id", "M-1001"), line_identifier(LINE_PROVIDER, USER_ID)]
    assert event.rejected_identifiers == []
    # It names a person, not the event's LINE sender: follow state is untouched
    assert (event.line_identifier, event.line_follow) == (None, None)


def test_padding_around_the_value_and_the_provider_is_trimmed(event_normalizer: EventNormalizer) -> None:
    event = event_normalizer.normalize(partner_raw(identify(line_id(f"  {LINE_PROVIDER} :{USER_ID} "))))
    assert line_identifier(LINE_PROVIDER, USER_ID) in event.identifiers


def test_a_provider_may_itself_contain_colons(event_normalizer: EventNormalizer) -> None:
    event = event_normalizer.normalize(partner_raw(identify(line_id(f"tenant:a:{USER_ID}"))))
    assert Identifier("line", f"tenant:a:{USER_ID}") in event.identifiers


def test_two_line_users_of_one_provider_are_both_kept(event_normalizer: EventNormalizer) -> None:
    raw = partner_raw(identify(line_id(f"{LINE_PROVIDER}:{USER_ID}"), line_id(f"{LINE_PROVIDER}:{OTHER_USER_ID}")))
    event = event_normalizer.normalize(raw)
    assert [i for i in event.identifiers if i.type == "line"] == [
        line_identifier(LINE_PROVIDER, USER_ID),
        line_identifier(LINE_PROVIDER, OTHER_USER_ID),
    ]


@pytest.mark.parametrize(
    "value",
    [
        USER_ID,  # no provider: the same person has another id under every provider
        f":{USER_ID}",
        f"   :{USER_ID}",
        f"{LINE_PROVIDER}:",
        f"{LINE_PROVIDER}:U123",
        f"{LINE_PROVIDER}:{USER_ID.upper()}",
        f"{LINE_PROVIDER}:C{USER_ID[1:]}",
        f"{LINE_PROVIDER}:{USER_ID}x",
        12345,
    ],
    ids=["bare", "empty-provider", "blank-provider", "no-user", "short", "upper-hex", "group-id", "trailing", "number"],
)
def test_anything_else_is_rejected_not_used_as_a_key(event_normalizer: EventNormalizer, value: Any) -> None:
    event = event_normalizer.normalize(partner_raw(identify(line_id(value))))

    assert [i.type for i in event.identifiers] == ["member_id"]
    (rejected,) = event.rejected_identifiers
    assert (rejected.type, rejected.reason) == ("line", "invalid_line_id")
    assert rejected == RejectedIdentifier("line", str(value).strip()[:64], "invalid_line_id")


def test_an_oversized_provider_is_rejected(event_normalizer: EventNormalizer) -> None:
    event = event_normalizer.normalize(partner_raw(identify(line_id(f"{'p' * 600}:{USER_ID}"))))
    assert [(r.type, r.reason) for r in event.rejected_identifiers] == [("line", "too_long")]


def test_line_external_ids_count_towards_the_per_event_bound(event_normalizer: EventNormalizer) -> None:
    members = [{"type": "member_id", "id": f"M-{n}"} for n in range(30)]
    event = event_normalizer.normalize(partner_raw(identify(*members, line_id(f"{LINE_PROVIDER}:{USER_ID}"))))
    assert all(i.type != "line" for i in event.identifiers)
    assert ("line", "too_many_identifiers") in [(r.type, r.reason) for r in event.rejected_identifiers]
